// The bisection engine's verdict rules and search, on scripted environments
// whose every run is decided by the test (no randomness): what counts as bad,
// when clean is believable, skips, no-op patches, infra errors, verification
// both ways, resume.
import t from 'tap';
import {
  applyBuild,
  context,
  decide,
  MIN_CLEAN_RUNS,
  newBisection,
  stepKey,
  stepMissFor,
  verdictOf,
  type NewBisection,
} from '../../harness/src/workflows/bisect/engine.ts';
import { runBisection, formatEvent } from '../../harness/src/workflows/bisect/driver.ts';
import { buildRecord, summaryText } from '../../harness/src/workflows/bisect/report.ts';
import type { BisectEnv, BisectState, BuildOutcome, RunOutcome, StepSpec, StopRule, TestBatch } from '../../harness/src/workflows/bisect/types.ts';

const BUG: RunOutcome = { kind: 'crash', matchKey: 'BUG: dax_insert_pfn_pmd', title: 'kernel BUG in dax_insert_pfn_pmd' };
const OTHER: RunOutcome = { kind: 'crash', matchKey: 'WARNING: xfs_ilock lockdep', title: 'possible circular locking dependency in xfs_ilock' };
const PASS: RunOutcome = { kind: 'pass' };

interface Script {
  /** Patches whose removal does not apply, build failures... (null: builds). */
  build?: (patches: number[], step: StepSpec) => BuildOutcome | null;
  /** Patches that change nothing built. */
  noop?: number[];
  /** Outcome of the i-th run (0-based, per step) of a kernel with these patches. */
  run: (patches: number[], i: number, step: StepSpec) => RunOutcome;
}

class ScriptEnv implements BisectEnv {
  calls: string[] = [];
  counters = new Map<string, number>();
  constructor(
    readonly k: number,
    readonly script: Script,
  ) {}
  patches(step: StepSpec): number[] {
    return Array.from({ length: this.k }, (_, j) => j + 1).filter((j) => (step.kind === 'prefix' ? j <= step.count : j !== step.patch));
  }
  async build(step: StepSpec): Promise<BuildOutcome> {
    this.calls.push(`build ${stepKey(step)}`);
    const ps = this.patches(step);
    const b = this.script.build?.(ps, step);
    if (b) return b;
    return { ok: true, imageHash: 'k' + ps.filter((p) => !this.script.noop?.includes(p)).join('.'), reason: 'built' };
  }
  async test(step: StepSpec, runs: number, stop: StopRule): Promise<TestBatch> {
    this.calls.push(`test ${stepKey(step)} ${runs}`);
    const key = stepKey(step);
    const outcomes: RunOutcome[] = [];
    let boots = 1;
    let matched = 0;
    while (outcomes.length < runs) {
      const i = this.counters.get(key) ?? 0;
      this.counters.set(key, i + 1);
      const o = this.script.run(this.patches(step), i, step);
      outcomes.push(o);
      if (o.kind === 'boot-fail') break;
      if (o.kind === 'crash' && (stop.matchKey === null || stop.matchKey === o.matchKey)) matched++;
      if (o.kind === 'fail' && stop.failures) matched++;
      if (matched >= stop.matching) break;
      if ((o.kind === 'crash' || o.kind === 'infra') && outcomes.length < runs) boots++;
    }
    return { outcomes, boots };
  }
}

async function bisect(k: number, script: Script, o: Partial<NewBisection> = {}) {
  const env = new ScriptEnv(k, script);
  const state = newBisection({ direction: 'cause', steps: k, ...o });
  const lines: string[] = [];
  const outcome = await runBisection(state, env, { progress: (l) => lines.push(l) });
  return { env, state, outcome, lines };
}

/** The bug arrives with patch c and crashes on every other run. */
const flakyFrom = (c: number): Script => ({ run: (ps, i) => (ps.includes(c) && i % 2 === 0 ? BUG : PASS) });

t.test('the bad end is built and measured first, until it has crashed enough', async (t) => {
  const state = newBisection({ direction: 'cause', steps: 8 });
  const a = decide(state);
  t.match(a, { kind: 'build', step: { kind: 'prefix', count: 8 } });
  applyBuild(state, { kind: 'prefix', count: 8 }, { ok: true, imageHash: 'h8', reason: 'built' });
  const b = decide(state);
  t.match(b, { kind: 'test', step: { kind: 'prefix', count: 8 }, stop: { matching: 6, matchKey: null } });
  t.ok(b.kind === 'test' && b.runs >= 100, 'room to reach the crash count');
});

t.test('a flaky bug in 8 patches: named, verified both ways, clean verdicts with exactly the runs the formula asks', async (t) => {
  const { state, outcome, env, lines } = await bisect(8, flakyFrom(5));
  t.equal(outcome.status, 'culprit');
  t.equal(outcome.culprit, 5);
  t.ok(outcome.confident);
  t.ok(outcome.confidence >= 0.95, `confidence ${outcome.confidence}`);
  t.match(outcome.verification, { culprit: { step: 'p5', verdict: 'bug', ok: true }, parent: { step: 'p4', verdict: 'clean', ok: true }, leaveOut: { step: 'w5', verdict: 'clean', ok: true }, agrees: true });
  // Every kernel with patch 5 crashes on its runs 0, 2, 4, ...: the bad end stops at its 6th crash
  // (6 in 11 runs), p6 and p5 at their 2nd (2 in 3 each), so the pooled rate is 10 crashes in 17 runs.
  // The expected numbers below were worked out apart from the engine (an exact binomial sum in
  // Python): the one-sided 95% Clopper-Pearson bound for 10/17 is 0.364009, the per-verdict miss for
  // 8 patches is 1 - 0.95^(1/5) = 0.010206, so a clean verdict needs ceil(10.13) = 11 runs. While only
  // the bad end was known (6/11, bound 0.271250) the first search step, p4, was given ceil(14.49) = 15.
  const ctx = context(state);
  t.same({ hits: ctx.rate.hits, trials: ctx.rate.trials }, { hits: 10, trials: 17 }, 'rate pooled over the crashing kernels');
  t.ok(Math.abs(ctx.rate.lower - 0.364009) < 1e-6, `rate bound ${ctx.rate.lower}`);
  t.equal(ctx.needClean, 11);
  t.equal(state.evidence[state.builds['p4']!.imageHash!]!.passes, 15, 'parent: the runs asked for at the bad end\'s bound');
  t.equal(state.evidence[state.builds['w5']!.imageHash!]!.passes, 11, 'leave-out: the runs asked for at the pooled bound');
  // 1 - (1 - 0.364009)^15 times 1 - (1 - 0.364009)^11
  t.ok(Math.abs(outcome.confidence - 0.991995) < 1e-6, `confidence ${outcome.confidence}`);
  t.equal(env.calls[0], 'build p8');
  t.equal(lines.length, state.log.length, 'one progress line per action');
  for (const l of lines) t.match(l, /confidence \d\.\d{3}/);
});

t.test('the per-verdict miss and the floor of clean runs, at known values', async (t) => {
  // 8 patches: ceil(log2 8) + 2 = 5 clean verdicts share the 5% → 1 - 0.95^(1/5) each.
  t.ok(Math.abs(stepMissFor(8, 0.95) - 0.0102062) < 1e-7);
  t.equal(stepMissFor(1, 0.5), 0.05, 'never looser than 5% a verdict');
  // A bug that crashed all 6 runs: bound 0.05^(1/6) = 0.6070, and ceil(ln 0.0102 / ln 0.393) = 5 runs
  // would do, but a clean verdict never rests on fewer than syzkaller's 10.
  const state = newBisection({ direction: 'cause', steps: 8 });
  state.builds['p8'] = { ok: true, imageHash: 'h8', reason: 'built' };
  state.evidence['h8'] = { runs: 6, passes: 0, crashes: { [BUG.kind === 'crash' ? BUG.matchKey : '']: { title: 't', count: 6 } }, failures: {}, bootFailures: {}, infra: 0, infraStreak: 0, boots: 6, batches: 1 };
  t.ok(Math.abs(context(state).rate.lower - 0.607) < 1e-3);
  t.equal(MIN_CLEAN_RUNS, 10);
  t.equal(context(state).needClean, 10);
});

t.test('one matching crash is not enough for bad, and never lets the step be good', async (t) => {
  // p3 carries the bug but its kernel shows it rarely: run 0, then run 40.
  const env = new ScriptEnv(6, {
    run: (ps, i, step) => {
      if (!ps.includes(3)) return PASS;
      if (step.kind === 'prefix' && step.count === 3) return i === 0 || i === 40 ? BUG : PASS;
      return i % 2 === 0 ? BUG : PASS;
    },
  });
  const state = newBisection({ direction: 'cause', steps: 6 });
  let sawOne = false;
  for (let n = 0; n < 100; n++) {
    const a = decide(state);
    if (a.kind === 'done') break;
    const ev = state.builds['p3'] ? state.evidence[state.builds['p3'].imageHash!] : undefined;
    if (ev && ev.crashes['BUG: dax_insert_pfn_pmd']?.count === 1) {
      sawOne = true;
      t.equal(verdictOf(state, context(state), 'p3').verdict, 'pending', 'one crash: neither bad nor good');
      t.match(a, { kind: 'test', step: { kind: 'prefix', count: 3 }, stop: { matching: 1 } }, 'more runs on the same step, until a second crash');
    }
    await runOne(state, env, a);
  }
  t.ok(sawOne);
  const out = decide(state);
  t.match(out, { kind: 'done', outcome: { culprit: 3 } });
});

t.test('a step that only ever shows another crash is skipped as undecided', async (t) => {
  const { state, outcome } = await bisect(6, { run: (ps, i) => (ps.includes(5) && i % 2 === 0 ? BUG : ps.includes(3) && !ps.includes(4) ? OTHER : PASS) }, { maxRunsPerStep: 40, strategy: 'linear' });
  const v = verdictOf(state, context(state), 'p3');
  t.equal(v.verdict, 'skip');
  t.match(v.why, /undecided after 40 runs \(0 matching, 0 clean\)/);
  t.equal(outcome.culprit, 5, 'the skip does not hide a culprit elsewhere');
});

t.test('a different crash is noise, recorded but not bad; --any-crash widens it', async (t) => {
  // Patch 2 brings an unrelated warning that fires often; patch 5 the bug.
  const script: Script = {
    run: (ps, i) => {
      if (ps.includes(5) && i % 2 === 0) return BUG;
      if (ps.includes(2) && i % 3 === 1) return OTHER;
      return PASS;
    },
  };
  const narrow = await bisect(8, script);
  t.equal(narrow.outcome.culprit, 5);
  t.equal(narrow.outcome.status, 'culprit');
  const p4 = narrow.state.evidence[narrow.state.builds['p4']!.imageHash!]!;
  t.ok((p4.crashes[OTHER.kind === 'crash' ? OTHER.matchKey : '']?.count ?? 0) > 0, 'the other crash is in the evidence');
  const record = buildRecord(narrow.state, narrow.outcome, meta(8));
  const r4 = record.steps.find((s) => s.step === 'p4')!;
  t.match(r4.crashes, [{ title: OTHER.kind === 'crash' ? OTHER.title : '', matching: false }]);
  t.equal(r4.verdict, 'clean');

  const wide = await bisect(8, script, { bad: 'any-crash' });
  t.equal(wide.outcome.culprit, 2, 'with any crash counting, the warning is the bug');
});

t.test('--any-failure counts test failures', async (t) => {
  const script: Script = { run: (ps, i) => (ps.includes(4) && i % 2 === 0 ? { kind: 'fail', reason: 'pattern mismatch' } : PASS) };
  const plain = await bisect(6, script);
  t.equal(plain.outcome.status, 'not-reproduced', 'no crash at all on the bad end');
  const wide = await bisect(6, script, { bad: 'any-failure' });
  t.equal(wide.outcome.culprit, 4);
  t.equal(wide.outcome.status, 'culprit');
});

t.test('a step that does not build is skipped; next to the culprit it leaves a range', async (t) => {
  const broken = (ps: number[]) => (ps.includes(3) && !ps.includes(4) ? { ok: false, imageHash: null, failure: 'build' as const, reason: 'error: implicit declaration' } : null);
  const far = await bisect(8, { build: broken, run: flakyFrom(7).run });
  t.equal(far.outcome.culprit, 7);
  const near = await bisect(8, { build: broken, run: flakyFrom(4).run });
  t.equal(near.outcome.status, 'range');
  t.same(near.outcome.candidates, [3, 4]);
  t.equal(verdictOf(near.state, context(near.state), 'p3').verdict, 'skip');
  t.notOk(near.outcome.confident);
});

t.test('a patch that builds the same kernel as its parent is recognised and not tested again', async (t) => {
  const { env, state, outcome } = await bisect(8, { noop: [4], run: flakyFrom(6).run }, { strategy: 'linear' });
  t.equal(outcome.culprit, 6);
  t.ok(env.calls.includes('build p4'));
  t.notOk(env.calls.some((c) => c.startsWith('test p4 ')), 'p4 never ran: p3 is the same kernel');
  t.match(state.log.find((e) => e.step === 'p4')!.detail, /same kernel as p3/);
  const rec = buildRecord(state, outcome, meta(8));
  t.match(rec.steps.find((s) => s.step === 'p4'), { build: { noop: true, sameKernelAs: 'p3' }, verdict: 'clean' });
});

t.test('infra errors are retried and never counted; too many in a row stop the bisection', async (t) => {
  const { state, outcome } = await bisect(4, { run: (ps, i) => (i < 3 ? { kind: 'infra', reason: 'ssh lost' } : ps.includes(2) && i % 2 === 0 ? BUG : PASS) });
  t.equal(outcome.culprit, 2);
  const end = state.evidence[state.builds['p4']!.imageHash!]!;
  t.equal(end.infra, 3);
  t.equal(end.runs, Object.values(end.crashes).reduce((a, c) => a + c.count, 0) + end.passes, 'infra outcomes are outside runs');
  const dead = await bisect(4, { run: () => ({ kind: 'infra', reason: 'qemu died' }) });
  t.equal(dead.outcome.status, 'infra-error');
});

t.test('a boot failure the bad end did not have skips the step; one it had is neutral', async (t) => {
  const noBoot: RunOutcome = { kind: 'boot-fail', reason: 'no ssh within 180 s' };
  const unseen = await bisect(8, { run: (ps, i) => (ps.includes(3) && !ps.includes(4) ? noBoot : flakyFrom(6).run(ps, i, { kind: 'prefix', count: 0 })) });
  t.equal(unseen.outcome.culprit, 6);
  // Flaky boots everywhere, the bad end included: neutral, retried.
  const seen = await bisect(8, { run: (ps, i) => (i % 5 === 1 ? noBoot : flakyFrom(6).run(ps, i, { kind: 'prefix', count: 0 })) });
  t.equal(seen.outcome.culprit, 6);
  const ctx = context(seen.state);
  t.ok(ctx.knownBoot.has('no ssh within 180 s'));
  const never = await bisect(8, { run: (ps, i) => (ps.includes(3) && !ps.includes(4) ? noBoot : flakyFrom(4).run(ps, i, { kind: 'prefix', count: 0 })) });
  t.equal(verdictOf(never.state, context(never.state), 'p3').verdict, 'skip');
  t.match(verdictOf(never.state, context(never.state), 'p3').why, /does not boot/);
});

const noApply = (patch: number) => (_ps: number[], step: StepSpec): BuildOutcome | null =>
  step.kind === 'without' && step.patch === patch ? { ok: false, imageHash: null, failure: 'apply', reason: `patch ${patch + 1} does not apply without patch ${patch}` } : null;
const conflicts = (patch: number) => (ps: number[], step: StepSpec): BuildOutcome | null =>
  step.kind === 'revert' && step.patch === patch ? { ok: false, imageHash: null, failure: 'apply', reason: `Revert "patch ${patch}" does not apply (file fs/dax.c)` } : noApply(patch)(ps, step);

t.test('the leave-out disagrees: evidence against the culprit ends the chain, no revert tried', async (t) => {
  // Patches 3 and 6 each bring the crash: bisection stops at 3, but the series without 3 still crashes.
  const two = await bisect(8, { run: (ps, i) => ((ps.includes(3) || ps.includes(6)) && i % 2 === 0 ? BUG : PASS) });
  t.equal(two.outcome.status, 'unconfirmed');
  t.equal(two.outcome.culprit, 3);
  t.notOk(two.outcome.confident);
  t.match(two.outcome.verification, { leaveOut: { step: 'w3', verdict: 'bug', ok: false }, by: null, attempts: [{ check: 'leave-out', step: 'w3', verdict: 'bug', ok: false }] });
  t.equal(two.outcome.verification!.attempts.length, 1);
  t.match(two.outcome.reason, /without it still shows the bug/);
  t.notOk(two.env.calls.some((c) => / r3/.test(c)), 'a leave-out that shows the bug is an answer: the revert is not built');
});

t.test('the leave-out does not apply: the culprit reverted on top of the bad end verifies it', async (t) => {
  const { outcome, env, state } = await bisect(8, { build: noApply(5), run: flakyFrom(5).run });
  t.equal(outcome.status, 'culprit');
  t.equal(outcome.culprit, 5);
  t.ok(outcome.confident);
  t.match(outcome.verification, {
    by: 'revert',
    leaveOut: { step: 'r5', expected: 'clean', verdict: 'clean', ok: true },
    agrees: true,
    attempts: [
      { check: 'leave-out', step: 'w5', verdict: 'does-not-apply', ok: false, why: /does not apply: patch 6 does not apply without patch 5/ },
      { check: 'revert', step: 'r5', verdict: 'clean', ok: true },
    ],
  });
  t.equal(outcome.verification!.attempts.length, 2);
  t.match(outcome.reason, /verified by reverting it \(leave-out: the series without it does not apply/);
  t.ok(env.calls.indexOf('build w5') < env.calls.indexOf('build r5'), 'the leave-out first, then the revert');
  t.equal(state.evidence[state.builds['r5']!.imageHash!]!.passes, context(state).needClean, 'the revert is judged like any clean step');
  const record = buildRecord(state, outcome, meta(8));
  t.same(record.steps.map((s) => s.step).slice(-2), ['w5', 'r5'], 'the revert step is in bisect.json, after the leave-out');
  t.match(record.steps.find((s) => s.step === 'r5'), { label: 'all 8, patch 5 reverted', verdict: 'clean' });
  t.match(summaryText(record), /verified by  revert/);
});

t.test('leave-out and revert both fail: the culprit alone against its parent, with twice the clean runs', async (t) => {
  const { outcome, env, state } = await bisect(8, { build: conflicts(5), run: flakyFrom(5).run });
  t.equal(outcome.status, 'culprit');
  t.ok(outcome.confident);
  t.match(outcome.verification, {
    by: 'isolation',
    leaveOut: { step: 'p4', expected: 'clean', verdict: 'clean', ok: true },
    attempts: [
      { check: 'leave-out', verdict: 'does-not-apply', ok: false },
      { check: 'revert', step: 'r5', verdict: 'does-not-apply', ok: false, why: /conflicts: Revert/ },
      { check: 'isolation', step: 'p4', ok: true },
    ],
  });
  t.match(outcome.reason, /verified by isolation \(leave-out: .*does not apply.*; revert: .*conflicts/);
  t.equal(state.evidence[state.builds['p4']!.imageHash!]!.passes, 2 * context(state).needClean);
  t.notOk(env.calls.some((c) => /^test [wr]5/.test(c)), 'nothing that did not build is tested');
});

t.test('no check can be made because of the tree\'s shape: its own status, not "no culprit"', async (t) => {
  // At rate 1/2 a clean verdict needs 15 runs, so --max-runs 15 leaves the parent short of the 2 × 11 it needs to stand alone.
  const { outcome, state } = await bisect(8, { build: conflicts(5), run: flakyFrom(5).run }, { maxRunsPerStep: 15 });
  t.equal(outcome.status, 'unverifiable');
  t.equal(outcome.culprit, 5);
  t.same(outcome.candidates, [5]);
  t.notOk(outcome.confident);
  t.ok(outcome.confidence >= 0.95, `the statistics alone are confident: ${outcome.confidence}`);
  t.match(outcome.verification, {
    by: null,
    agrees: false,
    culprit: { step: 'p5', verdict: 'bug', ok: true },
    parent: { step: 'p4', verdict: 'clean', ok: true },
    attempts: [{ check: 'leave-out', verdict: 'does-not-apply' }, { check: 'revert', verdict: 'does-not-apply' }, { check: 'isolation', verdict: 'pending', ok: false, why: /more than --max-runs 15/ }],
  });
  t.match(outcome.reason, /first bad patch 5 at confidence .*tree's shape.*leave-out: .*revert: .*isolation: /);
  const text = summaryText(buildRecord(state, outcome, meta(8)));
  t.match(text, /first bad, NOT verified \(the tree's shape\): patch 5\/8/);
  t.match(text, /verified by  none/);
});

t.test('a chain that ran out for another reason than the shape stays unconfirmed', async (t) => {
  // The last patch: leaving it out is the parent, which cannot reach 2 × 15 clean runs within 20.
  const { outcome } = await bisect(5, flakyFrom(5), { maxRunsPerStep: 20 });
  t.equal(outcome.status, 'unconfirmed');
  t.match(outcome.verification, { by: null, attempts: [{ check: 'leave-out', verdict: 'pending', ok: false }] });
  t.match(outcome.reason, /no check could verify it \(leave-out: .*more than --max-runs 20/);
});

t.test('over a git range leaving a commit out is reverting it: the chain starts at the revert', async (t) => {
  const { outcome, env } = await bisect(8, { build: noApply(5), run: flakyFrom(5).run }, { unit: 'commit' });
  t.equal(outcome.status, 'culprit');
  t.match(outcome.verification, { by: 'isolation', attempts: [{ check: 'revert', step: 'w5', verdict: 'does-not-apply', why: /newest commit with it reverted conflicts/ }, { check: 'isolation', step: 'p4' }] });
  t.notOk(env.calls.some((c) => / r5/.test(c)), 'no second revert of the same commit');
});

t.test('--reverse: the fix alone, against its parent that still crashes', async (t) => {
  const { outcome, state } = await bisect(6, { build: conflicts(4), run: (ps, i) => (!ps.includes(4) && i % 2 === 0 ? BUG : PASS) }, { direction: 'fix' });
  t.equal(outcome.status, 'culprit');
  t.equal(outcome.culprit, 4);
  // The side without the bug is the fix itself: it carries the doubled clean runs.
  t.match(outcome.verification, { by: 'isolation', leaveOut: { step: 'p4', expected: 'clean', verdict: 'clean', ok: true } });
  t.equal(state.evidence[state.builds['p4']!.imageHash!]!.passes, 2 * context(state).needClean);
});

t.test('a culprit at the last patch: leaving it out is its parent, which then needs twice the clean runs', async (t) => {
  const { outcome, env, state } = await bisect(5, flakyFrom(5));
  t.equal(outcome.status, 'culprit');
  t.match(outcome.verification, { leaveOut: { verdict: 'same-as-parent', ok: true } });
  t.notOk(env.calls.some((c) => c.includes('w5')));
  // Bad end 6 crashes in 11 runs, nothing else crashed: bound 0.271250, miss 1 - 0.95^(1/5), so one
  // clean verdict needs ceil(14.49) = 15 runs and the parent standing in for the leave-out 30.
  t.equal(context(state).needClean, 15);
  t.equal(state.evidence[state.builds['p4']!.imageHash!]!.passes, 30);
});

t.test('ends that do not differ', async (t) => {
  const old = await bisect(6, { run: (_ps, i) => (i % 2 === 0 ? BUG : PASS) });
  t.equal(old.outcome.status, 'no-transition');
  t.match(old.outcome.reason, /base already shows the bug/);
  const none = await bisect(6, { run: () => PASS }, { maxRunsPerStep: 40 });
  t.equal(none.outcome.status, 'not-reproduced');
  t.match(none.outcome.reason, /0 time\(s\) in 40 runs/);
});

t.test('a bug too rare for the run budget is refused, not guessed', async (t) => {
  const { outcome } = await bisect(6, { run: (ps, i) => (ps.includes(2) && i % 25 === 0 ? BUG : PASS) }, { maxRunsPerStep: 50 });
  t.equal(outcome.status, 'too-rare');
  t.match(outcome.reason, /2 of 50 runs/);
});

t.test('--reverse finds the fix, verified both ways', async (t) => {
  const { outcome } = await bisect(6, { run: (ps, i) => (!ps.includes(4) && i % 2 === 0 ? BUG : PASS) }, { direction: 'fix' });
  t.equal(outcome.status, 'culprit');
  t.equal(outcome.culprit, 4);
  t.match(outcome.verification, { culprit: { expected: 'clean', verdict: 'clean' }, parent: { expected: 'bug', verdict: 'bug' }, leaveOut: { step: 'w4', expected: 'bug', verdict: 'bug', ok: true } });
  // The good end is tested before the search: a crash that is everywhere would pass the leave-out check by itself.
  const { env } = await bisect(6, { run: (ps, i) => (!ps.includes(4) && i % 2 === 0 ? BUG : PASS) }, { direction: 'fix' });
  t.same(env.calls.filter((c) => c.startsWith('build')).slice(0, 2), ['build p0', 'build p6']);
  const stillBad = await bisect(6, { run: (_ps, i) => (i % 2 === 0 ? BUG : PASS) }, { direction: 'fix' });
  t.equal(stillBad.outcome.status, 'no-transition');
  t.match(stillBad.outcome.reason, /good end still shows the bug/);
  t.equal(stillBad.state.used.builds, 2, 'found before any search step');
});

t.test('a lower rate seen on an intermediate step asks for more clean runs everywhere', async (t) => {
  const state = newBisection({ direction: 'cause', steps: 8 });
  const put = (key: string, hash: string, crashes: number, passes: number) => {
    state.builds[key] = { ok: true, imageHash: hash, reason: 'built' };
    state.evidence[hash] = { runs: crashes + passes, passes, crashes: crashes ? { [BUG.kind === 'crash' ? BUG.matchKey : '']: { title: 't', count: crashes } } : {}, failures: {}, bootFailures: {}, infra: 0, infraStreak: 0, boots: 1, batches: 1 };
  };
  put('p8', 'h8', 6, 6);
  const before = context(state).needClean;
  put('p6', 'h6', 2, 40);
  const after = context(state).needClean;
  t.ok(after > before, `${before} → ${after} clean runs`);
});

t.test('budgets stop resumably; resuming from JSON gives the uninterrupted answer', async (t) => {
  const script = flakyFrom(6);
  const whole = await bisect(16, script);
  const env = new ScriptEnv(16, script);
  let state: BisectState = newBisection({ direction: 'cause', steps: 16, budget: { builds: 3 } });
  const first = await runBisection(state, env);
  t.equal(first.status, 'budget');
  t.match(first.reason, /--max-builds/);
  t.equal(state.used.builds, 3);
  state = JSON.parse(JSON.stringify(state)) as BisectState;
  state.settings.budget.builds = null;
  const second = await runBisection(state, env);
  t.equal(second.culprit, whole.outcome.culprit);
  t.equal(second.status, whole.outcome.status);
  t.equal(state.used.builds, whole.state.used.builds, 'nothing built twice');
});

t.test('every decision is the same after a JSON round trip of the state', async (t) => {
  const env = new ScriptEnv(12, flakyFrom(9));
  const state = newBisection({ direction: 'cause', steps: 12 });
  for (let n = 0; n < 200; n++) {
    const a = decide(state);
    t.same(decide(JSON.parse(JSON.stringify(state))), a);
    if (a.kind === 'done') break;
    await runOne(state, env, a);
  }
});

async function runOne(state: BisectState, env: BisectEnv, a: ReturnType<typeof decide>) {
  const { applyTest } = await import('../../harness/src/workflows/bisect/engine.ts');
  if (a.kind === 'build') applyBuild(state, a.step, await env.build(a.step));
  else if (a.kind === 'test') applyTest(state, a.step, await env.test(a.step, a.runs, a.stop));
}

t.test('the linear baseline walks from the good end', async (t) => {
  const { env, outcome } = await bisect(6, flakyFrom(4), { strategy: 'linear' });
  t.equal(outcome.culprit, 4);
  const builds = env.calls.filter((c) => c.startsWith('build p')).map((c) => c.slice(6));
  t.same(builds.slice(0, 4), ['p6', 'p1', 'p2', 'p3']);
});

t.test('report and summary carry the culprit, the crashes side by side and the cost', async (t) => {
  const { state, outcome } = await bisect(8, flakyFrom(5));
  const rec = buildRecord(state, outcome, meta(8));
  t.match(rec, {
    status: 'culprit',
    culprit: { number: 5, subject: 'dax: patch 5', author: 'A Developer <a@example.org>', link: 'https://lore.kernel.org/r/5@example.org' },
    confident: true,
    crashes: { badEnd: { title: 'kernel BUG in dax_insert_pfn_pmd' }, culprit: { title: 'kernel BUG in dax_insert_pfn_pmd' } },
    used: { builds: state.used.builds, boots: state.used.boots, runs: state.used.runs },
    bad: { meaning: 'match', matchKey: 'BUG: dax_insert_pfn_pmd' },
  });
  t.ok(rec.steps.every((s) => s.verdict !== 'unbuilt'));
  t.equal(rec.log.length, state.log.length);
  const text = summaryText(rec);
  t.match(text, /^first bad: patch 5\/8 "dax: patch 5"/);
  t.match(text, /verified both ways/);
  t.match(text, /leave-out\s+w5: expected clean, got clean ok/);
  t.match(text, /used\s+\d+ builds, \d+ boots, \d+ runs/);
  t.match(formatEvent(state.log[0]!, state), /p8 \(base \+ patches 1\.\.8\) build/);
});

function meta(k: number) {
  return {
    id: 'bisect-test',
    input: { kind: 'series' as const, spec: '/tmp/s.mbox', source: 'debian:6.1', tests: ['smoke:ext4'], patches: k },
    patches: Array.from({ length: k }, (_, i) => ({ number: i + 1, subject: `dax: patch ${i + 1}`, author: 'A Developer <a@example.org>', link: `https://lore.kernel.org/r/${i + 1}@example.org`, commit: null })),
    unit: 'patch' as const,
    startedAt: '2026-01-01T00:00:00Z',
    endedAt: null,
  };
}
