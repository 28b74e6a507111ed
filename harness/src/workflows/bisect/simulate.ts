// Simulated patch series for the bisection engine: a bug that crashes some
// of the time, patches that change nothing built, patches that do not build
// or boot on their own, patches that depend on their predecessor (so leaving
// one out does not apply), unrelated crashes, failing tests, infrastructure
// errors and flaky boots. Used by the unit tests and bench/bisect.ts to
// measure accuracy and calibration without a guest.
import { createHash } from 'node:crypto';
import { newBisection, context, type NewBisection } from './engine.ts';
import { runBisection } from './driver.ts';
import { culpritPosterior } from './posterior.ts';
import type { BisectEnv, BisectOutcome, BisectState, BuildOutcome, Direction, RunOutcome, StepSpec, StopRule, TestBatch } from './types.ts';

/** mulberry32: small, fast, good enough for simulation, reproducible from a seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Noise {
  key: string;
  title: string;
  rate: number;
  /** The patch that brings it in (0: already in the base). */
  from: number;
}

export interface Scenario {
  k: number;
  direction: Direction;
  /** The patch that introduces the bug (cause) or fixes it (fix). */
  culprit: number;
  /** Crash probability per run on the crashing end. */
  endRate: number;
  /** Per patch (1..k; index 0 unused): multiplies the bug's rate when applied. */
  rateFactor: number[];
  noop: boolean[];
  /** Does not build on its own; the next patch fixes it. */
  unbuildable: boolean[];
  /** Builds but does not boot on its own; the next patch fixes it. */
  unbootable: boolean[];
  /** Its context needs the previous patch: leaving that one out does not apply. */
  needsPrev: boolean[];
  noise: Noise[];
  /** Test failure without a crash, per run. */
  failRate: number;
  /** Infrastructure error, per run. */
  infraRate: number;
  /** A boot that fails for no reason of the kernel's, per boot. */
  flakyBootRate: number;
}

export const BUG_KEY = 'BUG: dax_insert_pfn_pmd refcount';
const BUG_TITLE = 'kernel BUG in dax_insert_pfn_pmd';

export interface ScenarioOptions {
  k?: number;
  minK?: number;
  maxK?: number;
  direction?: Direction;
  rate?: number;
  minRate?: number;
  maxRate?: number;
  /** Leave out the hostile parts (noise, infra, flaky boots, rate drift): a plain flaky bug. */
  plain?: boolean;
}

export function randomScenario(r: () => number, o: ScenarioOptions = {}): Scenario {
  const int = (a: number, b: number) => a + Math.floor(r() * (b - a + 1));
  const k = o.k ?? int(o.minK ?? 2, o.maxK ?? 64);
  const culprit = int(1, k);
  const lo = Math.log(o.minRate ?? 0.05);
  const hi = Math.log(o.maxRate ?? 0.9);
  const endRate = o.rate ?? Math.exp(lo + r() * (hi - lo));
  const plain = o.plain ?? false;
  const noop: boolean[] = [false];
  const unbuildable: boolean[] = [false];
  const unbootable: boolean[] = [false];
  const needsPrev: boolean[] = [false];
  const rateFactor: number[] = [1];
  for (let j = 1; j <= k; j++) {
    const broken = j < k && r() < 0.07;
    const noBoot = j < k && !broken && r() < 0.03;
    unbuildable.push(broken);
    unbootable.push(noBoot);
    noop.push(j !== culprit && !broken && !noBoot && r() < 0.12);
    needsPrev.push(j > 1 && r() < 0.25);
    rateFactor.push(!plain && j !== culprit && !noop[j] && r() < 0.15 ? Math.exp(-0.7 + r() * 1.2) : 1);
  }
  const noise: Noise[] = [];
  if (!plain && r() < 0.5) noise.push({ key: 'WARNING: lockdep splat in xfs_ilock', title: 'possible circular locking dependency in xfs_ilock', rate: r() * 0.3 * endRate, from: 0 });
  // A crash some patch brings in must come from a patch that changes the kernel.
  const real = Array.from({ length: k }, (_, i) => i + 1).filter((j) => !noop[j]);
  if (!plain && r() < 0.3) noise.push({ key: 'BUG: KASAN: use-after-free in ext4_fill_super', title: 'KASAN: use-after-free Read in ext4_fill_super', rate: r() * 0.4 * endRate, from: real[int(0, real.length - 1)]! });
  return {
    k,
    direction: o.direction ?? 'cause',
    culprit,
    endRate,
    rateFactor,
    noop,
    unbuildable,
    unbootable,
    needsPrev,
    noise,
    failRate: !plain && r() < 0.3 ? r() * 0.05 : 0,
    infraRate: plain ? 0 : r() * 0.08,
    flakyBootRate: !plain && r() < 0.2 ? 0.02 : 0,
  };
}

function applied(sc: Scenario, step: StepSpec): number[] {
  const out: number[] = [];
  for (let j = 1; j <= sc.k; j++) {
    if (step.kind === 'prefix' ? j <= step.count : j !== step.patch) out.push(j);
  }
  return out;
}

/** The bug's crash probability per run on a kernel with these patches (0: no bug). */
export function bugRate(sc: Scenario, patches: number[]): number {
  const has = patches.includes(sc.culprit);
  if (sc.direction === 'cause' ? !has : has) return 0;
  // Scale so that the crashing end shows exactly endRate; other steps drift from it.
  const endPatches = sc.direction === 'cause' ? applied(sc, { kind: 'prefix', count: sc.k }) : [];
  const factor = (ps: number[]) => ps.reduce((a, j) => a * sc.rateFactor[j]!, 1);
  return Math.min(0.95, Math.max(0.02, (sc.endRate * factor(patches)) / factor(endPatches)));
}

export class SimEnv implements BisectEnv {
  builds = 0;
  boots = 0;
  runs = 0;
  constructor(
    readonly sc: Scenario,
    readonly r: () => number,
  ) {}

  async build(step: StepSpec): Promise<BuildOutcome> {
    this.builds++;
    const sc = this.sc;
    const ps = applied(sc, step);
    const set = new Set(ps);
    for (const j of ps) {
      if (!sc.needsPrev[j] || j <= 1 || set.has(j - 1)) continue;
      // A later patch that touches the culprit's lines makes its revert conflict as surely as its leave-out.
      const reason = step.kind === 'revert' ? `reverting patch ${j - 1} conflicts with patch ${j}` : `patch ${j} does not apply without patch ${j - 1}`;
      return { ok: false, imageHash: null, failure: 'apply', reason };
    }
    for (const j of ps) {
      if (sc.unbuildable[j] && !set.has(j + 1)) return { ok: false, imageHash: null, failure: 'build', reason: `patch ${j}: error: implicit declaration of function` };
    }
    const code = ps.filter((j) => !sc.noop[j]).join(',');
    return { ok: true, imageHash: createHash('sha256').update(code).digest('hex').slice(0, 16), reason: 'built' };
  }

  async test(step: StepSpec, runs: number, stop: StopRule): Promise<TestBatch> {
    const sc = this.sc;
    const ps = applied(sc, step);
    const set = new Set(ps);
    const rate = bugRate(sc, ps);
    const noBoot = ps.some((j) => sc.unbootable[j] && !set.has(j + 1));
    const noise = sc.noise.filter((n) => n.from === 0 || set.has(n.from));
    const outcomes: RunOutcome[] = [];
    let boots = 0;
    let matched = 0;
    let booted = false;
    while (outcomes.length < runs) {
      if (!booted) {
        boots++;
        if (noBoot) {
          outcomes.push({ kind: 'boot-fail', reason: 'no ssh within 180 s' });
          break;
        }
        if (this.r() < sc.flakyBootRate) {
          outcomes.push({ kind: 'boot-fail', reason: 'guest did not reach init' });
          break;
        }
        booted = true;
      }
      if (this.r() < sc.infraRate) {
        outcomes.push({ kind: 'infra', reason: 'ssh connection lost' });
        booted = false;
        continue;
      }
      // Whatever fires in a run, the first to happen ends it.
      const fired: RunOutcome[] = [];
      if (this.r() < rate) fired.push({ kind: 'crash', matchKey: BUG_KEY, title: BUG_TITLE });
      for (const n of noise) if (this.r() < n.rate) fired.push({ kind: 'crash', matchKey: n.key, title: n.title });
      if (this.r() < sc.failRate) fired.push({ kind: 'fail', reason: 'dax_smoke: pattern mismatch' });
      const o = fired.length ? fired[Math.floor(this.r() * fired.length)]! : ({ kind: 'pass' } as RunOutcome);
      outcomes.push(o);
      if (o.kind === 'crash') {
        booted = false;
        if (stop.matchKey === null || stop.matchKey === o.matchKey) matched++;
      } else if (o.kind === 'fail' && stop.failures) matched++;
      if (matched >= stop.matching) break;
    }
    this.boots += boots;
    this.runs += outcomes.length;
    return { outcomes, boots };
  }
}

/** The right answer for the crash the bisection chose to follow (null: there is no transition for it). */
export function truthFor(sc: Scenario, key: string | null): number | null {
  if (key === null || key === BUG_KEY) return sc.culprit;
  const n = sc.noise.find((x) => x.key === key);
  if (!n || n.from === 0 || sc.direction === 'fix') return null;
  return n.from;
}

export interface SimResult {
  scenario: Scenario;
  outcome: BisectOutcome;
  state: BisectState;
  /** The answer for the crash it followed. */
  truth: number | null;
  /** It followed the planted bug (not an unrelated crash). */
  followedBug: boolean;
  builds: number;
  boots: number;
  runs: number;
}

export async function simulateOne(sc: Scenario, seed: number, opts: Partial<NewBisection> = {}): Promise<SimResult> {
  const env = new SimEnv(sc, rng(seed));
  const state = newBisection({ direction: sc.direction, steps: sc.k, ...opts });
  const outcome = await runBisection(state, env);
  const key = context(state).key;
  return {
    scenario: sc,
    outcome,
    state,
    truth: truthFor(sc, key),
    followedBug: key === null || key === BUG_KEY,
    builds: env.builds,
    boots: env.boots,
    runs: env.runs,
  };
}

/**
 * The naive baseline: git bisect with one run per step (a crash is bad, a
 * pass good, a build or boot failure skip), no rate measurement, no checks.
 */
export async function naiveBisect(sc: Scenario, seed: number): Promise<{ culprit: number | null; builds: number; boots: number }> {
  const env = new SimEnv(sc, rng(seed));
  const culprit = await gitBisectOneRun(env, sc.k, sc.direction);
  return { culprit, builds: env.builds, boots: env.boots };
}

/**
 * The baseline: `git bisect run` with one run per step over any
 * environment. A crash is bad, a clean run good, a build or boot failure a
 * skip (exit 125); nothing is verified. Returns the patch it names.
 */
export async function gitBisectOneRun(env: BisectEnv, k: number, direction: Direction): Promise<number | null> {
  const crashing = direction === 'cause' ? k : 0;
  const bad = new Set<number>([crashing]);
  const good = new Set<number>([k - crashing]);
  const skip = new Set<number>();
  const stop: StopRule = { matching: 1, matchKey: null, failures: false };
  for (;;) {
    const target = (i: number) => (direction === 'cause' ? bad.has(i) : good.has(i));
    const non = (i: number) => (direction === 'cause' ? good.has(i) : bad.has(i));
    let lo = 0;
    for (let i = 0; i <= k; i++) if (non(i)) lo = i;
    let hi = k;
    for (let i = k; i > lo; i--) if (target(i)) hi = i;
    const cands: number[] = [];
    for (let i = lo + 1; i < hi; i++) if (!skip.has(i)) cands.push(i);
    if (!cands.length) return hi - lo === 1 ? hi : null;
    const mid = (lo + hi) / 2;
    const i = cands.reduce((a, b) => (Math.abs(b - mid) < Math.abs(a - mid) ? b : a));
    const step: StepSpec = { kind: 'prefix', count: i };
    if (!(await env.build(step)).ok) {
      skip.add(i);
      continue;
    }
    let o: RunOutcome | undefined;
    do o = (await env.test(step, 1, stop)).outcomes[0];
    while (o?.kind === 'infra');
    if (!o || o.kind === 'boot-fail') skip.add(i);
    else if (o.kind === 'crash') bad.add(i);
    else good.add(i);
  }
}

// -------------------------------------------------------- statistics ---

export interface CalibrationBin {
  from: number;
  to: number;
  named: number;
  right: number;
  meanConfidence: number;
}

export interface SimSummary {
  total: number;
  /** Followed the planted bug (the rest followed an unrelated crash that was more frequent on the bad end). */
  followedBug: number;
  named: number;
  namedRight: number;
  confident: number;
  confidentRight: number;
  confidentWrong: SimResult[];
  ranges: number;
  rangesHoldingTruth: number;
  byStatus: Record<string, number>;
  calibration: CalibrationBin[];
  builds: number;
  boots: number;
  runs: number;
}

export const CONFIDENCE_BINS = [0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0000001];

export function summarize(results: SimResult[]): SimSummary {
  const s: SimSummary = {
    total: results.length,
    followedBug: 0,
    named: 0,
    namedRight: 0,
    confident: 0,
    confidentRight: 0,
    confidentWrong: [],
    ranges: 0,
    rangesHoldingTruth: 0,
    byStatus: {},
    calibration: CONFIDENCE_BINS.slice(0, -1).map((from, i) => ({ from, to: CONFIDENCE_BINS[i + 1]!, named: 0, right: 0, meanConfidence: 0 })),
    builds: 0,
    boots: 0,
    runs: 0,
  };
  for (const r of results) {
    const o = r.outcome;
    s.byStatus[o.status] = (s.byStatus[o.status] ?? 0) + 1;
    if (r.followedBug) s.followedBug++;
    s.builds += r.builds;
    s.boots += r.boots;
    s.runs += r.runs;
    if (o.culprit !== null) {
      const right = o.culprit === r.truth;
      s.named++;
      if (right) s.namedRight++;
      if (o.confident) {
        s.confident++;
        if (right) s.confidentRight++;
        else s.confidentWrong.push(r);
      }
      const bin = s.calibration.find((b) => o.confidence >= b.from && o.confidence < b.to)!;
      bin.named++;
      if (right) bin.right++;
      bin.meanConfidence += o.confidence;
    } else if (o.status === 'range') {
      s.ranges++;
      if (r.truth !== null && o.candidates.includes(r.truth)) s.rangesHoldingTruth++;
    }
  }
  for (const b of s.calibration) if (b.named) b.meanConfidence /= b.named;
  return s;
}

// ------------------------------------------------------- calibration ---

export interface ReliabilityRow {
  from: number;
  to: number;
  /** Named patches whose stated figure fell in [from, to). */
  n: number;
  right: number;
  meanStated: number;
}

export interface Reliability {
  rows: ReliabilityRow[];
  /** Mean of (stated - right)^2 over every named patch: 0 is perfect, 0.25 a coin. */
  brier: number;
  n: number;
}

function reliability(pairs: { stated: number; right: boolean }[]): Reliability {
  const rows: ReliabilityRow[] = CONFIDENCE_BINS.slice(0, -1).map((from, i) => ({ from, to: CONFIDENCE_BINS[i + 1]!, n: 0, right: 0, meanStated: 0 }));
  let brier = 0;
  for (const p of pairs) {
    const row = rows.find((b) => p.stated >= b.from && p.stated < b.to)!;
    row.n++;
    if (p.right) row.right++;
    row.meanStated += p.stated;
    brier += (p.stated - (p.right ? 1 : 0)) ** 2;
  }
  for (const r of rows) if (r.n) r.meanStated /= r.n;
  return { rows, brier: pairs.length ? brier / pairs.length : 0, n: pairs.length };
}

export interface SweepOptions {
  /** Bisections per (rate, target, runs-per-step) cell. */
  perCell: number;
  seed: number;
  rates?: number[];
  targets?: number[];
  maxRuns?: number[];
  strategies?: ('binary' | 'linear')[];
}

/** The grid the calibration figures are measured on: rates 0.05–0.9, and the budgets that move the stated confidence. */
export const SWEEP = {
  rates: [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9],
  // A lower --confidence and a tighter --max-runs are what make the engine
  // stop at stated confidences below 0.95; long series add clean verdicts.
  targets: [0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
  maxRuns: [15, 30, 300],
  // A linear scan judges many more steps clean, and each clean verdict
  // multiplies the stated confidence down: it fills the bins 0.5-0.7.
  strategies: ['binary', 'linear'] as ('binary' | 'linear')[],
};

export interface CalibrationSweep {
  bisections: number;
  /** The engine's confidence of every named patch (confident or not) against the truth. */
  engine: Reliability;
  /** The posterior (posterior.ts) of the same named patches. */
  posterior: Reliability;
}

/**
 * Simulated cause bisections over the grid (series of 8–64 patches with every
 * kind of trouble, the bug's rate fixed per cell), each named patch scored
 * against the truth for the crash it followed.
 */
export async function calibrationSweep(o: SweepOptions): Promise<CalibrationSweep> {
  const r = rng(o.seed);
  const engine: { stated: number; right: boolean }[] = [];
  const posterior: { stated: number; right: boolean }[] = [];
  const cells = (o.rates ?? SWEEP.rates).flatMap((rate) =>
    (o.targets ?? SWEEP.targets).flatMap((targetConfidence) =>
      (o.maxRuns ?? SWEEP.maxRuns).flatMap((maxRunsPerStep) => (o.strategies ?? SWEEP.strategies).map((strategy) => ({ rate, opts: { targetConfidence, maxRunsPerStep, strategy } }))),
    ),
  );
  let bisections = 0;
  for (const cell of cells) {
    for (let j = 0; j < o.perCell; j++) {
      const sc = randomScenario(r, { rate: cell.rate, minK: 8, maxK: 64 });
      const x = await simulateOne(sc, o.seed * 10_000_000 + bisections++, cell.opts);
      const named = x.outcome.culprit;
      if (named === null) continue;
      const right = named === x.truth;
      engine.push({ stated: x.outcome.confidence, right });
      posterior.push({ stated: culpritPosterior(x.state)[named] ?? 0, right });
    }
  }
  return { bisections, engine: reliability(engine), posterior: reliability(posterior) };
}
