// `--series -`: the series read from standard input (b4 am -o - MSGID | ...).
// It is kept in the cache under its content's hash, so the build record, a
// bisection's state.json (and its --resume) and a rerun name a file that is
// still there, and the same mail piped twice is one file.
import type { Readable } from 'node:stream';
import { InputError } from '../host/errors.ts';
import { cacheDir } from '../host/paths.ts';
import { sha256, writeFileAtomic } from '../host/fsutil.ts';
import { SERIES_MAX_BYTES } from '../kernel/index.ts';
import { mkdir } from 'node:fs/promises';

/** All of a stream, or an InputError saying `tooBig` once it passes `limit` bytes (nothing past it is kept). */
export async function readCapped(stream: Readable, limit: number, tooBig: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    size += b.length;
    if (size > limit) throw new InputError(tooBig);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** `given` unchanged, or for `-` the path of the mbox read from `stdin`. */
export async function seriesArg(given: string | undefined, stdin: Readable & { isTTY?: boolean } = process.stdin): Promise<string | undefined> {
  if (given !== '-') return given;
  if (stdin.isTTY) throw new InputError('--series - reads the series from standard input, which is a terminal: pipe the mbox in (b4 am -o - MSGID | dax-harness ... --series -)');
  const text = await readCapped(stdin, SERIES_MAX_BYTES, `--series -: standard input is over the ${SERIES_MAX_BYTES >> 20} MiB a series may be: give the mbox of the series alone (b4 am)`);
  if (text.toString('utf8').trim() === '') throw new InputError('--series -: standard input was empty: pipe the mbox in (b4 am -o - MSGID | dax-harness ... --series -)');
  const dir = cacheDir('series');
  await mkdir(dir, { recursive: true });
  const path = `${dir}/stdin-${sha256(text).slice(0, 16)}.mbox`;
  await writeFileAtomic(path, text);
  return path;
}
