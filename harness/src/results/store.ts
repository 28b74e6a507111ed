// Run directories under results/: one per run, run.json rewritten atomically
// at every state change so a run that dies half-way still says so.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeJsonAtomic } from '../host/fsutil.ts';
import type { RunRecord } from './records.ts';

export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

export async function createRunDir(root: string, id: string): Promise<string> {
  const dir = join(root, id);
  await mkdir(join(dir, 'tests'), { recursive: true });
  return dir;
}

export async function saveRun(dir: string, run: RunRecord): Promise<void> {
  await writeJsonAtomic(join(dir, 'run.json'), run);
}
