// bench/regressions: how often findRegressions calls a new flaky bug a
// regression on the night it first fails, by the bug's rate, the clean runs
// the store holds from before (the good nights' main runs) and the reruns the
// night makes. Exact (a sum over rerun outcomes), not sampled: it is the table
// to choose a nightly's repeat and rerunFailures by.
// Run: npm run bench:regressions [-- ALPHA]   (default the rule's 0.05)
import { findRegressions, REGRESSION_RULE, type CellHistory } from '../harness/src/results/regressions.ts';
import type { Verdict } from '../harness/src/results/records.ts';

const alpha = Number(process.argv[2] ?? REGRESSION_RULE.alpha);
const choose = (n: number, k: number) => {
  let x = 1;
  for (let i = 1; i <= k; i++) x = (x * (n - k + i)) / i;
  return x;
};
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const fill = (n: number, v: Verdict): Verdict[] => Array<Verdict>(n).fill(v);

/** P(flagged | the night's main run failed): the reruns are the only draw. */
function detection(rate: number, before: number, reruns: number): number {
  let p = 0;
  for (let k = 0; k <= reruns; k++) {
    const h: CellHistory[] = [{
      cell: { key: 'cell', test: 'test' },
      points: [
        { night: 'good', startedAt: '1', commit: A, kernelKey: 'k', patchsetHash: '', main: fill(before, 'pass'), reruns: [] },
        { night: 'bad', startedAt: '2', commit: B, kernelKey: 'k', patchsetHash: '', main: ['fail'], reruns: [...fill(k, 'fail'), ...fill(reruns - k, 'pass')] },
      ],
    }];
    if (findRegressions(h, { ...REGRESSION_RULE, alpha }).length) p += choose(reruns, k) * rate ** k * (1 - rate) ** (reruns - k);
  }
  return p;
}

const rates = [0.2, 0.4, 0.6, 1];
console.log(`alpha ${alpha}: P(regression found on the first failing night)`);
console.log(['clean runs before', 'reruns', ...rates.map((r) => `rate ${r}`)].join('\t'));
for (const before of [1, 3, 10, 30]) for (const reruns of [4, 10]) console.log([before, reruns, ...rates.map((r) => detection(r, before, reruns).toFixed(2))].join('\t'));
