// The one way the harness writes a file a user will read: write a temp file
// next to the target, fsync, rename. A crash leaves the old file or the new
// one, never half of either.
import { mkdir, open, rename, rm, stat, readFile, readdir } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Build a cache entry in a temp dir and rename it into place, so a
 * half-built entry can never be mistaken for a good one.
 */
export async function buildCached(dir: string, build: (tmpDir: string) => Promise<void>): Promise<boolean> {
  if (await exists(join(dir, '.complete'))) return false;
  await removeStaleTemps(dir);
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await build(tmp);
    await writeFileAtomic(join(tmp, '.complete'), new Date().toISOString() + '\n');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dirname(dir), { recursive: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return true;
}

export function sha256(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  return h.digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Temp dirs of builds whose process died (killed mid-build) are garbage. */
async function removeStaleTemps(dir: string): Promise<void> {
  const prefix = `${basename(dir)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(dirname(dir));
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) await rm(join(dirname(dir), n), { recursive: true, force: true });
  }
}

/** Whether a process exists (EPERM: it does, it is just not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
