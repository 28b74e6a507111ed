// The nightly workflow's view of the run primitive: a cell plan in, a run
// record out. The nightly never boots anything itself; it is handed a RunCell
// (the run primitive) and a PrepareKernel (the kernel pipeline), so its
// scheduling, resuming and judging are tested without a guest.
import type { KernelArtifact, RunRecord, Topology } from '../../results/records.ts';

/** How a cell's kernel is obtained. Series and config fragments only apply to built kernels. */
export type KernelSpec =
  | { kind: 'stock'; pkg?: string }
  | { kind: 'debian'; version: string; series?: string; config?: string[]; configBase?: 'tinyconfig' | 'defconfig' }
  | { kind: 'git'; tree: string; ref?: string; series?: string; config?: string[]; configBase?: 'tinyconfig' | 'defconfig' };

export type SuiteName = 'smoke' | 'stressors' | 'ndctl';

/** One cell of the night's matrix; maps field for field onto the run primitive's plan (today's RunOptions). */
export interface CellPlan {
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
  fs: ('ext4' | 'xfs')[];
  ndctl?: string;
  seconds: number;
  seed: number;
  /** Times the tests run in one guest. */
  repeat: number;
  cmdlineExtra: string[];
  accel?: 'kvm' | 'tcg';
}

export interface CellHooks {
  /** The kernel as prepared once for the whole night. */
  kernel: KernelArtifact;
  /** vCPUs for this guest (the host's cores shared by the --jobs guests), unless the plan fixes them. */
  cpus: number;
  /** Directory the run directory goes in. */
  resultsRoot: string;
  progress: (phase: string, msg: string) => void;
  /** Aborted on Ctrl-C: the run ends as 'interrupted'. */
  signal: AbortSignal;
}

export interface CellOutcome {
  record: RunRecord;
  runDir: string;
}

/** The run primitive: plan (with repeat) → one run record (tests repeated in one guest appear once per iteration). */
export type RunCell = (plan: CellPlan, hooks: CellHooks) => Promise<CellOutcome>;

/** The kernel pipeline for a cell's kernel (stock download or build, cached by content). */
export type PrepareKernel = (spec: KernelSpec, log: (line: string) => void) => Promise<KernelArtifact>;
