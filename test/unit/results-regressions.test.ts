// Regressions by commit: the rule on simulated histories (each clause made to
// fail on its own), then the store end to end: nights of a git kernel whose
// ref moves, the commit each built in the index, the regression found from it,
// and an index of the previous schema brought up in place.
import t from 'tap';
import { findRegressions, regressionHistories, type CellHistory } from '../../harness/src/results/regressions.ts';
import { ResultsIndex, type CommitPoint } from '../../harness/src/results/db.ts';
import { runNight } from '../../harness/src/workflows/nightly/index.ts';
import { FakeLab, fakeArtifact, fakeConfig, tmp } from './nightly-fake.ts';
import type { KernelArtifact, Verdict } from '../../harness/src/results/records.ts';
import type { PrepareKernel } from '../../harness/src/workflows/nightly/plan.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

let n = 0;
/** One night of the test: its commit, main verdicts, rerun verdicts. */
const pt = (commit: string | null, main: Verdict[], reruns: Verdict[] = [], kernelKey = 'k1'): CommitPoint => {
  n++;
  return { night: `n${String(n).padStart(2, '0')}`, startedAt: `2026-01-${String(n).padStart(2, '0')}T02:00:00Z`, commit, kernelKey, patchsetHash: '', main, reruns };
};
const hist = (...points: CommitPoint[]): CellHistory[] => [{ cell: { key: 'dev.smoke.ext4.default', test: 'mmap[fs=ext4]' }, points }];
const pass = (k: number): Verdict[] => Array(k).fill('pass');
const fail = (k: number): Verdict[] => Array(k).fill('fail');

t.test('a test that never failed and now fails every rerun on a new commit: a hard regression', async (t) => {
  const h = hist(pt(A, ['pass']), pt(A, ['pass']), pt(B, ['fail'], fail(4)));
  const [r, ...rest] = findRegressions(h);
  t.same(rest, []);
  t.same({ good: r!.good.commit, bad: r!.bad.commit, now: r!.now.commit }, { good: A, bad: B, now: B });
  t.equal(r!.good.night, h[0]!.points[1]!.night, 'the last night that passed');
  t.equal(r!.evidence.by, 'hard');
  t.same(r!.evidence.after, { failed: 4, runs: 4 });
  t.same(r!.evidence.judged, { failed: 1, runs: 1 }, 'the night judged is reported, not counted');
  t.same(r!.evidence.before, { failed: 0, runs: 2, nights: 2 });
  t.match(r!.evidence.detail, /failed all 4 runs after aaaaaaaaaaaa; never failed in 2 runs over 2 nights up to it/);
  t.ok(r!.evidence.p > 0.05, 'two runs before are too few for the rate (p = C(4,4)/C(6,4) = 1/15): only the hard clause calls it');
});

t.test('a flaky new bug is a regression when the reruns beat the rate before (Fisher)', async (t) => {
  // 20 clean runs before; 2 of 4 reruns fail now. P(both failures among the 4 reruns) = C(22,2)/C(24,4).
  const h = hist(pt(A, pass(10)), pt(A, pass(10)), pt(B, ['fail'], ['pass', 'fail', 'pass', 'fail']));
  const [r] = findRegressions(h);
  t.equal(r?.evidence.by, 'rate');
  t.ok(Math.abs(r!.evidence.p - 231 / 10626) < 1e-12, `p = ${r?.evidence.p}`);
  t.equal(findRegressions(h, { alpha: 0.01, window: 30, hardReruns: 2 }).length, 0, 'not at a stricter alpha');
});

t.test("a test as flaky before as now is not a regression", async (t) => {
  // 3 failures in 30 runs before; 1 of 4 reruns fails now.
  const before = Array.from({ length: 30 }, (_, i) => pt(A, [i % 10 === 3 ? 'fail' : 'pass'], i % 10 === 3 ? ['pass'] : []));
  const h = hist(...before, pt(A, ['pass']), pt(B, ['fail'], ['pass', 'fail', 'pass', 'pass']));
  t.same(findRegressions(h), []);
  // Every rerun failing is: the window's 30 nights hold 3 failures in 30 runs, and
  // 4 of 4 reruns failing is P = C(7,4)/C(34,4) under one shared rate.
  const h2 = hist(...before.map((p) => ({ ...p })), pt(A, ['pass']), pt(B, ['fail'], fail(4)));
  const [r] = findRegressions(h2);
  t.equal(r?.evidence.by, 'rate', 'failed before, so not "hard", but the rate says so');
  t.same(r?.evidence.before, { failed: 3, runs: 30, nights: 30 }, 'the window: the last 30 nights up to the pass');
  t.ok(Math.abs(r!.evidence.p - 35 / 46376) < 1e-12, `p = ${r?.evidence.p}`);
});

t.test('no commit change, no regression: a failure on the commit that passed', async (t) => {
  t.same(findRegressions(hist(pt(A, ['pass']), pt(A, ['fail'], fail(4)))), [], 'same commit as the pass');
  t.same(findRegressions(hist(pt(A, ['pass']), pt(A, ['fail'], fail(2)), pt(B, ['fail'], fail(4)))), [], 'it already failed on the good commit');
});

t.test('the first failing commit after the last pass is the bad end; runs after it pool', async (t) => {
  const h = hist(pt(A, pass(10)), pt(A, pass(10)), pt(B, ['fail'], ['fail', 'pass', 'pass', 'pass']), pt(C, ['fail'], ['fail', 'fail', 'fail', 'pass']));
  const [r] = findRegressions(h);
  t.same({ good: r?.good.commit, bad: r?.bad.commit, now: r?.now.commit }, { good: A, bad: B, now: C });
  t.same(r?.evidence.after, { failed: 5, runs: 9 }, "8 reruns and B's main run; C's main run is the one judged");
  // 5 of 9 after against 0 of 20 before: C(9,5)/C(29,5).
  t.ok(Math.abs(r!.evidence.p - 126 / 118755) < 1e-12, `p = ${r?.evidence.p}`);
  t.same(findRegressions(hist(pt(A, ['pass']), pt(A, ['pass']), pt(B, ['fail'], ['fail', 'pass', 'pass', 'pass']), pt(C, ['fail'], ['fail', 'fail', 'fail', 'pass']))), [],
    'the same failures after two clean runs: too little known of before (p = C(6,4)/C(11,9) = 15/55)');
});

t.test('nights that say nothing are passed over; a night that passed in between moves good', async (t) => {
  const [r] = findRegressions(hist(pt(A, ['pass']), pt(B, ['skip']), pt(C, ['error']), pt(C, ['fail'], fail(3))));
  t.same({ good: r?.good.commit, bad: r?.bad.commit }, { good: A, bad: C });
  const [r2] = findRegressions(hist(pt(A, pass(10)), pt(B, ['fail'], fail(1)), pt(B, pass(10)), pt(C, ['fail'], fail(3))));
  t.same({ good: r2?.good.commit, bad: r2?.bad.commit }, { good: B, bad: C }, 'B passed later: the failure on it was a flake');
});

t.test('a flaky bug that passes on its own commit still gets found, with the pass counted against it', async (t) => {
  const h = hist(pt(A, pass(10)), pt(A, pass(10)), pt(B, ['fail'], ['fail', 'pass', 'fail', 'pass']), pt(B, ['pass']), pt(B, ['fail'], ['fail', 'fail', 'pass', 'pass']));
  const [r] = findRegressions(h);
  t.same({ good: r?.good.commit, goodNight: r?.good.night, bad: r?.bad.night }, { good: A, goodNight: h[0]!.points[1]!.night, bad: h[0]!.points[2]!.night });
  t.same(r?.evidence.after, { failed: 5, runs: 10 }, 'reruns 4 of 8, mains 1 of 2');
  // 5 of 10 against 0 of 20: C(10,5)/C(30,5).
  t.ok(Math.abs(r!.evidence.p - 252 / 142506) < 1e-12, `p = ${r?.evidence.p}`);
});

t.test('what cannot be judged is not a regression', async (t) => {
  t.same(findRegressions(hist(pt(null, ['pass']), pt(null, ['fail'], fail(4)))), [], 'a kernel without a commit (stock, Debian)');
  t.same(findRegressions(hist(pt(A, ['pass'], [], 'k0'), pt(B, ['fail'], fail(4), 'k1'))), [], 'the pass was on another kernel line (tree, ref or config changed)');
  t.same(findRegressions(hist(pt(A, ['fail'], fail(4)), pt(B, ['fail'], fail(4)))), [], 'never passed');
  t.same(findRegressions(hist(pt(A, ['pass']), pt(B, ['fail']))), [], 'no reruns: nothing confirms it');
  t.same(findRegressions(hist(pt(A, ['pass']), pt(B, ['fail'], ['fail']))), [], 'one rerun is not enough for "hard", nor for the rate after one clean run');
  t.same(findRegressions(hist(pt(A, ['pass']), pt(B, ['fail'], fail(4)), pt(C, ['pass']))), [], 'the night judged passed');
  t.same(findRegressions([{ cell: { key: 'c', test: 't' }, points: [] }]), []);
});

t.test('the store: nights of a moving git ref, the commit each built, the regression found from the index', async (t) => {
  const root = await tmp('results-regr-');
  const tree = await tmp('results-regr-tree-');
  // Nights 1-3 build A, 4 builds B (the ref moved), and test "a" fails from night 4 on, every time.
  const commitOf = (night: number) => (night <= 3 ? A : B);
  const lab = new FakeLab(({ night }) => [
    { name: 'a', status: night >= 4 ? 'fail' : 'pass' },
    { name: 'b', status: 'pass' },
  ]);
  const prepareKernel: PrepareKernel = async () =>
    ({ ...fakeArtifact('built'), kind: 'built', build: { source: tree, baseCommit: commitOf(lab.night), commit: commitOf(lab.night) } }) as unknown as KernelArtifact;
  const config = await fakeConfig({ kernels: [{ name: 'dev', git: tree, ref: 'for-next' }], suites: [{ name: 'smoke', modes: ['ext4'] }], rerunFailures: 3 });
  for (const night of [1, 2, 3, 4]) {
    lab.night = night;
    await runNight({ config, resultsRoot: root, jobs: 1, shard: null, nightId: `night-${night}`, progress: () => {}, now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel });
  }
  const idx = await ResultsIndex.open(root);
  t.teardown(() => idx.close());
  const cell = 'dev.smoke.ext4.default';
  const points = idx.commitHistory(cell, 'a[fs=ext4]');
  t.same(points.map((p) => [p.night, p.commit, p.main, p.reruns]), [
    ['night-1', A, ['pass'], []],
    ['night-2', A, ['pass'], []],
    ['night-3', A, ['pass'], []],
    ['night-4', B, ['fail'], ['fail', 'fail', 'fail']],
  ]);
  t.equal(idx.kernels('night-4')[0]!.git_commit, B, 'the night recorded the commit it built');
  const h = regressionHistories(idx, 'night-4');
  t.same(h.map((x) => x.cell), [{ key: cell, test: 'a[fs=ext4]' }], 'only the test that failed is looked at');
  const [r, ...rest] = findRegressions(h);
  t.same(rest, []);
  t.same({ good: r?.good, bad: r?.bad }, { good: { commit: A, night: 'night-3' }, bad: { commit: B, night: 'night-4' } });

  await t.test('an index of schema 1 is brought to schema 2 in place', async (t) => {
    idx.db.prepare("INSERT OR REPLACE INTO meta VALUES ('probe', 'kept')").run();
    idx.db.exec("ALTER TABLE kernels DROP COLUMN git_commit; DROP TABLE reports; UPDATE meta SET value = '1' WHERE key = 'schema'");
    const again = await ResultsIndex.open(root);
    t.teardown(() => again.close());
    t.equal((again.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string }).value, '2');
    t.equal((again.db.prepare("SELECT value FROM meta WHERE key = 'probe'").get() as { value: string } | undefined)?.value, 'kept', 'migrated, not rebuilt');
    t.same(again.commitHistory(cell, 'a[fs=ext4]').map((p) => p.commit), [A, A, A, B], 'commits filled in from the kernel records');
    t.same(again.reports(), [], 'the reports table is there');
    t.same((again.db.prepare('PRAGMA table_info(kernels)').all() as { name: string }[]).map((c) => c.name).at(-1), 'git_commit', 'the column where a new index has it');
  });
});
