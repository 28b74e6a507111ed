// Taint bits whose appearance during a test fails it even if the log line
// that caused it was lost (see spec §2a): W (warning), D (died/oops),
// B (bad page), L (soft lockup), and the memory-corruption ones.
const FAILING: Array<[number, string]> = [
  [4, 'M'], // machine check
  [5, 'B'], // bad page
  [7, 'D'], // oops
  [9, 'W'], // warning
  [14, 'L'], // soft lockup
];

/** Letters of the failing taint bits set in `after` but not in `before`. */
export function taintDelta(before: number, after: number): string[] {
  if (!Number.isFinite(before) || !Number.isFinite(after)) return [];
  const gained = after & ~before;
  return FAILING.filter(([bit]) => gained & (1 << bit)).map(([, l]) => l);
}
