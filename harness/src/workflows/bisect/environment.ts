// The environment a real bisection runs in: each step is a kernel built by
// the kernel pipeline (one worktree and one O= directory for every step, so
// a step costs an incremental make) and tested through the run primitive
// (one guest, the tests repeated in it). The engine stays pure; this file
// only turns its requests into builds and boots and their records back
// into outcomes.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { BuildError, PatchApplyError, prepareKernel, type PrepareKernelOptions } from '../../kernel/index.ts';
import type { Series } from '../../kernel/index.ts';
import { sha256 } from '../../host/fsutil.ts';
import { InfraError, InputError, textOf } from '../../host/errors.ts';
import type { KernelArtifact, RunRecord, TestResult } from '../../results/records.ts';
import { describePhase, executeCell, prepareCell, type CellPlan, type PreparedCell } from '../cell/index.ts';
import { runOutcome } from './outcome.ts';
import { stepKey } from './engine.ts';
import type { BisectPlan } from './workflow.ts';
import type { BisectEnv, BuildOutcome, RunOutcome, StepSpec, StopRule, TestBatch } from './types.ts';
import type { BootPhase } from '../session.ts';
import { suiteByName } from '../../suites/index.ts';

/** The environment could not do its job (not the kernel's fault): the bisection stops, resumable. */
export class BisectEnvironmentError extends InfraError {}

/** What the kernel pipeline gets for one step: a subset of the series, or a commit of the range (and a revert). */
export function stepKernelInputs(plan: Pick<BisectPlan, 'input' | 'ref'>, step: StepSpec): Pick<PrepareKernelOptions, 'series' | 'ref' | 'revert' | 'revertPatches'> {
  const input = plan.input;
  if (input.kind === 'range') {
    if (step.kind === 'prefix') return { ref: step.count === 0 ? input.from : input.commits[step.count - 1]! };
    // Over a range, leaving a commit out and reverting it are one kernel.
    return { ref: input.to, revert: [input.commits[step.patch - 1]!] };
  }
  const all = input.series.patches;
  const patches = step.kind === 'prefix' ? all.slice(0, step.count) : step.kind === 'without' ? all.filter((p) => p.number !== step.patch) : all;
  // Every step, the base included, carries the series' base-commit, so all
  // of them start from the same commit.
  const series: Series = { ...input.series, patches, hash: sha256(...patches.map((p) => p.mail)) };
  return { series, ...(plan.ref ? { ref: plan.ref } : {}), ...(step.kind === 'revert' ? { revertPatches: [step.patch] } : {}) };
}

async function hashFile(h: ReturnType<typeof createHash>, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
}

/**
 * What the guest boots, as one hash: the bzImage and every module file,
 * by path. The pipeline builds with a fixed stamp, so a patch that changes
 * nothing built gives its parent's hash.
 */
export async function kernelImageHash(a: Pick<KernelArtifact, 'bzImage' | 'modulesRoot'>): Promise<string> {
  const h = createHash('sha256');
  await hashFile(h, a.bzImage);
  if (a.modulesRoot) {
    const files = ((await readdir(a.modulesRoot, { recursive: true }).catch(() => [])) as string[]).filter((f) => f.endsWith('.ko')).sort();
    for (const f of files) {
      h.update(`\0${relative(a.modulesRoot, join(a.modulesRoot, f))}\0`);
      await hashFile(h, join(a.modulesRoot, f));
    }
  }
  return h.digest('hex');
}

function passOf(t: TestResult): number | null {
  const p = t.params.pass;
  return p === undefined ? null : Number(p);
}

/**
 * A run record of the primitive → one outcome per pass. Tests carry their
 * pass number (none when the cell ran once); a report that landed outside
 * any test belongs to the last pass. A boot that never got the guest ready
 * without a report is a boot failure, keyed by how far it got; one that
 * never started the kernel, or a run that broke without a pass, is infra.
 */
export function passOutcomes(record: Pick<RunRecord, 'tests' | 'status' | 'reason'>, ref?: string): RunOutcome[] {
  const byPass = new Map<number, TestResult[]>();
  let last = 1;
  for (const t of record.tests) last = Math.max(last, passOf(t) ?? 1);
  for (const t of record.tests) {
    const n = passOf(t) ?? (t.name === 'boot' ? 1 : last);
    byPass.set(n, [...(byPass.get(n) ?? []), t]);
  }
  const out: RunOutcome[] = [];
  for (const n of [...byPass.keys()].sort((a, b) => a - b)) {
    const tests = byPass.get(n)!;
    const boots = tests.filter((t) => t.name === 'boot');
    const others = tests.filter((t) => t.name !== 'boot');
    const crashes = tests.flatMap((t) => t.crashes);
    const failedBoot = boots.find((b) => b.status === 'infra-error' && !b.crashes.length);
    const phase = failedBoot?.metrics.boot_phase as BootPhase | undefined;
    let bootFailure: string | null = null;
    let infra: string | null = null;
    if (failedBoot && phase && phase !== 'qemu') bootFailure = `guest not ready: stopped after ${describePhase(phase)}`;
    else if (failedBoot) infra = failedBoot.reason;
    else if (!others.length && !crashes.length) infra = record.status === 'infra-error' ? record.reason : 'the pass ran no test';
    out.push(runOutcome({ tests: others, crashes, bootFailure, infra, ref }));
  }
  if (!out.length) out.push({ kind: 'infra', reason: record.reason || 'the run recorded nothing' });
  return out;
}

/** Does this outcome count towards the batch's stop rule? */
export function meetsStop(o: RunOutcome, stop: StopRule): boolean {
  if (o.kind === 'crash') return stop.matchKey === null || o.matchKey === stop.matchKey;
  return o.kind === 'fail' && stop.failures;
}

export interface GuestEnvOptions {
  /** The bisection's directory: run records go under runs/. */
  dir: string;
  log: (line: string) => void;
  /** make -j (default: host/cores.ts makeJobs, computed at each build). */
  jobs?: number;
  signal?: AbortSignal;
  /** The run primitive's seed for the stressors (default 1). */
  seed?: number;
}

/** The cell plan a step's kernel is tested with: the plan's tests, the primitive's defaults for the rest. */
export function cellPlanFor(plan: BisectPlan, artifact: KernelArtifact, seed: number): CellPlan {
  return {
    kernel: { kind: 'artifact', artifact },
    suite: plan.tests.suite,
    ...suiteByName(plan.tests.suite).planTests(plan.tests.tests),
    ...(plan.ndctl ? { ndctl: plan.ndctl } : {}),
    seconds: plan.seconds,
    seed,
  };
}

export class GuestEnvironment implements BisectEnv {
  private readonly artifacts = new Map<string, KernelArtifact>();
  private readonly prepared = new Map<string, PreparedCell>();

  constructor(
    private readonly plan: BisectPlan,
    private readonly o: GuestEnvOptions,
  ) {}

  private kernelOptions(step: StepSpec): PrepareKernelOptions {
    const p = this.plan;
    return {
      source: p.source,
      ...stepKernelInputs(p, step),
      // One fixed profile for every step: a config change is a near-full rebuild.
      // Without --config, what the suite's kernels need (ndctl: its guest's fragments).
      config: p.config ?? suiteByName(p.tests.suite).needs({}).kernelFragments ?? undefined,
      configBase: p.configBase ?? undefined,
      jobs: this.o.jobs,
      log: (m) => this.o.log(`  [kernel] ${m}`),
    };
  }

  async build(step: StepSpec): Promise<BuildOutcome> {
    try {
      const a = await prepareKernel(this.kernelOptions(step));
      this.artifacts.set(stepKey(step), a);
      const imageHash = await kernelImageHash(a);
      const how = a.build ? `${a.build.incremental ? 'incremental' : 'cold'} make ${(a.build.makeMs / 1000).toFixed(0)} s` : 'cached';
      return { ok: true, imageHash, reason: `${a.release} (${how})` };
    } catch (e) {
      this.checkStopped();
      if (e instanceof PatchApplyError) return { ok: false, imageHash: null, failure: 'apply', reason: e.what };
      if (e instanceof BuildError && !/no space left/i.test(e.what)) return { ok: false, imageHash: null, failure: 'build', reason: e.what };
      throw asEnvironmentError(e);
    }
  }

  /** The step's kernel: built in this process, or (after --resume) found in the pipeline's cache or rebuilt. */
  private async artifact(step: StepSpec): Promise<KernelArtifact> {
    const have = this.artifacts.get(stepKey(step));
    if (have) return have;
    try {
      const a = await prepareKernel(this.kernelOptions(step));
      this.artifacts.set(stepKey(step), a);
      return a;
    } catch (e) {
      throw asEnvironmentError(e);
    }
  }

  private async preparedFor(step: StepSpec): Promise<PreparedCell> {
    const a = await this.artifact(step);
    const have = this.prepared.get(a.key);
    if (have) return have;
    try {
      const p = await prepareCell(cellPlanFor(this.plan, a, this.o.seed ?? 1), { progress: (ph, m) => this.o.log(`  [${ph}] ${m}`) });
      this.prepared.set(a.key, p);
      return p;
    } catch (e) {
      throw asEnvironmentError(e);
    }
  }

  /**
   * Up to `runs` passes, repeated in one guest; after any kernel report the
   * guest is not trusted any more (a WARN_ON_ONCE stays quiet, a leaked
   * reference stays leaked), so the next pass boots a fresh one.
   */
  async test(step: StepSpec, runs: number, stop: StopRule): Promise<TestBatch> {
    const prepared = await this.preparedFor(step);
    const outcomes: RunOutcome[] = [];
    let boots = 0;
    const met = (list: RunOutcome[]) => list.filter((o) => meetsStop(o, stop)).length >= stop.matching;
    while (outcomes.length < runs && !this.o.signal?.aborted) {
      const left = runs - outcomes.length;
      const { record, runDir } = await executeCell(
        { ...prepared, plan: { ...prepared.plan, repeat: left } },
        {
          resultsRoot: join(this.o.dir, 'runs'),
          progress: (ph, m) => (ph === 'test' && !/: (PASS|FAIL|CRASH|TIMEOUT|INFRA|SKIP|XFAIL|XPASS)/.test(m) ? undefined : this.o.log(`  [${ph}] ${m}`)),
          handleSignals: false,
          signal: this.o.signal,
          stopWhen: (r) => {
            const got = passOutcomes(r);
            const last = got[got.length - 1];
            return met([...outcomes, ...got]) || last?.kind === 'crash';
          },
        },
      );
      const got = passOutcomes(record, runDir).slice(0, left);
      boots += record.tests.filter((t) => t.name === 'boot').length;
      outcomes.push(...got);
      const last = got[got.length - 1];
      if (!last || last.kind === 'infra' || last.kind === 'boot-fail' || met(outcomes)) break;
    }
    this.checkStopped();
    return { outcomes, boots };
  }

  /** After SIGINT the runs in flight are no evidence: nothing of them reaches the state. */
  private checkStopped(): void {
    if (this.o.signal?.aborted) throw new BisectEnvironmentError(String((this.o.signal.reason as Error)?.message ?? 'interrupted'));
  }
}

/** The user's input (a source, a fragment) stays an InputError (exit 2); anything else stops the bisection as infra (exit 3). */
function asEnvironmentError(e: unknown): unknown {
  if (e instanceof InputError) return e;
  return new BisectEnvironmentError(textOf(e));
}
