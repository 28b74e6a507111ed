// Calibration over every confidence bin, sized down from `npm run
// bench:bisect` (which prints the full table): bug rates 0.05-0.9, targets
// 0.5-0.95, 15-300 runs per step, binary and linear search, so that the
// engine's stated confidences fall in every bin from 0.5 to 1.
//
// The engine's confidence is by construction a lower bound (every kernel
// judged clean is taken to carry the bug, at the rate's 95% lower bound): it
// must never overstate, and it does understate. The posterior (posterior.ts)
// is the calibrated figure: within the tolerance in both directions.
import t from 'tap';
import { calibrationSweep, type Reliability } from '../../harness/src/workflows/bisect/simulate.ts';

/** Bins with fewer named patches than this are too noisy to hold to the tolerance. */
const MIN_SAMPLES = 20;
const TOLERANCE = 0.05;

const table = (r: Reliability) =>
  r.rows
    .filter((b) => b.n)
    .map((b) => `[${b.from.toFixed(2)}, ${Math.min(b.to, 1).toFixed(2)}) n=${b.n} stated ${b.meanStated.toFixed(3)} right ${(b.right / b.n).toFixed(3)}`)
    .join('\n');

t.test('stated confidence against observed accuracy, every bin', async (t) => {
  const s = await calibrationSweep({ perCell: 3, seed: 1 });
  t.comment(`${s.bisections} bisections, ${s.engine.n} named a patch`);
  t.comment(`engine confidence, Brier ${s.engine.brier.toFixed(4)}:\n${table(s.engine)}`);
  t.comment(`posterior, Brier ${s.posterior.brier.toFixed(4)}:\n${table(s.posterior)}`);
  for (const b of s.engine.rows) {
    if (b.from >= 0.5 && b.from < 0.95) t.ok(b.n > 0, `bin [${b.from}, ${b.to}) is populated`);
    if (b.n < MIN_SAMPLES) continue;
    t.ok(b.right / b.n >= b.meanStated - TOLERANCE, `engine never overstates in [${b.from}, ${b.to}): ${b.right}/${b.n} right at ${b.meanStated.toFixed(3)} stated`);
  }
  for (const b of s.posterior.rows) {
    if (b.n < MIN_SAMPLES) continue;
    t.ok(Math.abs(b.right / b.n - b.meanStated) <= TOLERANCE, `posterior within ${TOLERANCE} in [${b.from}, ${b.to}): ${b.right}/${b.n} right at ${b.meanStated.toFixed(3)}`);
  }
  t.ok(s.posterior.brier < s.engine.brier, `the posterior scores better: Brier ${s.posterior.brier.toFixed(4)} < ${s.engine.brier.toFixed(4)}`);
});
