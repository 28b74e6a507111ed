// The statistics behind flaky-aware verdicts: the lower bound on the
// reproduction rate must really be a lower bound, and the clean-run count
// must follow n = ceil(ln(miss) / ln(1 - rate)); the store's Fisher test matches
// tables counted by hand.
import t from 'tap';
import { binomTailAtLeast, detectionProbability, fisherGreater, rateLowerBound, runsNeeded } from '../../harness/src/results/stats.ts';
import { rng } from '../../harness/src/workflows/bisect/simulate.ts';

t.test('binomial tail against direct sums', async (t) => {
  // P(X >= 2), X ~ Bin(4, 0.5) = (6 + 4 + 1) / 16
  t.ok(Math.abs(binomTailAtLeast(4, 2, 0.5) - 11 / 16) < 1e-12);
  t.equal(binomTailAtLeast(10, 0, 0.3), 1);
  t.equal(binomTailAtLeast(10, 11, 0.3), 0);
  // Large n stays finite (log space): P(X >= 1) for Bin(5000, 0.001) = 1 - 0.999^5000
  t.ok(Math.abs(binomTailAtLeast(5000, 1, 0.001) - (1 - Math.pow(0.999, 5000))) < 1e-9);
});

t.test('Clopper-Pearson lower bound: closed forms', async (t) => {
  // All hits: P(X >= n) = p^n = alpha  →  p = alpha^(1/n)
  t.ok(Math.abs(rateLowerBound(6, 6, 0.95) - Math.pow(0.05, 1 / 6)) < 1e-9);
  // One hit: P(X >= 1) = 1 - (1-p)^n = alpha  →  p = 1 - (1-alpha)^(1/n)
  t.ok(Math.abs(rateLowerBound(1, 20, 0.95) - (1 - Math.pow(0.95, 1 / 20))) < 1e-9);
  t.equal(rateLowerBound(0, 50), 0);
  t.ok(rateLowerBound(5, 10) < 0.5 && rateLowerBound(5, 10) > 0.2);
  t.throws(() => rateLowerBound(3, 2));
});

t.test('the lower bound covers the true rate at least 95% of the time', async (t) => {
  const r = rng(7);
  for (const p of [0.05, 0.2, 0.5, 0.9]) {
    let covered = 0;
    const trials = 2000;
    for (let i = 0; i < trials; i++) {
      let hits = 0;
      const n = 30;
      for (let j = 0; j < n; j++) if (r() < p) hits++;
      if (rateLowerBound(hits, n, 0.95) <= p) covered++;
    }
    t.ok(covered / trials >= 0.94, `p=${p}: covered ${covered}/${trials}`);
  }
});

t.test('clean runs needed: n = ceil(ln(miss)/ln(1-rate))', async (t) => {
  t.equal(runsNeeded(0.5, 0.05), 5); // 4.32
  t.equal(runsNeeded(0.05, 0.05), 59); // 58.4
  t.equal(runsNeeded(0.9, 0.05), 2); // 1.30
  t.equal(runsNeeded(0.5, 0.25), 2); // exactly 2: no extra run from rounding
  t.equal(runsNeeded(0, 0.05), Infinity);
  // The promise behind the number: a bug of that rate shows within n runs with ≥ 95% probability.
  for (const p of [0.03, 0.1, 0.33, 0.7]) t.ok(detectionProbability(p, runsNeeded(p, 0.05)) >= 0.95);
  for (const p of [0.03, 0.1, 0.33, 0.7]) t.ok(detectionProbability(p, runsNeeded(p, 0.05) - 1) < 0.95, `n is the smallest for ${p}`);
});

t.test('fisherGreater against hand-counted tables', async (t) => {
  // 0/20 before, 2/4 after: only the table with both hits in "after" is as extreme.
  t.ok(Math.abs(fisherGreater(0, 20, 2, 4) - 231 / 10626) < 1e-12);
  // 1/1 before, 0/1 after: P(X >= 0) is 1.
  t.equal(fisherGreater(1, 1, 0, 1), 1);
  // 0/2 before, 2/2 after: C(2,2)C(2,0)/C(4,2) = 1/6.
  t.ok(Math.abs(fisherGreater(0, 2, 2, 2) - 1 / 6) < 1e-12);
  t.throws(() => fisherGreater(3, 2, 0, 1), RangeError);
});
