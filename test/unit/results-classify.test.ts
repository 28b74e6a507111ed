// Classification on simulated histories: pure, no store.
import t from 'tap';
import { classifyTest, summarizeSignatures, testKey, verdictOf, wantsRerun, type TestInput } from '../../harness/src/results/classify.ts';
import type { Verdict } from '../../harness/src/results/records.ts';

const nights = (...vs: Verdict[][]) => vs.map((verdicts, i) => ({ night: `n${i + 1}`, verdicts }));
const input = (o: Partial<TestInput>): TestInput => ({ current: ['pass'], reruns: [], baseline: ['pass'], baselineNight: 'n0', history: nights(['pass']), seenBefore: true, ...o });

t.test('starts failing and fails every rerun: regression', async (t) => {
  const c = classifyTest(input({ current: ['fail'], reruns: ['fail', 'fail', 'fail', 'fail'], history: nights(['pass'], ['pass'], ['pass']) }));
  t.equal(c.cls, 'regression');
  t.same(c.attempts, { failed: 5, total: 5 });
  t.equal(c.detail, 'fails 5/5 with reruns (passed on n0)');
});

t.test('fails one time in three: flaky with its rates, never a regression', async (t) => {
  const history = nights(...Array.from({ length: 29 }, (_, i): Verdict[] => (i % 7 === 3 ? ['fail'] : ['pass'])));
  const c = classifyTest(input({ current: ['fail'], reruns: ['pass', 'fail', 'pass', 'pass'], history }));
  t.equal(c.cls, 'flaky');
  t.same(c.nights, { failed: 5, total: 30 });
  t.equal(c.detail, 'flaky 2/5, 17% over 30 nights');
  t.equal(classifyTest(input({ current: ['pass', 'fail', 'pass'] })).cls, 'flaky', 'mixed passes in one guest are flaky too');
});

t.test('fixed, still failing, new, gone', async (t) => {
  t.equal(classifyTest(input({ current: ['pass'], baseline: ['fail'] })).cls, 'fixed');
  t.equal(classifyTest(input({ current: ['pass'], baseline: ['fail'], baselineReruns: ['pass'] })).cls, 'pass', 'a flake passing again is not fixed');
  t.equal(classifyTest(input({ current: ['fail'], baseline: ['fail'] })).cls, 'still-failing');
  t.equal(classifyTest(input({ current: ['fail'], baseline: null, history: nights(['fail']) })).cls, 'still-failing', 'without the test on the baseline, its last night counts');
  t.equal(classifyTest(input({ current: ['pass'], baseline: null, history: [], seenBefore: false })).cls, 'new');
  const nf = classifyTest(input({ current: ['fail'], baseline: null, history: [], seenBefore: false }));
  t.equal(nf.cls, 'new');
  t.equal(nf.detail, 'new test, failing 1/1');
  t.equal(classifyTest(input({ current: [] })).cls, 'gone');
});

t.test('XFAIL is none of these; XPASS is flagged; harness errors are not verdicts', async (t) => {
  t.equal(classifyTest(input({ current: ['xfail'], baseline: ['pass'] })).cls, 'xfail', 'an expected failure after a pass is not a regression');
  t.equal(classifyTest(input({ current: ['xfail'], baseline: null, seenBefore: false })).cls, 'xfail', 'nor a new failing test');
  t.equal(classifyTest(input({ current: ['fail'], baseline: ['xfail'] })).cls, 'still-failing', 'an expected failure on the baseline is not a pass to regress from');
  t.notOk(wantsRerun(['fail'], ['xfail']), 'and is not rerun');
  t.equal(classifyTest(input({ current: ['xpass'] })).cls, 'xpass');
  t.equal(classifyTest(input({ current: ['error'] })).cls, 'error');
  t.equal(classifyTest(input({ current: ['skip'] })).cls, 'skip');
});

t.test('reruns only for a test that passed on the baseline and fails now', async (t) => {
  t.ok(wantsRerun(['fail'], ['pass']));
  t.ok(wantsRerun(['pass', 'fail'], ['pass']));
  t.notOk(wantsRerun(['fail'], ['fail']));
  t.notOk(wantsRerun(['fail'], null), 'a new test has no baseline to regress from');
  t.notOk(wantsRerun(['error'], ['pass']), 'a harness error is not a failure');
  t.notOk(wantsRerun(['xfail'], ['pass']));
});

t.test('test identity and verdicts of old records', async (t) => {
  t.equal(testKey({ name: 'dax_smoke', params: { fs: 'xfs', dev: '/dev/pmem0', pass: '2', boot: '2' } }), 'dax_smoke[fs=xfs]');
  t.equal(testKey({ name: 'map_sync', params: { target: 'ext4', mode: 'fsdax', fs: 'ext4' } }), 'map_sync[fs=ext4,mode=fsdax,target=ext4]');
  t.equal(verdictOf({ status: 'crash' }), 'fail');
  t.equal(verdictOf({ status: 'infra-error' }), 'error');
  t.equal(verdictOf({ status: 'fail', verdict: 'xfail' }), 'xfail');
});

t.test('crash signatures: new vs known with first/last seen and counts', async (t) => {
  const s = [
    { signature: 'A', night: 'n1', order: 0 },
    { signature: 'A', night: 'n2', order: 1 },
    { signature: 'A', night: 'n3', order: 2 },
    { signature: 'A', night: 'n3', order: 2 },
    { signature: 'B', night: 'n3', order: 2 },
    { signature: 'C', night: 'n4', order: 3 },
  ];
  const out = summarizeSignatures(s, 'n3', 2);
  t.same(out.map((x) => [x.signature, x.isNew]), [['B', true], ['A', false]], 'new first; later nights ignored');
  const a = out.find((x) => x.signature === 'A')!;
  t.same({ first: a.firstSeen, last: a.lastSeen, count: a.count, nights: a.nights }, { first: 'n1', last: 'n2', count: 4, nights: 3 });
  t.same(summarizeSignatures(s, 'n2', 1).map((x) => x.signature), ['A']);
});
