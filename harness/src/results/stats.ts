// The few statistics flaky bugs need: a conservative bound on a reproduction
// rate, how many clean runs make "good" believable (bisection, fixed
// detection), and whether a rate now is higher than the store's rate before
// (regressions). Pure; here in results/ so the store and the workflows share it.

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

const logFactorials: number[] = [0];

function logFactorial(n: number): number {
  for (let i = logFactorials.length; i <= n; i++) logFactorials.push(logFactorials[i - 1]! + Math.log(i));
  return logFactorials[n]!;
}

const logChoose = (n: number, k: number) => logFactorial(n) - logFactorial(k) - logFactorial(n - k);

/**
 * One-sided Fisher exact test: the probability, if before and after share one
 * rate, that the `after` sample holds at least `hitsAfter` of all the hits.
 * A small value says the rate went up. Conditioning on the margins needs no
 * guess of the shared rate, which matters when "before" is a few runs.
 */
export function fisherGreater(hitsBefore: number, trialsBefore: number, hitsAfter: number, trialsAfter: number): number {
  if (hitsBefore < 0 || hitsAfter < 0 || hitsBefore > trialsBefore || hitsAfter > trialsAfter) throw new RangeError(`${hitsBefore}/${trialsBefore} vs ${hitsAfter}/${trialsAfter}`);
  const n = trialsBefore + trialsAfter;
  const hits = hitsBefore + hitsAfter;
  const top = Math.min(hits, trialsAfter);
  const denom = logChoose(n, trialsAfter);
  let p = 0;
  for (let x = hitsAfter; x <= top; x++) if (hits - x <= trialsBefore) p += Math.exp(logChoose(hits, x) + logChoose(n - hits, trialsAfter - x) - denom);
  return Math.min(1, p);
}
