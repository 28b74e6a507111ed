// The pure heart of bisection: given everything learnt so far (a JSON
// state), decide the next build or test, or conclude. Nothing here does I/O;
// the driver applies the environment's answers with applyBuild/applyTest.
//
// Verdicts are recomputed from the evidence at every decision, so a lower
// rate estimate (a step that crashed less often than the bad end) turns
// earlier clean verdicts back into "needs more runs", and a late crash on a
// step judged clean moves the search back, without special cases.
import { detectionProbability, rateLowerBound, runsNeeded } from '../../results/stats.ts';
import type {
  Action,
  BadMeaning,
  BisectOutcome,
  BisectSettings,
  BisectState,
  BisectStatus,
  BuildOutcome,
  Direction,
  Evidence,
  StepSpec,
  StopRule,
  TestBatch,
  Verdict,
  Verification,
  VerificationAttempt,
  VerificationCheck,
  VerificationMethod,
} from './types.ts';

export const DEFAULTS = {
  targetConfidence: 0.95,
  rateLevel: 0.95,
  endCrashes: 6,
  maxRunsPerStep: 300,
  maxInfraRetries: 3,
} as const;

/** The most a single clean verdict may miss: the issue's floor. */
const MAX_STEP_MISS = 0.05;

/**
 * Clean runs a clean verdict needs even for a bug that shows almost every
 * time: syzkaller judges a revision on 10 runs, and we are never looser.
 */
export const MIN_CLEAN_RUNS = 10;

/**
 * Per-verdict miss probability so that the clean verdicts of a typical
 * bisection (about log2(k) search steps and two verifications) still multiply
 * to the target confidence; never looser than 5%.
 */
export function stepMissFor(k: number, target: number): number {
  const verdicts = Math.ceil(Math.log2(Math.max(k, 1))) + 2;
  return Math.min(MAX_STEP_MISS, 1 - Math.pow(target, 1 / verdicts));
}

export interface NewBisection {
  direction: Direction;
  steps: number;
  bad?: BadMeaning;
  matchKey?: string | null;
  targetConfidence?: number;
  rateLevel?: number;
  endCrashes?: number;
  maxRunsPerStep?: number;
  maxInfraRetries?: number;
  strategy?: 'binary' | 'linear';
  unit?: 'patch' | 'commit';
  budget?: Partial<BisectSettings['budget']>;
}

export function newBisection(o: NewBisection): BisectState {
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new RangeError(`a bisection needs at least one patch, not ${o.steps}`);
  const target = o.targetConfidence ?? DEFAULTS.targetConfidence;
  return {
    schema: 1,
    settings: {
      direction: o.direction,
      steps: o.steps,
      bad: o.bad ?? 'match',
      matchKey: o.matchKey ?? null,
      targetConfidence: target,
      stepMiss: stepMissFor(o.steps, target),
      rateLevel: o.rateLevel ?? DEFAULTS.rateLevel,
      endCrashes: o.endCrashes ?? DEFAULTS.endCrashes,
      maxRunsPerStep: o.maxRunsPerStep ?? DEFAULTS.maxRunsPerStep,
      maxInfraRetries: o.maxInfraRetries ?? DEFAULTS.maxInfraRetries,
      unit: o.unit ?? 'patch',
      strategy: o.strategy ?? 'binary',
      budget: { builds: o.budget?.builds ?? null, boots: o.budget?.boots ?? null, runs: o.budget?.runs ?? null },
    },
    builds: {},
    evidence: {},
    used: { builds: 0, boots: 0, runs: 0 },
    log: [],
  };
}

// ------------------------------------------------------------ steps ---

export const prefix = (count: number): StepSpec => ({ kind: 'prefix', count });

export function stepKey(s: StepSpec): string {
  return s.kind === 'prefix' ? `p${s.count}` : s.kind === 'without' ? `w${s.patch}` : `r${s.patch}`;
}

export function parseStepKey(key: string): StepSpec {
  const m = /^([pwr])(\d+)$/.exec(key);
  if (!m) throw new RangeError(`not a step key: ${key}`);
  const n = Number(m[2]);
  return m[1] === 'p' ? prefix(n) : m[1] === 'w' ? { kind: 'without', patch: n } : { kind: 'revert', patch: n };
}

/** Leaving out the last patch is the prefix before it: the same kernel, not a second check. */
export function canonicalStep(s: StepSpec, k: number): StepSpec {
  return s.kind === 'without' && s.patch === k ? prefix(k - 1) : s;
}

/** Human name of a step. */
export function stepLabel(s: StepSpec, k: number, unit: 'patch' | 'commit' = 'patch'): string {
  if (s.kind === 'without') return `all ${k} without ${unit} ${s.patch}`;
  if (s.kind === 'revert') return `all ${k}, ${unit} ${s.patch} reverted`;
  if (s.count === 0) return 'base';
  return s.count === 1 ? `base + ${unit} 1` : `base + ${unit === 'patch' ? 'patches' : 'commits'} 1..${s.count}`;
}

// --------------------------------------------------------- evidence ---

export function emptyEvidence(): Evidence {
  return { runs: 0, passes: 0, crashes: {}, failures: {}, bootFailures: {}, infra: 0, infraStreak: 0, boots: 0, batches: 0 };
}

function hashOf(key: string, b: BuildOutcome): string {
  return b.imageHash ?? `step:${key}`;
}

export function evidenceFor(state: BisectState, key: string): Evidence | null {
  const b = state.builds[key];
  if (!b?.ok) return null;
  return state.evidence[hashOf(key, b)] ?? null;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const crashCount = (ev: Evidence) => Object.values(ev.crashes).reduce((a, c) => a + c.count, 0);
const attempts = (ev: Evidence | null) => (ev ? ev.runs + sum(ev.bootFailures) : 0);

/** Everything derived from the state that verdicts depend on. */
export interface Context {
  /** The bug's match key (null until the crashing end has crashed, or in any-crash/any-failure mode when none was given). */
  key: string | null;
  /** Boot failures the crashing end had too: neutral elsewhere. */
  knownBoot: Set<string>;
  rate: { hits: number; trials: number; estimate: number; lower: number };
  /** Clean runs a clean verdict needs at the current rate bound. */
  needClean: number;
}

export function crashingEnd(s: BisectSettings): number {
  return s.direction === 'cause' ? s.steps : 0;
}

/** The end the user asserts is good: tested only when the culprit sits next to it. */
export function assumedEnd(s: BisectSettings): number {
  return s.direction === 'cause' ? 0 : s.steps;
}

function topKey(ev: Evidence | null): string | null {
  if (!ev) return null;
  let best: string | null = null;
  for (const [k, c] of Object.entries(ev.crashes)) {
    const b = best === null ? null : ev.crashes[best]!;
    if (!b || c.count > b.count || (c.count === b.count && k < best!)) best = k;
  }
  return best;
}

export function matching(ev: Evidence | null, bad: BadMeaning, key: string | null): number {
  if (!ev) return 0;
  if (bad === 'any-failure') return crashCount(ev) + sum(ev.failures);
  if (bad === 'any-crash') return crashCount(ev);
  return key ? (ev.crashes[key]?.count ?? 0) : 0;
}

export function context(state: BisectState): Context {
  const s = state.settings;
  const endEv = evidenceFor(state, stepKey(prefix(crashingEnd(s))));
  const key = s.matchKey ?? topKey(endEv);
  let hits = 0;
  let trials = 0;
  // Every kernel that showed the bug at least once says something about its
  // rate; pooling them (a step that crashed rarely included) keeps the bound honest.
  for (const ev of Object.values(state.evidence)) {
    const m = matching(ev, s.bad, key);
    if (m >= 1) {
      hits += m;
      trials += m + ev.passes;
    }
  }
  const lower = rateLowerBound(hits, trials, s.rateLevel);
  return {
    key,
    knownBoot: new Set(Object.keys(endEv?.bootFailures ?? {})),
    rate: { hits, trials, estimate: trials ? hits / trials : 0, lower },
    needClean: Math.max(MIN_CLEAN_RUNS, runsNeeded(lower, s.stepMiss)),
  };
}

export interface StepVerdict {
  verdict: Verdict;
  why: string;
}

function verdictOfEvidence(s: BisectSettings, ctx: Context, ev: Evidence | null): StepVerdict {
  const e = ev ?? emptyEvidence();
  const m = matching(e, s.bad, ctx.key);
  // Two crashes with the bad end's match key: the key already filters out
  // unrelated crashes, which is what syzkaller's "1 in 6 runs" rule guards against.
  if (m >= 2) return { verdict: 'bug', why: `${m} matching crashes in ${e.runs} runs` };
  const unknownBoot = Object.entries(e.bootFailures).reduce((a, [k, n]) => a + (ctx.knownBoot.has(k) ? 0 : n), 0);
  if (unknownBoot >= 2) return { verdict: 'skip', why: `does not boot (${Object.keys(e.bootFailures).join('; ')})` };
  if (m === 0 && e.passes >= ctx.needClean) return { verdict: 'clean', why: `${e.passes} clean runs, none matching` };
  if (attempts(e) >= s.maxRunsPerStep) return { verdict: 'skip', why: `undecided after ${attempts(e)} runs (${m} matching, ${e.passes} clean)` };
  return { verdict: 'pending', why: `${m} matching, ${e.passes}/${ctx.needClean} clean` };
}

export function verdictOf(state: BisectState, ctx: Context, key: string): StepVerdict {
  const b = state.builds[key];
  if (!b) return { verdict: 'unbuilt', why: 'not built yet' };
  if (!b.ok) return { verdict: 'skip', why: `${b.failure === 'apply' ? 'does not apply' : 'does not build'}: ${b.reason}` };
  return verdictOfEvidence(state.settings, ctx, evidenceFor(state, key));
}

/** Kernels whose clean verdicts the result rests on. */
function cleanKernels(state: BisectState, ctx: Context): Evidence[] {
  const s = state.settings;
  return Object.values(state.evidence).filter(
    (ev) => matching(ev, s.bad, ctx.key) === 0 && ev.passes > 0 && (ev.wasClean || verdictOfEvidence(s, ctx, ev).verdict === 'clean'),
  );
}

/**
 * Probability that no clean verdict was a missed bug, at the current
 * (conservative) rate bound: the product over clean kernels of
 * 1 - (1 - rate)^(clean runs).
 */
export function confidence(state: BisectState, ctx = context(state)): number {
  return cleanKernels(state, ctx).reduce((c, ev) => c * detectionProbability(ctx.rate.lower, ev.passes), 1);
}

// ---------------------------------------------------------- updates ---

function pushEvent(state: BisectState, step: StepSpec, action: 'build' | 'test', detail: string): void {
  const ctx = context(state);
  const key = stepKey(step);
  state.log.push({
    seq: state.log.length + 1,
    step: key,
    action,
    detail,
    verdict: verdictOf(state, ctx, key).verdict,
    rate: ctx.rate.lower,
    confidence: confidence(state, ctx),
    at: new Date().toISOString(),
  });
}

export function applyBuild(state: BisectState, step: StepSpec, out: BuildOutcome): void {
  const key = stepKey(step);
  state.builds[key] = { ok: out.ok, imageHash: out.ok ? out.imageHash : null, ...(out.failure ? { failure: out.failure } : {}), reason: out.reason };
  state.used.builds++;
  let detail: string;
  if (!out.ok) detail = `${out.failure === 'apply' ? 'does not apply' : 'does not build'}: ${out.reason}`;
  else {
    const h = hashOf(key, state.builds[key]!);
    const twins = Object.entries(state.builds).filter(([k, b]) => k !== key && b.ok && hashOf(k, b) === h).map(([k]) => k);
    const parent = step.kind === 'prefix' && step.count > 0 ? `p${step.count - 1}` : null;
    if (parent && twins.includes(parent)) detail = `same kernel as ${parent}: the patch changes nothing that is built; not tested again`;
    else if (twins.length) detail = `same kernel as ${twins.join(', ')}: its evidence is reused`;
    else detail = `built${out.imageHash ? ` (kernel ${out.imageHash.slice(0, 12)})` : ''}`;
  }
  pushEvent(state, step, 'build', detail);
}

export function applyTest(state: BisectState, step: StepSpec, batch: TestBatch): void {
  const key = stepKey(step);
  const b = state.builds[key];
  if (!b?.ok) throw new Error(`test results for ${key}, which has no good build`);
  const h = hashOf(key, b);
  const ev = (state.evidence[h] ??= emptyEvidence());
  let valid = 0;
  const seen = { pass: 0, crash: new Map<string, number>(), fail: 0, boot: 0, infra: 0 };
  for (const o of batch.outcomes) {
    switch (o.kind) {
      case 'pass':
        ev.runs++;
        ev.passes++;
        seen.pass++;
        valid++;
        break;
      case 'crash': {
        ev.runs++;
        const c = (ev.crashes[o.matchKey] ??= { title: o.title, count: 0, ...(o.ref ? { ref: o.ref } : {}) });
        c.count++;
        seen.crash.set(o.title, (seen.crash.get(o.title) ?? 0) + 1);
        valid++;
        break;
      }
      case 'fail':
        ev.runs++;
        bump(ev.failures, o.reason);
        seen.fail++;
        valid++;
        break;
      case 'boot-fail':
        bump(ev.bootFailures, o.reason);
        seen.boot++;
        valid++;
        break;
      case 'infra':
        ev.infra++;
        seen.infra++;
        break;
    }
  }
  ev.infraStreak = valid === 0 ? ev.infraStreak + 1 : 0;
  ev.boots += batch.boots;
  ev.batches++;
  state.used.boots += batch.boots;
  state.used.runs += batch.outcomes.length;
  const ctx = context(state);
  if (verdictOfEvidence(state.settings, ctx, ev).verdict === 'clean') ev.wasClean = true;
  const parts = [`${batch.outcomes.length} run(s), ${batch.boots} boot(s):`];
  if (seen.pass) parts.push(`${seen.pass} clean`);
  for (const [title, n] of seen.crash) parts.push(`${n}× ${title}`);
  if (seen.fail) parts.push(`${seen.fail} test failure(s)`);
  if (seen.boot) parts.push(`${seen.boot} boot failure(s)`);
  if (seen.infra) parts.push(`${seen.infra} infra error(s), retried`);
  pushEvent(state, step, 'test', parts.join(' '));
}

// Failure reasons are free text: keep the map bounded.
function bump(r: Record<string, number>, reason: string): void {
  const k = reason in r || Object.keys(r).length < 20 ? reason : 'other';
  r[k] = (r[k] ?? 0) + 1;
}

// ---------------------------------------------------------- decide ---
//
// decide() asks its rules in order; the first that has something to do wins:
//   1. stalledByInfra     a kernel whose batches keep ending in host errors stops the bisection
//   2. measureCrashingEnd build and run the crashing end until its rate is known, or give up on it
//   3. checkEnds          the assumed-good end must not show the bug (a fix bisection tests it first)
//   4. searchStep         the step between the last non-target and the first target verdict
//   5. verifyCandidate    one step left: culprit and parent judged, then the fallback chain
//                         (leave-out → revert on the bad end → the culprit alone against its parent)
//   6. topUpConfidence    clean runs added to the weakest clean verdict until the target is met
//   7. noCheckCould       the chain ran out: unverifiable (the tree's shape) or unconfirmed
// and otherwise the culprit is named, with the check that verified it.

/** What every rule sees: the state, what is derived from it, and the actions it may return. */
interface Decider {
  state: BisectState;
  s: BisectSettings;
  k: number;
  cause: boolean;
  ctx: Context;
  unit: 'patch' | 'commit';
  label: (step: StepSpec) => string;
  finish: (status: BisectStatus, reason: string, extra?: Partial<BisectOutcome>) => Action;
  /** Build a step, unless the build budget is spent. */
  build: (step: StepSpec, why: string) => Action;
  /** Test a step, within the boot and run budgets. */
  test: (step: StepSpec, runs: number, stop: StopRule, why: string) => Action;
  /** Build the step, or give it the runs its verdict still needs. */
  work: (step: StepSpec, why: string) => Action;
  /** Stop a batch once the step has the matching crashes a bad verdict needs. */
  stopRule: (matchingSoFar: number) => StopRule;
}

function decider(state: BisectState): Decider {
  const s = state.settings;
  const k = s.steps;
  const ctx = context(state);
  const unit = s.unit ?? 'patch';
  const finish: Decider['finish'] = (status, reason, extra = {}) => ({
    kind: 'done',
    outcome: { status, reason, culprit: null, candidates: [], confidence: confidence(state, ctx), confident: false, verification: null, ...extra },
  });
  const stopRule = (m: number): StopRule => ({ matching: Math.max(1, 2 - m), matchKey: s.bad === 'match' ? ctx.key : null, failures: s.bad === 'any-failure' });
  const build: Decider['build'] = (step, why) => {
    if (s.budget.builds !== null && state.used.builds >= s.budget.builds) return finish('budget', `build budget (${s.budget.builds}) used up before ${stepKey(step)}; resume with a larger --max-builds`);
    return { kind: 'build', step, why };
  };
  const test: Decider['test'] = (step, runs, stop, why) => {
    if (s.budget.boots !== null && state.used.boots >= s.budget.boots) return finish('budget', `boot budget (${s.budget.boots}) used up; resume with a larger --max-boots`);
    if (s.budget.runs !== null) {
      const left = s.budget.runs - state.used.runs;
      if (left <= 0) return finish('budget', `run budget (${s.budget.runs}) used up; resume with a larger --max-total-runs`);
      runs = Math.min(runs, left);
    }
    return { kind: 'test', step, runs: Math.max(1, runs), stop, why };
  };
  const work: Decider['work'] = (step, why) => {
    const key = stepKey(step);
    if (!state.builds[key]) return build(step, why);
    const ev = evidenceFor(state, key);
    const m = matching(ev, s.bad, ctx.key);
    const passes = ev?.passes ?? 0;
    const need = m === 0 ? ctx.needClean - passes : ctx.needClean;
    return test(step, Math.min(Math.max(1, need), s.maxRunsPerStep - attempts(ev)), stopRule(m), why);
  };
  return { state, s, k, cause: s.direction === 'cause', ctx, unit, label: (step) => stepLabel(step, k, unit), finish, build, test, work, stopRule };
}

/** The step key of a kernel's first build (evidence is kept per kernel, actions name steps). */
function stepOfKernel(state: BisectState, hash: string): string | undefined {
  return Object.keys(state.builds).find((key) => state.builds[key]!.ok && hashOf(key, state.builds[key]!) === hash);
}

/** 1. Batch after batch of infrastructure errors on one kernel: the host is broken, not the kernel. */
function stalledByInfra(d: Decider): Action | null {
  for (const [h, ev] of Object.entries(d.state.evidence)) {
    if (ev.infraStreak >= d.s.maxInfraRetries) {
      const step = stepOfKernel(d.state, h) ?? h;
      return d.finish('infra-error', `${ev.infraStreak} batches in a row on ${step} ended in infrastructure errors; fix the host and resume`);
    }
  }
  return null;
}

/** 2. The crashing end: does it reproduce, and how often? Rare enough bugs are refused, not guessed. */
function measureCrashingEnd(d: Decider): Action | null {
  const { s, state, ctx } = d;
  const endStep = prefix(crashingEnd(s));
  const endKey = stepKey(endStep);
  const endBuild = state.builds[endKey];
  if (!endBuild) return d.build(endStep, 'the bad end first, to measure how often the bug shows');
  if (!endBuild.ok) return d.finish('end-untestable', `the bad end (${d.label(endStep)}) ${endBuild.failure === 'apply' ? 'does not apply' : 'does not build'}: ${endBuild.reason}`);
  const endEv = evidenceFor(state, endKey);
  const mEnd = matching(endEv, s.bad, ctx.key);
  const endAttempts = attempts(endEv);
  if (endEv && endEv.runs === 0 && sum(endEv.bootFailures) >= 3) {
    return d.finish('end-untestable', `the bad end does not boot: ${Object.keys(endEv.bootFailures).join('; ')}`);
  }
  if (mEnd < s.endCrashes && endAttempts < s.maxRunsPerStep) {
    return d.test(
      endStep,
      s.maxRunsPerStep - endAttempts,
      { matching: s.endCrashes - mEnd, matchKey: s.bad === 'match' ? ctx.key : null, failures: s.bad === 'any-failure' },
      `measuring the reproduction rate on the bad end (${mEnd}/${s.endCrashes} crashes)`,
    );
  }
  if (mEnd < 2) {
    const what = s.bad === 'match' && s.matchKey ? `the crash ${s.matchKey}` : 'the bug';
    return d.finish('not-reproduced', `the bad end showed ${what} ${mEnd} time(s) in ${endAttempts} runs; a verdict needs at least 2`);
  }
  if (ctx.needClean > s.maxRunsPerStep) {
    return d.finish(
      'too-rare',
      `the bug shows in ${ctx.rate.hits} of ${ctx.rate.trials} runs (rate ≥ ${ctx.rate.lower.toFixed(3)}): a clean verdict needs ${ctx.needClean} runs, over --max-runs ${s.maxRunsPerStep}`,
    );
  }
  return null;
}

/** Where the change sits, from every prefix's verdict. */
interface Transition {
  /** Each prefix's own verdict. */
  raw: StepVerdict[];
  /** The verdicts the search uses: the assumed end counts as clean. */
  eff: Verdict[];
  /** The last step without the change and the first with it. */
  lo: number;
  hi: number;
  /** Verdicts on the wrong side of lo or hi. */
  conflicts: string[];
}

function transition(d: Decider): Transition {
  const { k, cause } = d;
  const A = assumedEnd(d.s);
  const isTarget = (v: Verdict) => (cause ? v === 'bug' : v === 'clean');
  const isNon = (v: Verdict) => (cause ? v === 'clean' : v === 'bug');
  const raw: StepVerdict[] = [];
  for (let i = 0; i <= k; i++) raw.push(verdictOf(d.state, d.ctx, `p${i}`));
  const eff = raw.map((v, i) => (i === A ? 'clean' : v.verdict));
  let lo = 0;
  for (let i = 0; i <= k; i++) if (isNon(eff[i]!)) lo = i;
  let hi = k;
  for (let i = lo + 1; i <= k; i++) {
    if (isTarget(eff[i]!)) {
      hi = i;
      break;
    }
  }
  const conflicts: string[] = [];
  for (let i = 0; i < lo; i++) if (isTarget(eff[i]!)) conflicts.push(`p${i} is ${eff[i]} but p${lo} is ${eff[lo]}`);
  for (let i = hi + 1; i <= k; i++) if (isNon(eff[i]!)) conflicts.push(`p${i} is ${eff[i]} but p${hi} is ${eff[hi]}`);
  return { raw, eff, lo, hi, conflicts };
}

/** The last step known without the change and the first known with it: what the search has narrowed to. */
export function knownRange(state: BisectState): { lo: number; hi: number } {
  const { lo, hi } = transition(decider(state));
  return { lo, hi };
}

/** 3. The assumed-good end showing the bug means there is no transition to find. */
function checkEnds(d: Decider, t: Transition): Action | null {
  const A = assumedEnd(d.s);
  const end = t.raw[A]!;
  if (end.verdict === 'bug') {
    return d.finish(
      'no-transition',
      d.cause ? `the base already shows the bug (${end.why}): it is older than the ${d.k} steps` : `the good end still shows the bug (${end.why}): nothing in the range fixed it`,
    );
  }
  // A fix bisection tests its good end up front: a crash present everywhere
  // satisfies the leave-out check (which expects the bug) on its own, so only
  // a clean good end tells "fixed" from "one missed run".
  if (!d.cause && (end.verdict === 'unbuilt' || end.verdict === 'pending')) return d.work(prefix(A), 'the good end: the fix must leave it clean');
  return null;
}

/** 4. The next step to judge between lo and hi, or the range that skipped steps leave. */
function searchStep(d: Decider, t: Transition): Action | null {
  const { lo, hi, eff, raw } = t;
  const cands: number[] = [];
  for (let i = lo + 1; i < hi; i++) if (eff[i] !== 'skip') cands.push(i);
  if (cands.length) {
    const mid = (lo + hi) / 2;
    const pick = d.s.strategy === 'linear' ? cands[0]! : cands.reduce((a, b) => (Math.abs(b - mid) < Math.abs(a - mid) ? b : a));
    return d.work(prefix(pick), `between ${d.label(prefix(lo))} (${eff[lo]}) and ${d.label(prefix(hi))} (${eff[hi]})`);
  }
  if (hi - lo > 1) {
    const candidates = Array.from({ length: hi - lo }, (_, j) => lo + 1 + j);
    const skipped = candidates.slice(0, -1).map((i) => `p${i}: ${raw[i]!.why}`);
    return d.finish('range', `the first ${d.cause ? 'bad' : 'good'} step is one of ${candidates.join(', ')}; skipped: ${skipped.join('; ')}`, { candidates });
  }
  return null;
}

/** The checks behind naming step r: each side of the transition judged as expected, and the fallback chain. */
class Checks {
  /** The chain's checks tried so far, in order. */
  readonly attempts: VerificationAttempt[] = [];

  constructor(
    readonly d: Decider,
    readonly t: Transition,
    readonly r: number,
  ) {}

  /** What a check expects of a kernel with (target) or without the change. */
  want(target: boolean): 'bug' | 'clean' {
    return (this.d.cause ? target : !target) ? 'bug' : 'clean';
  }

  check(step: StepSpec | null, expected: 'bug' | 'clean', verdict: VerificationCheck['verdict']): VerificationCheck {
    return { step: step ? stepKey(step) : null, expected, verdict, ok: verdict === expected || verdict === 'same-as-parent' };
  }

  /** The attempt that verified, if any. */
  get verifiedBy(): VerificationAttempt | undefined {
    return this.attempts.find((a) => a.ok);
  }

  verification(): Verification {
    const c = this.check(prefix(this.r), this.want(true), this.t.raw[this.r]!.verdict);
    const p = this.check(prefix(this.r - 1), this.want(false), this.t.raw[this.r - 1]!.verdict);
    const by = this.verifiedBy;
    const last = by ?? this.attempts[this.attempts.length - 1];
    const leaveOut: VerificationCheck = last ? { step: last.step, expected: last.expected, verdict: last.verdict, ok: last.ok } : this.check(null, this.want(false), 'unbuilt');
    return { culprit: c, parent: p, leaveOut, agrees: c.ok && p.ok && leaveOut.ok, by: by?.check ?? null, attempts: this.attempts.map((a) => ({ ...a })) };
  }

  /** Named, but not confidently. */
  unconfirmed(reason: string): Action {
    return this.d.finish('unconfirmed', reason, { culprit: this.r, candidates: [this.r], verification: this.verification() });
  }

  /** Record a check of the chain: it verified (ok), or could not be made (the chain goes on). */
  attempt(check: VerificationMethod, c: VerificationCheck, why: string): VerificationAttempt {
    const a = { ...c, check, why };
    this.attempts.push(a);
    return a;
  }
}

/** 5a. The candidate and its parent each need a verdict of their own. */
function judgeBothSides(c: Checks): Action | null {
  const { d, r } = c;
  for (const [i, role] of [
    [r, d.cause ? 'the culprit' : 'the fix'],
    [r - 1, 'its parent'],
  ] as const) {
    const step = prefix(i);
    const v = c.t.raw[i]!;
    if (v.verdict === 'unbuilt' || v.verdict === 'pending') return d.work(step, `verifying ${role}`);
    if (v.verdict === 'skip') return c.unconfirmed(`${d.unit} ${r} is the only candidate, but ${role} (${d.label(step)}) cannot be judged: ${v.why}`);
  }
  return null;
}

/**
 * 5b. The side of the transition without the change, standing alone: twice
 * the clean runs a search step needs. It stands in for the leave-out when
 * the candidate is the last patch (leaving it out gives the parent back, no
 * second kernel to check), and is the chain's last resort (isolation): the
 * culprit alone against its parent, no later patch involved.
 */
function byCleanSide(c: Checks, as: 'leave-out' | 'isolation'): Action | VerificationAttempt {
  const { d, r } = c;
  const { s, ctx } = d;
  const cleanSide = d.cause ? r - 1 : r;
  const step = prefix(cleanSide);
  const ev = evidenceFor(d.state, stepKey(step));
  const twice = 2 * ctx.needClean;
  const passes = ev?.passes ?? 0;
  const role = as === 'leave-out' ? 'stands in for the leave-out' : `stands alone against ${d.cause ? 'the culprit' : 'its parent'}`;
  if (passes < twice && attempts(ev) < s.maxRunsPerStep) {
    return d.test(step, Math.min(twice - passes, s.maxRunsPerStep - attempts(ev)), d.stopRule(0), `verifying: ${d.label(step)} ${role}, so it needs ${twice} clean runs`);
  }
  const done = passes >= twice;
  const check = as === 'leave-out' ? c.check(null, c.want(false), done ? 'same-as-parent' : 'pending') : c.check(step, 'clean', done ? 'clean' : 'pending');
  const why = done
    ? `${d.label(step)} ${role}: ${passes} clean runs, none matching`
    : `${d.label(step)} ${role}: it needs ${twice} clean runs, more than --max-runs ${s.maxRunsPerStep} (resume with a larger --max-runs)`;
  return c.attempt(as, check, why);
}

/**
 * 5c. A kernel without the candidate, the rest of the series (or range)
 * kept: it must look like the side without the change. A mismatch is
 * evidence against the candidate and ends the chain; a kernel that does not
 * apply, build or boot only means this check cannot be made.
 */
function byKernelWithout(c: Checks, step: StepSpec, as: 'leave-out' | 'revert'): Action | VerificationAttempt {
  const { d, r } = c;
  const name =
    step.kind === 'without' && d.unit === 'patch' ? 'the series without it' : d.unit === 'patch' ? `the series with it reverted on top` : 'the newest commit with it reverted';
  const key = stepKey(step);
  const b = d.state.builds[key];
  if (!b) return d.build(step, `verifying (${as}): ${name}`);
  if (!b.ok) {
    const how = b.failure === 'apply' ? 'does-not-apply' : 'does-not-build';
    const what = b.failure !== 'apply' ? 'does not build' : as === 'revert' ? 'conflicts' : 'does not apply';
    return c.attempt(as, c.check(step, c.want(false), how), `${name} ${what}: ${b.reason}`);
  }
  const v = verdictOf(d.state, d.ctx, key);
  if (v.verdict === 'pending') return d.work(step, `verifying (${as}): ${name}`);
  const a = c.attempt(as, c.check(step, c.want(false), v.verdict), `${name}: ${v.why}`);
  if (a.ok || v.verdict === 'skip') return a;
  return c.unconfirmed(
    d.cause
      ? `${d.unit} ${r} is the first bad step, but ${name} still shows the bug (${v.why}): more than one patch is involved, or the bug is too flaky for this budget`
      : `${d.unit} ${r} is the first good step, but ${name} is clean too (${v.why}): it is not the only fix`,
  );
}

/**
 * The fallback chain, in order, each tried only when the ones before it could
 * not be made: leave the candidate out; revert it on top of the bad end;
 * the culprit alone against its parent. Over a range leaving a commit out is
 * reverting it, so the chain starts at the revert; for the last patch leaving
 * it out is the parent, which is then all there is.
 */
function chain(d: Decider, r: number): Array<{ as: VerificationMethod; step: StepSpec | null }> {
  const leave = canonicalStep({ kind: 'without', patch: r }, d.k);
  if (leave.kind === 'prefix') return [{ as: 'leave-out', step: null }];
  if (d.unit === 'commit') return [{ as: 'revert', step: leave }, { as: 'isolation', step: null }];
  return [{ as: 'leave-out', step: leave }, { as: 'revert', step: { kind: 'revert', patch: r } }, { as: 'isolation', step: null }];
}

/** 5. One step left: verify it before naming it. Done (no action) once a check verified it or none could. */
function verifyCandidate(c: Checks): Action | null {
  const { d, t, r } = c;
  const sides = judgeBothSides(c);
  if (sides) return sides;
  for (const link of chain(d, r)) {
    const got = link.step === null ? byCleanSide(c, link.as as 'leave-out' | 'isolation') : byKernelWithout(c, link.step, link.as as 'leave-out' | 'revert');
    if ('kind' in got) return got;
    if (got.ok) break;
  }
  if (t.conflicts.length) return c.unconfirmed(`contradictory evidence: ${t.conflicts.join('; ')}`);
  const A = assumedEnd(d.s);
  if (!d.cause && t.raw[A]!.verdict === 'skip') return c.unconfirmed(`${d.unit} ${r} is the first good step, but the good end cannot be judged (${t.raw[A]!.why}): not verified`);
  return null;
}

/** 6. Enough clean runs overall? Top up the weakest clean verdict until the product reaches the target. */
function topUpConfidence(c: Checks): Action | null {
  const { d, r } = c;
  const { s, state, ctx } = d;
  const conf = confidence(state, ctx);
  if (conf >= s.targetConfidence) return null;
  const clean = cleanKernels(state, ctx);
  const kernels = clean.filter((ev) => attempts(ev) < s.maxRunsPerStep);
  const checked = c.verifiedBy ? 'verified' : 'named';
  if (!kernels.length) return c.unconfirmed(`${d.unit} ${r} ${checked}, but confidence ${conf.toFixed(3)} stays below ${s.targetConfidence} within --max-runs ${s.maxRunsPerStep}`);
  const weakest = kernels.reduce((a, b) => (b.passes < a.passes ? b : a));
  const h = Object.keys(state.evidence).find((x) => state.evidence[x] === weakest)!;
  const key = stepOfKernel(state, h)!;
  const need = runsNeeded(ctx.rate.lower, 1 - Math.pow(s.targetConfidence, 1 / clean.length)) - weakest.passes;
  return d.test(parseStepKey(key), Math.min(Math.max(1, need), s.maxRunsPerStep - attempts(weakest)), d.stopRule(0), `confidence ${conf.toFixed(3)} is below ${s.targetConfidence}: more clean runs on ${key}`);
}

const SHAPE: ReadonlySet<VerificationCheck['verdict']> = new Set(['does-not-apply', 'does-not-build']);

/** 7. The chain ran out: because of the tree's shape (its own status), or for any other reason. */
function noCheckCould(c: Checks): Action {
  const { d, r } = c;
  const whys = c.attempts.map((a) => `${a.check}: ${a.why}`).join('; ');
  const named = `${d.cause ? 'first bad' : 'first good'} ${d.unit} ${r} at confidence ${confidence(d.state, d.ctx).toFixed(3)}, ${d.cause ? 'its parent clean' : 'its parent still bad'}`;
  if (c.attempts.some((a) => SHAPE.has(a.verdict))) {
    return d.finish('unverifiable', `${named}, but no check could verify it because of the tree's shape (${whys})`, {
      culprit: r,
      candidates: [r],
      verification: c.verification(),
    });
  }
  return c.unconfirmed(`${named}, but no check could verify it (${whys})`);
}

export function decide(state: BisectState): Action {
  const d = decider(state);
  const early = stalledByInfra(d) ?? measureCrashingEnd(d);
  if (early) return early;
  const t = transition(d);
  const searching = checkEnds(d, t) ?? searchStep(d, t);
  if (searching) return searching;
  const c = new Checks(d, t, t.hi);
  const verifying = verifyCandidate(c) ?? topUpConfidence(c);
  if (verifying) return verifying;
  const by = c.verifiedBy;
  if (!by) return noCheckCould(c);
  const how = by.check === 'leave-out' ? 'verified both ways' : `verified by ${by.check === 'revert' ? 'reverting it' : 'isolation'} (${c.attempts.filter((a) => !a.ok).map((a) => `${a.check}: ${a.why}`).join('; ')})`;
  return d.finish('culprit', `${d.cause ? 'first bad' : 'first good'} ${d.unit} ${c.r}, ${how}`, {
    culprit: c.r,
    candidates: [c.r],
    confident: true,
    verification: c.verification(),
  });
}
