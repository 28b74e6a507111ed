// The run workflow: one plan, once, through the run primitive (cell/).
// RunOptions is the run command's view of a plan; tests and benchmarks use it
// too.
import type { Accel, Topology } from '../results/records.ts';
import type { DaxFs } from '../suites/fsdax.ts';
import type { Session } from './session.ts';
import { runCell, type CellEnv, type KernelChoice, type RunOutcome } from './cell/index.ts';
import type { SuiteName } from '../suites/index.ts';

export { RunInputError, resolveKernel, type KernelChoice, type RunOutcome } from './cell/index.ts';
// What run and shell check of their suite options, from the suite registry.
export { DEFAULT_SUITE, checkSuiteOptions } from '../suites/index.ts';
export type { DaxFs };
// The guest's shape as run and shell take it from their options.
export { parseSizeMiB, parseMemmap, defaultTopology, validateTopology } from '../vm/topology.ts';

export interface RunOptions {
  kernel: KernelChoice;
  image?: string;
  /** Guest NVDIMMs, legacy pmem and RAM; default: what the suite needs. */
  topology?: Topology;
  accel?: Accel;
  sshPort?: number;
  resultsRoot: string;
  suite?: SuiteName;
  /** The user's ndctl tree (suite 'ndctl'). */
  ndctl?: string;
  /** Harness limit for an ndctl test with meson's timeout disabled. */
  hangMs?: number;
  /** Only these tests of the suite (names as the suite lists them). */
  tests?: string[];
  /** Filesystems for the DAX smoke. */
  filesystems: DaxFs[];
  seconds: number;
  seed: number;
  bootTimeoutMs: number;
  cmdlineExtra: string[];
  progress: (phase: string, msg: string) => void;
  /** The refcount census after every unmount (default on; false skips it). */
  census?: boolean;
  /** Run the tests this many times in one booted guest. */
  repeat?: number;
  /** Known-outcome files of the user's. */
  known?: string[];
  /** Test hook: runs once the guest is ready, before the tests. */
  onReady?: (s: Session, runDir: string) => void | Promise<void>;
  /** What each pass does in place of the suite's tests (see CellEnv.pass: run --keep keeps the guest after them). */
  pass?: CellEnv['pass'];
  /** Stops the run from outside. */
  signal?: AbortSignal;
}

export async function runWorkflow(o: RunOptions): Promise<RunOutcome> {
  return runCell(
    {
      kernel: o.kernel,
      suite: o.suite,
      tests: o.tests,
      filesystems: o.filesystems,
      ndctl: o.ndctl,
      hangMs: o.hangMs,
      image: o.image,
      topology: o.topology,
      cmdlineExtra: o.cmdlineExtra,
      seconds: o.seconds,
      seed: o.seed,
      census: o.census,
      repeat: o.repeat,
      known: o.known,
      accel: o.accel,
      sshPort: o.sshPort,
      bootTimeoutMs: o.bootTimeoutMs,
    },
    { resultsRoot: o.resultsRoot, progress: o.progress, onReady: o.onReady, pass: o.pass, signal: o.signal },
  );
}
