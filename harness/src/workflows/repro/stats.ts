// Reproduction rates with honest error bars. Pure.

export interface Rate {
  /** Reproductions and runs. */
  k: number;
  n: number;
  /** k/n, and the Wilson score interval around it. */
  p: number;
  lo: number;
  hi: number;
  /** Confidence of the interval (0.95). */
  level: number;
}

/**
 * Wilson score interval: unlike k/n ± normal error it stays inside [0, 1] and
 * says something useful at 0/n and n/n, which is where a repro lives.
 */
export function wilson(k: number, n: number, z = 1.959964): Rate {
  if (n <= 0) return { k, n, p: 0, lo: 0, hi: 1, level: 0.95 };
  const p = k / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / den;
  // At 0/n and n/n the bound is exactly 0 or 1; floating point lands a hair off.
  return { k, n, p, lo: k === 0 ? 0 : Math.max(0, centre - half), hi: k === n ? 1 : Math.min(1, centre + half), level: 0.95 };
}

/** "3/10 (30%, 95% CI 11%-60%)" */
export function formatRate(r: Rate): string {
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  return `${r.k}/${r.n} (${pct(r.p)}, 95% CI ${pct(r.lo)}-${pct(r.hi)})`;
}
