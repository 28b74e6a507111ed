// What a cell is: the plan (the input of the run primitive), what a caller
// hands it (CellEnv), what preparing it makes (PreparedCell), and the plan's
// stable identity across nights and reruns.
import { prepareStockKernel, kernelFromPath } from '../../kernel/stock.ts';
import { prepareKernel, type PrepareKernelOptions } from '../../kernel/index.ts';
import type { ModulesArchive } from '../../image/modules.ts';
import { topologyHash } from '../../vm/topology.ts';
import { sha256 } from '../../host/fsutil.ts';
import { InputError } from '../../host/errors.ts';
import type { Accel, ImageArtifact, KernelArtifact, PlanSummary, RunRecord, TestResult, Topology } from '../../results/records.ts';
import type { Session } from '../session.ts';
import type { GuestPool } from '../guest-pool.ts';
import type { PreparedSuite, Suite, SuiteInputs, SuiteName } from '../../suites/index.ts';
import type { SuiteContext } from '../../suites/context.ts';
import type { CensusTools } from '../../suites/census.ts';
import type { KnownEntry } from '../../suites/known.ts';
import type { DaxFs } from '../../suites/fsdax.ts';

export type KernelChoice =
  | { kind: 'stock'; pkg?: string }
  | { kind: 'build'; opts: PrepareKernelOptions }
  | { kind: 'path'; bzImage: string; modules: string | null }
  | { kind: 'artifact'; artifact: KernelArtifact };

/** Everything a run is: the input of the run primitive. */
export interface CellPlan {
  kernel: KernelChoice;
  suite?: SuiteName;
  tests?: string[];
  filesystems?: DaxFs[];
  ndctl?: string;
  hangMs?: number;
  /** Image recipe; default: what the suite needs. */
  image?: string;
  /** Guest NVDIMMs, legacy pmem and RAM; default: what the suite needs. */
  topology?: Topology;
  cmdlineExtra?: string[];
  seconds?: number;
  seed?: number;
  /** The refcount census after every unmount (default on). */
  census?: boolean;
  /** Run the suite's tests this many times in one booted guest (rebooted after a crash). */
  repeat?: number;
  /** Known-outcome files of the user's, after ours. */
  known?: string[];
  accel?: Accel;
  sshPort?: number;
  bootTimeoutMs?: number;
  /** The caller's identity for this cell (a nightly's matrix key); default: derived from the plan. */
  cellKey?: string;
}

export interface CellEnv {
  resultsRoot: string;
  progress: (phase: string, msg: string) => void;
  /** Stop from outside (nightly/bisect cancelling); ^C is handled here too. */
  signal?: AbortSignal;
  /** Test hook: runs once per boot when the guest is ready, before the tests. */
  onReady?: (s: Session, runDir: string) => void | Promise<void>;
  /** Stop repeating once this says so (repro: the crash was matched; bisect: enough evidence). */
  stopWhen?: (record: RunRecord) => boolean;
  /** No new pass starts after this much wall time (ms). */
  budgetMs?: number;
  /** Install the ^C/SIGTERM handler that marks the record interrupted (default true; a nightly handles signals itself). */
  handleSignals?: boolean;
  /**
   * What a pass does in place of the suite's tests (repro: the tests its loop
   * asks for next; shell: a person at a pty; run --keep: the suite, then the
   * guest kept up). Resolving false ends the run before this pass counts.
   */
  pass?: (o: PassHook) => Promise<boolean | void>;
  /**
   * Guests kept up between cells (a nightly's): the run starts in an idle
   * guest that would have been booted the same way, and hands its guest back
   * if it leaves it clean.
   */
  guests?: GuestPool;
}

export interface PassHook {
  ctx: SuiteContext;
  session: Session;
  /** What the guest was booted from (its image carries the ssh keys). */
  prepared: PreparedCell;
  pass: number;
  onResult: (r: TestResult) => Promise<void>;
  /** The suite's own tests for this pass. */
  runSuite: () => Promise<void>;
}

export class RunInputError extends InputError {}

export interface RunOutcome {
  record: RunRecord;
  runDir: string;
}

/** What prepareCell made: everything a boot needs, reusable for many executions. */
export interface PreparedCell {
  plan: CellPlan;
  suite: Suite;
  prepared: PreparedSuite;
  kernel: KernelArtifact;
  image: ImageArtifact;
  modules: ModulesArchive | null;
  extras: string[];
  accel: NonNullable<RunRecord['accel']>;
  topology: Topology;
  cmdlineExtra: string[];
  census: CensusTools | null;
  known: KnownEntry[];
  summary: PlanSummary;
}

export async function resolveKernel(k: KernelChoice, log: (m: string) => void): Promise<KernelArtifact> {
  if (k.kind === 'artifact') return k.artifact;
  if (k.kind === 'path') return kernelFromPath(k.bzImage, k.modules);
  if (k.kind === 'build') return prepareKernel({ ...k.opts, log });
  return prepareStockKernel(log, k.pkg);
}

/** A kernel built for a suite gets the suite's fragments unless the user chose some. */
export function suiteKernelChoice(k: KernelChoice, fragments: string[] | null): KernelChoice {
  if (k.kind !== 'build' || k.opts.config?.length || !fragments) return k;
  return { kind: 'build', opts: { ...k.opts, config: [...fragments] } };
}

export function inputsOf(plan: CellPlan): SuiteInputs {
  return { tests: plan.tests, filesystems: plan.filesystems, ndctl: plan.ndctl, hangMs: plan.hangMs };
}

/** A stable identity for "the same cell" across nights and reruns. */
export function planSummary(plan: CellPlan, suiteName: string, image: string, topology: Topology, cmdline: string[]): PlanSummary {
  const k = plan.kernel;
  const kernel: Record<string, unknown> =
    k.kind === 'stock'
      ? { kind: 'stock', pkg: k.pkg ?? 'default' }
      : k.kind === 'path'
        ? { kind: 'path', bzImage: k.bzImage }
        : k.kind === 'artifact'
          ? { kind: 'artifact', key: k.artifact.key }
          : { kind: 'build', source: k.opts.source ?? null, ref: k.opts.ref ?? null, series: k.opts.series ?? null, config: k.opts.config ?? null };
  const params: PlanSummary['params'] = { seconds: plan.seconds ?? 0, seed: plan.seed ?? 1, census: plan.census !== false };
  if (plan.filesystems?.length) params.fs = plan.filesystems.join(',');
  if (cmdline.length) params.cmdline = cmdline.join(' ');
  const tests = [...(plan.tests ?? [])];
  const cellKey = sha256('cell-v1', JSON.stringify({ kernel, suite: suiteName, tests, image, topology: topologyHash(topology), params })).slice(0, 16);
  return { cellKey, suite: suiteName, tests, kernel, image, params, repeat: Math.max(1, plan.repeat ?? 1) };
}
