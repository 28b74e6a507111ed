// The few statistics a flaky-aware bisection needs: a conservative bound on
// the reproduction rate, and how many clean runs make "good" believable.

/** log P(X = j) for X ~ Binomial(n, p), 0 < p < 1. */
function logPmf(n: number, j: number, p: number): number {
  return logChoose(n, j) + j * Math.log(p) + (n - j) * Math.log1p(-p);
}

function logChoose(n: number, j: number): number {
  return lnGamma(n + 1) - lnGamma(j + 1) - lnGamma(n - j + 1);
}

// Lanczos approximation (g = 7, n = 9): about 15 significant digits, ample
// for tail probabilities compared against 0.05.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** P(X >= k) for X ~ Binomial(n, p). */
export function binomTailAtLeast(n: number, k: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  // Sum the shorter side in log space: n can be thousands (pooled runs).
  let below = 0;
  for (let j = 0; j < k; j++) below += Math.exp(logPmf(n, j, p));
  return Math.min(1, Math.max(0, 1 - below));
}

/**
 * One-sided Clopper–Pearson lower bound on a rate after `hits` in `trials`:
 * the smallest p for which seeing this many hits (or more) has probability at
 * least 1 - level. Also valid when sampling stopped at a fixed number of hits
 * (the event "k hits within n trials" is the same either way).
 */
export function rateLowerBound(hits: number, trials: number, level = 0.95): number {
  if (hits <= 0 || trials <= 0) return 0;
  if (hits > trials) throw new RangeError(`${hits} hits in ${trials} trials`);
  const alpha = 1 - level;
  let lo = 0;
  let hi = hits / trials;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (binomTailAtLeast(trials, hits, mid) < alpha) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Clean runs needed before "no crash" means "no bug" with probability at
 * least 1 - miss, for a bug that shows itself with probability `rate` per
 * run: n = ceil(ln(miss) / ln(1 - rate)).
 */
export function runsNeeded(rate: number, miss: number): number {
  if (rate <= 0) return Infinity;
  if (rate >= 1) return 1;
  // The epsilon keeps an exact integer answer from rounding up one run too far.
  return Math.max(1, Math.ceil(Math.log(miss) / Math.log1p(-rate) - 1e-9));
}

/** Probability that `clean` runs in a row would have shown a bug of this rate at least once. */
export function detectionProbability(rate: number, clean: number): number {
  if (rate <= 0) return 0;
  return 1 - Math.pow(1 - Math.min(rate, 1), clean);
}
