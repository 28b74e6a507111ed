// Recorded runs: every run outcome real bisections saw, per kernel, in a file
// that can be committed, and bisections replayed from it. A replay draws each
// kernel's runs without replacement (one seeded shuffle, then in order), so
// no recorded run serves two replayed bisections of the same method: N
// replays rest on N bisections' worth of real runs, not on a few runs drawn
// again and again.
import { applyBuild, applyTest, canonicalStep, newBisection, parseStepKey, prefix, stepKey } from './engine.ts';
import { runBisection } from './driver.ts';
import { meetsStop } from './environment.ts';
import { gitBisectOneRun, rng } from './simulate.ts';
import type { BisectEnv, BisectOutcome, BisectState, BuildOutcome, Direction, RunOutcome, StepSpec, StopRule, TestBatch } from './types.ts';

export const RECORDING_FORMAT = 'dax-harness bisect recording';

/**
 * One outcome as a string: `pass`, `crash:<match key>`, `fail:<reason>` or
 * `boot-fail:<reason>` (infrastructure errors are never recorded: they say
 * nothing about the kernel).
 */
export type RecordedRun = string;

export interface RecordedBuild {
  ok: boolean;
  /** The kernel (a key of `kernels`) this step builds; steps that build the same image share one. */
  kernel: string | null;
  failure?: 'apply' | 'build';
  reason: string;
}

export interface Recording {
  format: typeof RECORDING_FORMAT;
  schema: 1;
  /** True when the runs come from the simulator, not from guests: such a file proves the replay, not the engine. */
  synthetic: boolean;
  note: string;
  series: string;
  seriesHash: string | null;
  tests: string[];
  direction: Direction;
  steps: number;
  /** The patch known to be the one (null: unknown, accuracy is not scored). */
  truth: number | null;
  /** The results directories the runs were read from. */
  sources: string[];
  /** Match key → crash title. */
  titles: Record<string, string>;
  /** Step key (p3, w5) → its build. */
  builds: Record<string, RecordedBuild>;
  /** Kernel → its runs. */
  kernels: Record<string, RecordedRun[]>;
}

export function encodeRun(o: RunOutcome): RecordedRun | null {
  switch (o.kind) {
    case 'pass':
      return 'pass';
    case 'crash':
      return `crash:${o.matchKey}`;
    case 'fail':
      return `fail:${o.reason}`;
    case 'boot-fail':
      return `boot-fail:${o.reason}`;
    case 'infra':
      return null;
  }
}

export function decodeRun(r: RecordedRun, titles: Record<string, string>): RunOutcome {
  if (r === 'pass') return { kind: 'pass' };
  const colon = r.indexOf(':');
  const kind = colon < 0 ? r : r.slice(0, colon);
  const rest = r.slice(colon + 1);
  if (kind === 'crash') return { kind: 'crash', matchKey: rest, title: titles[rest] ?? rest };
  if (kind === 'fail') return { kind: 'fail', reason: rest };
  if (kind === 'boot-fail') return { kind: 'boot-fail', reason: rest };
  throw new RangeError(`not a recorded run: ${JSON.stringify(r)}`);
}

/** Checks a parsed file is a recording; the message names what is wrong. */
export function checkRecording(x: unknown, where: string): Recording {
  const r = x as Partial<Recording> | null;
  if (r?.format !== RECORDING_FORMAT || r.schema !== 1) throw new RangeError(`${where} is not a bisect recording (format "${RECORDING_FORMAT}", schema 1)`);
  if (!Number.isInteger(r.steps) || r.steps! < 1 || (r.direction !== 'cause' && r.direction !== 'fix')) throw new RangeError(`${where}: steps and direction are missing`);
  if (typeof r.builds !== 'object' || typeof r.kernels !== 'object' || typeof r.titles !== 'object') throw new RangeError(`${where}: builds, kernels and titles are missing`);
  for (const [step, b] of Object.entries(r.builds!)) {
    parseStepKey(step);
    if (b.ok && (b.kernel === null || !(b.kernel in r.kernels!))) throw new RangeError(`${where}: step ${step} builds kernel ${b.kernel}, which has no runs`);
  }
  for (const runs of Object.values(r.kernels!)) for (const run of runs) decodeRun(run, r.titles!);
  return r as Recording;
}

/** What a saved bisection (results/bisect-<id>/state.json) holds that a recording needs. */
export interface SavedRuns {
  dir: string;
  state: BisectState;
}

/**
 * Every run of the given bisections, merged per step: the kernels that
 * several steps built are named after the first of them (p before w, then
 * by number), so runs of the same step in different bisections add up even
 * when the builds' hashes differ.
 */
export function recordFromStates(saved: SavedRuns[], head: Omit<Recording, 'format' | 'schema' | 'sources' | 'titles' | 'builds' | 'kernels' | 'steps' | 'direction'>): Recording {
  if (!saved.length) throw new RangeError('no bisection to record from');
  const first = saved[0]!.state.settings;
  const rec: Recording = { format: RECORDING_FORMAT, schema: 1, ...head, direction: first.direction, steps: first.steps, sources: [], titles: {}, builds: {}, kernels: {} };
  const order = (a: string, b: string) => (a[0] === b[0] ? Number(a.slice(1)) - Number(b.slice(1)) : a[0] === 'p' ? -1 : 1);
  for (const { dir, state } of saved) {
    const s = state.settings;
    if (s.steps !== rec.steps || s.direction !== rec.direction) throw new RangeError(`${dir} bisects ${s.steps} steps (${s.direction}), the others ${rec.steps} (${rec.direction}): record one series at a time`);
    rec.sources.push(dir);
    // This bisection's kernels by hash, each with the steps that built it.
    const stepsOf = new Map<string, string[]>();
    for (const key of Object.keys(state.builds).sort(order)) {
      const b = state.builds[key]!;
      const before = rec.builds[key];
      if (before && before.ok !== b.ok) throw new RangeError(`${key} built in one bisection and failed in another (${dir}): record bisections of one tree and config`);
      if (!b.ok) {
        rec.builds[key] ??= { ok: false, kernel: null, ...(b.failure ? { failure: b.failure } : {}), reason: b.reason };
        continue;
      }
      const h = b.imageHash ?? `step:${key}`;
      stepsOf.set(h, [...(stepsOf.get(h) ?? []), key]);
    }
    const nameOf = new Map<string, string>();
    for (const [h, steps] of stepsOf) {
      // Named after its first step; a kernel that earlier bisections knew under
      // other names (steps they saw built apart) takes the first of all of them.
      const names = new Set([steps[0]!, ...steps.flatMap((k) => rec.builds[k]?.kernel ?? [])]);
      const name = [...names].sort(order)[0]!;
      for (const other of names) if (other !== name) mergeKernel(rec, other, name);
      for (const k of steps) rec.builds[k] = { ok: true, kernel: name, reason: state.builds[k]!.reason };
      nameOf.set(h, name);
    }
    for (const [h, ev] of Object.entries(state.evidence)) {
      const kernel = nameOf.get(h);
      if (!kernel) continue;
      const runs = (rec.kernels[kernel] ??= []);
      for (let i = 0; i < ev.passes; i++) runs.push('pass');
      for (const [key, c] of Object.entries(ev.crashes)) {
        rec.titles[key] ??= c.title;
        for (let i = 0; i < c.count; i++) runs.push(`crash:${key}`);
      }
      for (const [reason, n] of Object.entries(ev.failures)) for (let i = 0; i < n; i++) runs.push(`fail:${reason}`);
      for (const [reason, n] of Object.entries(ev.bootFailures)) for (let i = 0; i < n; i++) runs.push(`boot-fail:${reason}`);
    }
  }
  for (const b of Object.values(rec.builds)) if (b.kernel !== null) rec.kernels[b.kernel] ??= [];
  return rec;
}

/** Two names turned out to be one kernel: its runs and steps go under `into`. */
function mergeKernel(rec: Recording, from: string, into: string): void {
  rec.kernels[into] = [...(rec.kernels[into] ?? []), ...(rec.kernels[from] ?? [])];
  delete rec.kernels[from];
  for (const b of Object.values(rec.builds)) if (b.kernel === from) b.kernel = into;
}

/**
 * Runs every step a bisection of this series could visit (each prefix, and
 * the series without each patch) `runs` times, in a state shaped like a
 * bisection's, so the recorder reads it like any other. A bisection records
 * only the kernels it visited; git bisect with one run per step, misled by
 * one unlucky run, goes where ours never did, and its replay needs these.
 */
export async function fillState(env: BisectEnv, o: { steps: number; direction: Direction; runs: number; log?: (line: string) => void }): Promise<BisectState> {
  const state = newBisection({ direction: o.direction, steps: o.steps });
  const steps: StepSpec[] = [];
  for (let i = 0; i <= o.steps; i++) steps.push(prefix(i));
  for (let j = 1; j < o.steps; j++) steps.push(canonicalStep({ kind: 'without', patch: j }, o.steps));
  const all: StopRule = { matching: Infinity, matchKey: null, failures: false };
  for (const step of steps) {
    applyBuild(state, step, await env.build(step));
    const b = state.builds[stepKey(step)]!;
    if (!b.ok) continue;
    const ev = () => state.evidence[b.imageHash ?? `step:${stepKey(step)}`];
    // A kernel that does not boot ends each batch at once: a few tries are enough to record it.
    for (let batch = 0; (ev()?.runs ?? 0) < o.runs && batch < o.runs; batch++) {
      const have = ev()?.runs ?? 0;
      applyTest(state, step, await env.test(step, o.runs - have, all));
      if (Object.values(ev()?.bootFailures ?? {}).reduce((a, n) => a + n, 0) >= 3) break;
    }
    o.log?.(`${stepKey(step)}: ${ev()?.runs ?? 0} runs recorded`);
  }
  return state;
}

/** A recording's runs ran out (or a step it never built was asked for): this replay cannot finish honestly. */
export class Exhausted extends Error {}

/**
 * The recorded runs of each kernel, shuffled once by the seed, handed out in
 * order and never twice.
 */
export class RunSupply {
  private readonly queues = new Map<string, RunOutcome[]>();
  constructor(
    readonly rec: Recording,
    seed: number,
  ) {
    const r = rng(seed);
    for (const [kernel, runs] of Object.entries(rec.kernels)) {
      const q = runs.map((x) => decodeRun(x, rec.titles));
      for (let i = q.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [q[i], q[j]] = [q[j]!, q[i]!];
      }
      this.queues.set(kernel, q);
    }
  }

  take(kernel: string): RunOutcome {
    const o = this.queues.get(kernel)?.shift();
    if (!o) throw new Exhausted(`the recording has no more runs of kernel ${kernel}`);
    return o;
  }

  left(kernel: string): number {
    return this.queues.get(kernel)?.length ?? 0;
  }
}

/** A bisection environment over a run supply: builds as recorded, runs as the guests ran them. */
export class ReplayEnv implements BisectEnv {
  builds = 0;
  boots = 0;
  runs = 0;
  constructor(readonly supply: RunSupply) {}

  private buildOf(step: StepSpec): RecordedBuild {
    const b = this.supply.rec.builds[stepKey(step)];
    if (!b) throw new Exhausted(`the recording never built ${stepKey(step)}`);
    return b;
  }

  async build(step: StepSpec): Promise<BuildOutcome> {
    this.builds++;
    const b = this.buildOf(step);
    return { ok: b.ok, imageHash: b.kernel, ...(b.failure ? { failure: b.failure } : {}), reason: b.reason };
  }

  async test(step: StepSpec, runs: number, stop: StopRule): Promise<TestBatch> {
    const kernel = this.buildOf(step).kernel;
    if (kernel === null) throw new Error(`${stepKey(step)} did not build: nothing to test`);
    const outcomes: RunOutcome[] = [];
    // As the guest environment boots: once per batch, again after each crash.
    let boots = 1;
    let matched = 0;
    while (outcomes.length < runs) {
      const o = this.supply.take(kernel);
      outcomes.push(o);
      if (meetsStop(o, stop)) matched++;
      if (matched >= stop.matching || o.kind === 'boot-fail') break;
      if (o.kind === 'crash' && outcomes.length < runs) boots++;
    }
    this.boots += boots;
    this.runs += outcomes.length;
    return { outcomes, boots };
  }
}

export interface ReplayedBisection {
  /** The patch named (null: none). */
  culprit: number | null;
  confident: boolean;
  status: BisectOutcome['status'] | 'git-bisect';
  builds: number;
  boots: number;
  runs: number;
}

export interface ReplaySummary {
  method: 'engine' | 'git-bisect-1';
  /** Bisections that finished on fresh runs. */
  done: ReplayedBisection[];
  /** Why the next one could not finish. */
  stoppedBy: string;
  right: number | null;
}

/**
 * Bisections replayed one after another from one supply until the recorded
 * runs run out (at most `max`): every run serves one bisection only. The
 * engine replays with its defaults; git bisect with one run per step.
 */
export async function replayBisections(rec: Recording, o: { method: 'engine' | 'git-bisect-1'; seed: number; max: number }): Promise<ReplaySummary> {
  const supply = new RunSupply(rec, o.seed);
  const done: ReplayedBisection[] = [];
  let stoppedBy = `${o.max} bisections replayed`;
  while (done.length < o.max) {
    const env = new ReplayEnv(supply);
    try {
      if (o.method === 'engine') {
        const state = newBisection({ direction: rec.direction, steps: rec.steps });
        const outcome = await runBisection(state, env);
        done.push({ culprit: outcome.culprit, confident: outcome.confident, status: outcome.status, builds: env.builds, boots: env.boots, runs: env.runs });
      } else {
        const culprit = await gitBisectOneRun(env, rec.steps, rec.direction);
        done.push({ culprit, confident: false, status: 'git-bisect', builds: env.builds, boots: env.boots, runs: env.runs });
      }
    } catch (e) {
      if (!(e instanceof Exhausted)) throw e;
      stoppedBy = e.message;
      break;
    }
  }
  const right = rec.truth === null ? null : done.filter((d) => d.culprit === rec.truth).length;
  return { method: o.method, done, stoppedBy, right };
}
