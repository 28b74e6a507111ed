// The repro loop over a fake guest: a scripted or random world in which each
// test crashes with some probability, on a fake clock.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLog } from '../../harness/src/oracle/index.js';
import { reproLoop, type ReproGuest, type Pass } from '../../harness/src/workflows/repro/loop.js';
import type { Candidate } from '../../harness/src/workflows/repro/candidates.js';
import type { CrashReport, TestStatus } from '../../harness/src/results/records.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');
const crash = (name: string): CrashReport => parseLog(readFileSync(join(corpus, `${name}.log`), 'utf8'))[0]!;
const reported = crash('dax-pmd-6.6-console');
const sameOnMerged = crash('dump-6.12-merged');
const unrelated = crash('hung-task');

const cand = (id: string, score: number): Candidate => ({ id, suite: 'stressors', fs: 'ext4', score, reasons: [], blocked: null });

/** A guest whose outcomes come from a function of (test, run number); each pass takes `ms` of fake time, a crash adds a reboot. */
function fakeGuest(outcome: (id: string, n: number) => { status?: TestStatus; crash?: CrashReport; infra?: string; skip?: string }, clock: { t: number }, ms = 10_000) {
  const runs = new Map<string, number>();
  let up = false;
  const log: string[] = [];
  let closed = 0;
  const guest: ReproGuest = {
    async runOnce(tests): Promise<Pass> {
      const c = tests[0]!;
      const n = (runs.get(c.id) ?? 0) + 1;
      runs.set(c.id, n);
      log.push(c.id);
      const bootMs = up ? null : 20_000;
      if (!up) clock.t += 20_000;
      up = true;
      clock.t += ms;
      const o = outcome(c.id, n);
      if (o.infra) {
        up = false;
        return { runs: [], crashes: [], bootMs, infraError: o.infra };
      }
      if (o.skip) return { runs: [{ id: c.id, status: 'skip', durationMs: 5, crashes: [], reason: o.skip }], crashes: [], bootMs, infraError: null };
      if (o.crash) up = false;
      return { runs: [{ id: c.id, status: o.crash ? 'crash' : (o.status ?? 'pass'), durationMs: ms, crashes: o.crash ? [o.crash] : [] }], crashes: [], bootMs, infraError: null };
    },
    async close() {
      closed++;
    },
  };
  return { guest, log, runs, closedCount: () => closed };
}

t.test('stops at the first reproduction; time to it counts boots and earlier tests', async (t) => {
  const clock = { t: 0 };
  const g = fakeGuest((id, n) => (id === 'b' && n === 2 ? { crash: sameOnMerged } : {}), clock);
  const r = await reproLoop(g.guest, { want: reported, candidates: [cand('a', 10), cand('b', 10)], budgetMs: 3_600_000, now: () => clock.t });
  t.ok(r.reproduced);
  t.equal(r.stop, 'reproduced');
  t.equal(r.first?.test, 'b');
  t.same(g.log, ['a', 'b', 'a', 'b'], 'equal scores take turns');
  t.equal(r.timeToFirstMs, 20_000 + 4 * 10_000);
  t.equal(r.rate?.k, 1);
  t.equal(r.rate?.n, 2, "rate over the reproducing test's own runs");
  t.equal(g.closedCount(), 1, 'guest closed once');
});

t.test('a different crash is recorded and the search goes on; --any-crash stops at it', async (t) => {
  const world = (id: string, n: number) => (n === 1 && id === 'a' ? { crash: unrelated } : id === 'a' && n === 3 ? { crash: reported } : {});
  const clock = { t: 0 };
  const r = await reproLoop(fakeGuest(world, clock).guest, { want: reported, candidates: [cand('a', 10)], budgetMs: 3_600_000, now: () => clock.t });
  t.ok(r.reproduced);
  t.equal(r.first?.pass, 2);
  t.equal(r.met.length, 1);
  t.equal(r.met[0]!.report.title, unrelated.title);
  t.equal(r.met[0]!.verdict, 'different');
  t.equal(r.met[0]!.test, 'a');
  const clock2 = { t: 0 };
  const any = await reproLoop(fakeGuest(world, clock2).guest, { want: reported, candidates: [cand('a', 10)], budgetMs: 3_600_000, anyCrash: true, now: () => clock2.t });
  t.notOk(any.reproduced, 'the crash that stopped it is not the reported one');
  t.equal(any.stop, 'any-crash');
  t.equal(any.first?.report.title, unrelated.title);
  t.equal(any.passes.length, 1);
});

t.test('the budget ends a search that never reproduces, with what was tried', async (t) => {
  const clock = { t: 0 };
  const g = fakeGuest(() => ({ status: 'pass' }), clock);
  const r = await reproLoop(g.guest, { want: reported, candidates: [cand('a', 30), cand('b', 10)], budgetMs: 600_000, now: () => clock.t });
  t.notOk(r.reproduced);
  t.equal(r.stop, 'budget');
  t.ok(clock.t >= 600_000 && clock.t < 600_000 + 10_000, 'stops at the first pass past the budget');
  const a = r.tests.find((x) => x.id === 'a')!;
  const b = r.tests.find((x) => x.id === 'b')!;
  t.ok(a.runs > 0 && b.runs > 0, 'both tried');
  t.ok(Math.abs(a.runs / b.runs - 3) <= 0.5, `runs follow scores 3:1 (${a.runs}:${b.runs})`);
  t.equal(r.rate, null);
  t.ok(b.rate.hi < 0.35 && b.rate.lo === 0, 'zero of n still bounds the rate');
});

t.test('confirm runs measure the rate of the reproducing test', async (t) => {
  const clock = { t: 0 };
  // Crashes on every other run.
  const g = fakeGuest((id, n) => (n % 2 === 0 ? { crash: reported } : {}), clock);
  const r = await reproLoop(g.guest, { want: reported, candidates: [cand('a', 10), cand('b', 1)], budgetMs: 10_000_000, confirm: 8, now: () => clock.t });
  t.ok(r.reproduced);
  t.equal(r.first?.test, 'a');
  const after = g.log.slice(r.first!.pass + 1);
  t.equal(after.length, 8, 'eight confirm runs');
  t.ok(after.every((x) => x === 'a'), 'only the reproducing test');
  t.equal(r.rate?.n, 10);
  t.equal(r.rate?.k, 5);
  t.ok(r.rate!.lo < 0.5 && r.rate!.hi > 0.5);
});

t.test('tests that cannot run or keep breaking the guest are dropped', async (t) => {
  const clock = { t: 0 };
  const g = fakeGuest((id) => (id === 'skipper' ? { skip: 'needs pdpe1gb' } : id === 'breaker' ? { infra: 'ssh dropped' } : {}), clock);
  const r = await reproLoop(g.guest, { want: reported, candidates: [cand('skipper', 50), cand('breaker', 50), cand('ok', 1)], budgetMs: 300_000, now: () => clock.t });
  t.match(r.tests.find((x) => x.id === 'skipper')!.dropped, /skipped: needs pdpe1gb/);
  t.match(r.tests.find((x) => x.id === 'breaker')!.dropped, /broke 2 times in a row/);
  t.equal(r.tests.find((x) => x.id === 'breaker')!.runs, 0, 'a broken pass is not a run');
  t.ok(r.tests.find((x) => x.id === 'ok')!.runs > 0);
  const clock2 = { t: 0 };
  const none = await reproLoop(fakeGuest(() => ({ skip: 'no' }), clock2).guest, { want: reported, candidates: [cand('x', 1)], budgetMs: 300_000, now: () => clock2.t });
  t.equal(none.stop, 'no-tests');
});

t.test('the guest is closed even when it throws', async (t) => {
  let closed = false;
  const guest: ReproGuest = {
    async runOnce() {
      throw new Error('qemu died');
    },
    async close() {
      closed = true;
    },
  };
  await t.rejects(reproLoop(guest, { want: reported, candidates: [cand('a', 1)], budgetMs: 1000 }), /qemu died/);
  t.ok(closed);
});

t.test('random worlds: the loop finds a bug of rate p about as fast as it should', async (t) => {
  // Seeded LCG so the test is repeatable.
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let found = 0;
  let passesTotal = 0;
  const trials = 200;
  const p = 0.3;
  for (let i = 0; i < trials; i++) {
    const clock = { t: 0 };
    const g = fakeGuest((id) => (id === 'buggy' && rnd() < p ? { crash: reported } : rnd() < 0.05 ? { crash: unrelated } : {}), clock, 1000);
    const r = await reproLoop(g.guest, { want: reported, candidates: [cand('buggy', 20), cand('other', 20)], budgetMs: 200_000, now: () => clock.t });
    if (r.reproduced) {
      found++;
      passesTotal += r.first!.pass + 1;
    }
    t.ok(!r.reproduced || r.first!.test === 'buggy', 'never credits the wrong test');
  }
  t.equal(found, trials, 'found every time within the budget');
  // The buggy test gets every other pass, starting with the first: its k-th run
  // is pass 2k-1, so the first reproduction comes after 2/p - 1 passes on average.
  const mean = passesTotal / found;
  const expected = 2 / p - 1;
  t.ok(Math.abs(mean - expected) < 1, `mean passes to first reproduction ${mean.toFixed(2)} ~ ${expected.toFixed(2)}`);
});
