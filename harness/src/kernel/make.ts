// The one way the pipeline runs kbuild: out of tree (O=), niced (the machine
// is shared with running guests), ARCH pinned so every call agrees on 64BIT,
// and sandboxed: a series' Makefiles and scripts are code from a mailing list.
import { existsSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cacheDir } from '../host/paths.ts';
import { run, type ProcResult } from '../host/proc.js';
import { envValue } from '../host/env.ts';

export interface MakeOptions {
  worktree: string;
  outDir: string;
  args: string[];
  jobs?: number;
  timeoutMs?: number;
  /** "ccache gcc" when ccache is on PATH; plain gcc otherwise. */
  cc?: string;
  onOutput?: (chunk: string) => void;
  /** Further directories make writes (INSTALL_MOD_PATH), besides O=. */
  writable?: string[];
}

export function makeArgv(o: MakeOptions): string[] {
  return [
    '-n', '19', 'make', '-C', o.worktree, `O=${o.outDir}`, 'ARCH=x86_64',
    ...(o.cc ? [`CC=${o.cc}`] : []),
    ...(o.jobs ? [`-j${o.jobs}`] : []),
    ...o.args,
  ];
}

export function kmake(o: MakeOptions): Promise<ProcResult> {
  return run('nice', makeArgv(o), {
    timeoutMs: o.timeoutMs ?? 3 * 3600_000,
    reject: false,
    // A killed harness must not leave a make running on a shared machine.
    dieWithParent: true,
    // A fixed build stamp: the same sources give the same bzImage, so a step
    // that changes nothing built (a documentation patch) is recognised by hash.
    env: { LC_ALL: 'C', ...(o.cc?.startsWith('ccache') ? { CCACHE_DIR: ccacheDir() } : {}), KBUILD_BUILD_USER: 'dax-harness', KBUILD_BUILD_HOST: 'dax-harness', KBUILD_BUILD_TIMESTAMP: '2000-01-01 00:00:00 UTC', KBUILD_BUILD_VERSION: '1' },
    onOutput: o.onOutput ? (c) => o.onOutput!(c) : undefined,
    // The source tree is only read: an O= build never writes it.
    sandbox: { readable: [o.worktree], writable: [o.outDir, ...(o.writable ?? []), ...ccacheDirs(o.cc)] },
  });
}

/** ccache keeps its store across sandboxed builds in the harness's cache. */
function ccacheDirs(cc: string | undefined): string[] {
  return cc?.startsWith('ccache') ? [ccacheDir()] : [];
}

export function ccacheDir(): string {
  return envValue('CCACHE_DIR') ?? cacheDir('ccache');
}

/**
 * What an external module build (`make -C KDIR M=...`) reads: the kbuild
 * tree, its siblings (a Debian headers package includes its -common tree by
 * path), and the source tree an O= directory points back to.
 */
export function kbuildReadable(kdir: string): string[] {
  const top = dirname(kdir);
  const out = new Set([top]);
  // Links out of the tree: O='s `source`, a headers package's `scripts` and
  // `tools` into linux-kbuild. Two levels cover both layouts.
  const follow = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) {
        if (existsSync(p)) out.add(realpathSync(p));
      } else if (st?.isDirectory() && depth > 0) follow(p, depth - 1);
    }
  };
  follow(top, 1);
  return [...out];
}
