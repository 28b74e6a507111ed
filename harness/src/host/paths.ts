// Where the harness keeps things outside the repo (cache) and inside it (results).
import { homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envValue } from './env.ts';

/** The repository root (two levels above harness/src/host). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Cache root for kernels, images and verdicts; shared by runs and tests, keyed by content. */
export function cacheRoot(): string {
  const env = envValue('DAX_HARNESS_CACHE');
  if (env) return resolve(env);
  const xdg = envValue('XDG_CACHE_HOME');
  return join(xdg ? resolve(xdg) : join(homedir(), '.cache'), 'dax-harness');
}

export function cacheDir(...parts: string[]): string {
  return join(cacheRoot(), ...parts);
}

export function defaultResultsRoot(): string {
  const env = envValue('DAX_HARNESS_RESULTS');
  return env ? resolve(env) : join(repoRoot, 'results');
}

/** Is p the directory dir or below it (both absolute and resolved)? */
export function isWithin(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}
