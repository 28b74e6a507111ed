// The nightly workflow's view of the run primitive: a matrix cell in, a run
// record out. The nightly never boots anything itself; it is handed a RunCell
// (in production run-cell.ts: prepareCell + executeCell of workflows/cell/)
// and a PrepareKernel (the kernel pipeline), so its scheduling, resuming and
// judging are tested without a guest.
import type { KernelArtifact, RunRecord, Topology } from '../../results/records.ts';
import type { GuestPool } from '../guest-pool.ts';
import type { DaxFs } from '../../suites/fsdax.ts';

/** How a cell's kernel is obtained. Series and config fragments only apply to built kernels. */
export type KernelSpec =
  | { kind: 'stock'; pkg?: string }
  | { kind: 'debian'; version: string; series?: string; config?: string[]; configBase?: 'tinyconfig' | 'defconfig' }
  | { kind: 'git'; tree: string; ref?: string; series?: string; config?: string[]; configBase?: 'tinyconfig' | 'defconfig' };

export type { SuiteName } from '../../suites/index.ts';
import type { SuiteName } from '../../suites/index.ts';

/** One cell of the night's matrix: one guest, mapped onto the run primitive's CellPlan by run-cell.ts. */
export interface MatrixCell {
  /** Stable identity across nights: kernel.suite.mode.topology, from the config's names. */
  key: string;
  /** The config's names for each axis, for reports. */
  axes: { kernel: string; suite: string; mode: string; topology: string };
  kernel: KernelSpec;
  /** Identity of the kernel to prepare: cells with the same kernelKey share one build. */
  kernelKey: string;
  image: string;
  /** Undefined: the suite's own default guest. cpus is replaced by the scheduler's share unless cpusFixed. */
  topology?: Topology;
  cpusFixed: boolean;
  suite: SuiteName;
  /** Only these tests (stressors: name.target; ndctl: meson names); undefined = the suite's defaults. */
  tests?: string[];
  /** Filesystems for the smoke. */
  fs: DaxFs[];
  ndctl?: string;
  seconds: number;
  seed: number;
  /** Passes over the tests in one guest (the primitive's repeat). */
  repeat: number;
  cmdlineExtra: string[];
  /** Known-outcome files of the config's, after the harness's own list. */
  known?: string[];
  accel?: 'kvm' | 'tcg';
}

export interface CellHooks {
  /** The kernel as prepared once for the whole night. */
  kernel: KernelArtifact;
  /** vCPUs for this guest (the host's cores shared by the --jobs guests), unless the cell fixes them. */
  cpus: number;
  /** Directory the run directory goes in. */
  resultsRoot: string;
  progress: (phase: string, msg: string) => void;
  /** Aborted on Ctrl-C: the run ends as 'interrupted'. */
  signal: AbortSignal;
  /** The night's guests kept up between cells (closed when the night ends). */
  guests?: GuestPool;
}

export interface CellOutcome {
  record: RunRecord;
  runDir: string;
}

/** The run primitive: a cell (with repeat) → one run record; with repeat > 1 each result carries params.pass. */
export type RunCell = (cell: MatrixCell, hooks: CellHooks) => Promise<CellOutcome>;

/** Judges a cell's inputs before anything is downloaded or built; throws on bad input. */
export type CheckCell = (cell: MatrixCell) => Promise<void>;

/** The kernel pipeline for a cell's kernel (stock download or build, cached by content). */
export type PrepareKernel = (spec: KernelSpec, log: (line: string) => void) => Promise<KernelArtifact>;
