// The few statistics a flaky-aware bisection needs: a conservative bound on
// the reproduction rate, and how many clean runs make "good" believable.

/** P(X >= k) for X ~ Binomial(n, p). */
export function binomTailAtLeast(n: number, k: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  // Sum the short side, P(X < k), term by term in log space: n can be
  // thousands (pooled runs), where (1-p)^n underflows.
  const step = Math.log(p) - Math.log1p(-p);
  let logTerm = n * Math.log1p(-p);
  let below = 0;
  for (let j = 0; j < k; j++) {
    below += Math.exp(logTerm);
    logTerm += Math.log((n - j) / (j + 1)) + step;
  }
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
  // The engine asks for the same few bounds at every decision.
  const key = `${hits}/${trials}/${level}`;
  let v = bounds.get(key);
  if (v === undefined) {
    if (bounds.size > 10_000) bounds.clear();
    bounds.set(key, (v = solveLowerBound(hits, trials, level)));
  }
  return v;
}

const bounds = new Map<string, number>();

function solveLowerBound(hits: number, trials: number, level: number): number {
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
