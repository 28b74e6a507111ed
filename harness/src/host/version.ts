// Which harness this is: package.json's version and, in a git checkout, the
// commit (and whether the checkout has uncommitted edits). Printed by
// --version and recorded in every run.json, so a result can be traced to the
// code that produced it.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.ts';

export interface HarnessVersion {
  version: string;
  /** HEAD of the checkout the harness runs from; null outside one (an npm install). */
  commit: string | null;
  /** Tracked files differ from the commit. */
  dirty: boolean;
}

const run = promisify(execFile);
let cached: Promise<HarnessVersion> | null = null;

async function git(args: string[]): Promise<string | null> {
  try {
    // safe.directory for this checkout only: as root on a checkout another user owns, git would refuse to read it.
    const r = await run('git', ['-c', `safe.directory=${repoRoot}`, '-C', repoRoot, ...args], { timeout: 5000, encoding: 'utf8' });
    return r.stdout.trim();
  } catch {
    return null;
  }
}

async function read(): Promise<HarnessVersion> {
  const version = String((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  if (!existsSync(join(repoRoot, '.git'))) return { version, commit: null, dirty: false };
  const commit = await git(['rev-parse', 'HEAD']);
  const status = commit ? await git(['status', '--porcelain', '--untracked-files=no']) : null;
  return { version, commit, dirty: Boolean(status) };
}

export function harnessVersion(): Promise<HarnessVersion> {
  cached ??= read();
  return cached;
}

/** `0.1.0 (commit 1234abcd5678, with uncommitted edits)` */
export function versionText(v: HarnessVersion): string {
  return `${v.version}${v.commit ? ` (commit ${v.commit.slice(0, 12)}${v.dirty ? ', with uncommitted edits' : ''})` : ''}`;
}
