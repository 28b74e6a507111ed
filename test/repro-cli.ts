// `dax-harness repro` called in-process, its stdout captured: shared by the
// integration test and the long fixture proof.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reproCommand } from '../harness/src/cli/repro.ts';

export async function repro(argv: string[]): Promise<{ code: number; out: string; dir: string }> {
  const results = mkdtempSync(join(tmpdir(), 'daxh-repro-'));
  let out = '';
  const ow = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  let code: number;
  try {
    code = await reproCommand(['--results', results, ...argv]);
  } finally {
    process.stdout.write = ow;
  }
  const dir = join(results, readdirSync(results).find((d) => d.startsWith('repro-'))!);
  return { code, out, dir };
}
