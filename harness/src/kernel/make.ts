// The one way the pipeline runs kbuild: out of tree (O=), niced (the machine
// is shared with running guests), ARCH pinned so every call agrees on 64BIT.
import { run, type ProcResult } from '../host/proc.js';

export interface MakeOptions {
  worktree: string;
  outDir: string;
  args: string[];
  jobs?: number;
  timeoutMs?: number;
  /** "ccache gcc" when ccache is on PATH; plain gcc otherwise. */
  cc?: string;
  onOutput?: (chunk: string) => void;
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
    env: { LC_ALL: 'C', KBUILD_BUILD_USER: 'dax-harness', KBUILD_BUILD_HOST: 'dax-harness', KBUILD_BUILD_TIMESTAMP: '2000-01-01 00:00:00 UTC', KBUILD_BUILD_VERSION: '1' },
    onOutput: o.onOutput ? (c) => o.onOutput!(c) : undefined,
  });
}
