// Thousands of simulated bisections (fixed seeds, a few seconds): series of
// 2–64 patches, bugs that show in 5–90% of runs, patches that do not build,
// boot or apply alone, no-op patches, unrelated crashes, test failures,
// infrastructure errors and flaky boots. The engine must never report a wrong
// culprit as confident, and its printed confidence must not overstate.
import t from 'tap';
import { naiveBisect, randomScenario, rng, simulateOne, summarize, type SimResult } from '../../harness/src/workflows/bisect/simulate.ts';

async function batch(n: number, seed: number, opts: Parameters<typeof randomScenario>[1] = {}): Promise<SimResult[]> {
  const r = rng(seed);
  const out: SimResult[] = [];
  for (let i = 0; i < n; i++) out.push(await simulateOne(randomScenario(r, opts), seed * 100_000 + i));
  return out;
}

function describe(x: SimResult): string {
  const sc = x.scenario;
  return `k=${sc.k} culprit=${sc.culprit} rate=${sc.endRate.toFixed(3)} → ${x.outcome.status} ${x.outcome.culprit} (${x.outcome.reason})`;
}

t.test('cause bisections: no wrong culprit is ever confident; confidence is not overstated', async (t) => {
  const s = summarize(await batch(1500, 11));
  t.equal(s.confidentWrong.length, 0, s.confidentWrong.map(describe).join('\n'));
  t.ok(s.confident / s.total > 0.5, `confident in ${s.confident}/${s.total}`);
  t.ok(s.namedRight / s.named >= 0.98, `named right ${s.namedRight}/${s.named}`);
  // Calibration: among culprits reported at ≥ 0.95, at least 95% are right.
  const high = s.calibration.filter((b) => b.from >= 0.95);
  const named = high.reduce((a, b) => a + b.named, 0);
  const right = high.reduce((a, b) => a + b.right, 0);
  t.ok(named > 100 && right / named >= 0.95, `≥0.95 bin: ${right}/${named}`);
  t.equal(s.rangesHoldingTruth, s.ranges, 'every inconclusive range holds the culprit');
  t.ok((s.byStatus['not-reproduced'] ?? 0) === 0, 'the bad end always reproduces at rates ≥ 0.05 within the run budget');
});

t.test('fix bisections (--reverse) hold to the same rules', async (t) => {
  const s = summarize(await batch(500, 12, { direction: 'fix' }));
  t.equal(s.confidentWrong.length, 0, s.confidentWrong.map(describe).join('\n'));
  t.ok(s.namedRight / s.named >= 0.97, `named right ${s.namedRight}/${s.named}`);
  t.equal(s.rangesHoldingTruth, s.ranges);
});

t.test('a plain flaky bug: named or bracketed nearly always, far more often right than one run per step', async (t) => {
  const r = rng(13);
  const ours: SimResult[] = [];
  let naiveRight = 0;
  const n = 300;
  for (let i = 0; i < n; i++) {
    const sc = randomScenario(r, { plain: true, minRate: 0.1, maxRate: 0.6 });
    ours.push(await simulateOne(sc, 13_000 + i));
    if ((await naiveBisect(sc, 13_000 + i)).culprit === sc.culprit) naiveRight++;
  }
  const s = summarize(ours);
  t.equal(s.confidentWrong.length, 0);
  const named = ours.filter((x) => x.outcome.culprit === x.scenario.culprit).length;
  // Plain scenarios still have unbuildable patches and leave-outs that do not apply: those end as ranges or unconfirmed.
  t.ok(named + s.ranges >= 0.97 * n, `right ${named}, ranges ${s.ranges} of ${n}`);
  t.ok(naiveRight < 0.6 * n, `one run per step is right only ${naiveRight}/${n} times`);
});
