// A night of two fake cells under the nightly's signal handler, for
// nightly-run.test.ts to SIGINT: `hold` keeps both cells running until the
// signal; `run` lets them finish. Prints "held 2" once both are running.
import { runNight } from '../../harness/src/workflows/nightly/index.ts';
import { withNightSignals } from '../../harness/src/workflows/nightly/signals.ts';
import { FakeLab, fakeConfig } from './nightly-fake.ts';

const [root, mode] = process.argv.slice(2);
const lab = new FakeLab(() => [{ name: 'a', status: 'pass' }]);
if (mode === 'hold') lab.holdUntilAbort = new Set(['stock.smoke.ext4.default', 'stock.smoke.xfs.default']);
// Held cells wait on the signal alone; this keeps the process alive as their guests would.
let told = false;
const tell = setInterval(() => {
  if (lab.held === 2 && !told) process.stdout.write('held 2\n');
  told ||= lab.held === 2;
}, 20);
const config = await fakeConfig();
const out = await withNightSignals((signal) =>
  runNight({ config, resultsRoot: root, jobs: 2, shard: null, nightId: 'sig', progress: () => {}, cores: 2, signal }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel }),
);
clearInterval(tell);
process.stdout.write(`ran ${out.ran.length}, skipped ${out.skipped.length}\n`);
