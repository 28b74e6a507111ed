// What follows a night, shared by `nightly` and `merge`: the reports written
// beside it, the summary printed, the night's exit status.
import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runNight } from '../../harness/src/workflows/nightly/index.ts';
import { reportNight } from '../../harness/src/workflows/nightly/reports.ts';
import { REPORT_FILES } from '../../harness/src/results/reporters/index.ts';
import { FakeLab, fakeConfig, tmp, type Script } from './nightly-fake.ts';

// `steady` passes on night 1 and fails from night 2 on: a regression on
// night 2 (every rerun fails too), still failing (nothing new) on night 3.
const script: Script = ({ night }) => [
  { name: 'steady', status: night >= 2 ? 'fail' : 'pass' },
  { name: 'other', status: 'pass' },
];

t.test('reports written, the summary as summary.txt has it, the verdict as the exit status', async (t) => {
  const root = await tmp('nightly-reports-');
  const lab = new FakeLab(script);
  const nights = [];
  for (const n of [1, 2, 3]) {
    lab.night = n;
    const out = await runNight({ config: await fakeConfig(), resultsRoot: root, jobs: 1, shard: null, nightId: `night-${n}`, progress: () => {}, now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
    nights.push(await reportNight(root, out.nightId, out.dir));
    t.same((await readdir(out.dir)).filter((f) => Object.values(REPORT_FILES).includes(f as never)).sort(), Object.values(REPORT_FILES).sort(), `night ${n}: every report`);
    t.equal(await readFile(join(out.dir, 'summary.txt'), 'utf8'), nights.at(-1)!.summary, `night ${n}: the summary printed is summary.txt`);
  }
  t.same(nights.map((x) => x.exitCode), [0, 1, 0], 'all pass; a regression; still failing is nothing new');
  t.same([...new Set(nights[1]!.report.tests.filter((x) => x.cls === 'regression').map((x) => x.name))], ['steady'], 'the regression is steady (in each cell)');
});
