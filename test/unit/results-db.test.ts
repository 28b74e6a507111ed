// The results index: rebuilt from the directories after loss or damage, and
// left whole by a process killed in the middle of a write.
import t from 'tap';
import { rm, writeFile, readFile, truncate, stat } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runNight } from '../../harness/src/workflows/nightly/index.ts';
import { ResultsIndex, indexPath } from '../../harness/src/results/db.ts';
import { formatNightSummary } from '../../harness/src/results/reporters/text.ts';
import { loadNightReport } from '../../harness/src/results/report.ts';
import { FakeLab, fakeConfig, tmp } from './nightly-fake.ts';

const root = await tmp('results-db-');
const lab = new FakeLab(({ night }) => [
  { name: 'a', status: night === 3 ? 'fail' : 'pass' },
  { name: 'b', status: 'pass', ...(night === 2 ? { crash: 'sigB' } : {}) },
]);
for (const n of [1, 2, 3]) {
  lab.night = n;
  await runNight({ config: await fakeConfig(), resultsRoot: root, jobs: 1, shard: null, nightId: `night-${n}`, progress: () => {}, now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
}

const snapshot = async () => {
  const idx = await ResultsIndex.open(root);
  try {
    const count = (tbl: string) => (idx.db.prepare(`SELECT count(*) AS c FROM ${tbl}`).get() as { c: number }).c;
    return {
      counts: ['nights', 'cells', 'runs', 'tests', 'crashes', 'kernels'].map(count),
      summary: formatNightSummary(loadNightReport(idx, 'night-3')),
      history: idx.history('stock.smoke.ext4.default', 'a[fs=ext4]'),
    };
  } finally {
    idx.close();
  }
};

const before = await snapshot();

t.test('the index holds nights, cells, runs, tests and crashes', async (t) => {
  t.same(before.counts, [3, 6, 8, 28, 2, 3], '3 nights × 2 cells; night 3 reran both cells 4 times (2 tests × 4 × 2 = 16 more results); one crash per cell on night 2');
  t.same(before.history.map((h) => h.verdicts), [['pass'], ['pass'], ['fail']]);
  t.match(before.summary, /REGRESSIONS \(2\)/);
  const idx = await ResultsIndex.open(root);
  const c = idx.crashes('night-2')[0];
  t.equal(c.dedup_key, 'sigB');
  t.equal(JSON.parse(c.page_dump!).refcount, 0, 'page-dump fields are kept');
  t.equal(c.test_key, 'b[fs=ext4]', 'a crash is tagged with its test');
  idx.close();
});

t.test('a deleted index is rebuilt from the directories', async (t) => {
  for (const s of ['', '-wal', '-shm']) await rm(indexPath(root) + s, { force: true });
  t.same(await snapshot(), before);
});

t.test('a damaged index is moved aside and rebuilt', async (t) => {
  await writeFile(indexPath(root), 'this is not an SQLite database '.repeat(200));
  for (const s of ['-wal', '-shm']) await rm(indexPath(root) + s, { force: true });
  t.same(await snapshot(), before, 'garbage');
  const idx = await ResultsIndex.open(root);
  idx.db.pragma('wal_checkpoint(TRUNCATE)');
  idx.close();
  const size = (await stat(indexPath(root))).size;
  await truncate(indexPath(root), Math.floor(size / 3));
  t.same(await snapshot(), before, 'truncated');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'harness/bin/dax-harness.js', 'results', 'reindex', '--results', root], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /reindexed .*: 3 nights, 8 runs, 28 test results/);
  const none = spawnSync(process.execPath, ['--import', 'tsx', 'harness/bin/dax-harness.js', 'results', 'reindex', '--results', join(root, 'no-such-dir')], { encoding: 'utf8' });
  t.equal(none.status, 2, 'a --results that does not exist is bad input');
  t.match(none.stderr, /^dax-harness results: .*no-such-dir is not a results directory: give --results/);
});

t.test('a process killed in the middle of a write leaves the index as it was', async (t) => {
  // A writer that inserts inside one transaction and is SIGKILLed before it commits.
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(indexPath(root))});
    db.pragma('journal_mode = WAL');
    db.prepare('BEGIN').run();
    db.prepare("DELETE FROM tests").run();
    const ins = db.prepare("INSERT INTO tests (run_id, idx, test_key) VALUES (?, ?, 'x')");
    for (let i = 0; i < 20000; i++) ins.run('killed', i);
    process.kill(process.pid, 'SIGKILL');
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.equal(r.signal, 'SIGKILL');
  t.same(await snapshot(), before, 'nothing of the killed transaction is visible');
});

t.test('history of one test over many nights is one indexed query', async (t) => {
  const idx = await ResultsIndex.open(root);
  const plan = idx.db.prepare("EXPLAIN QUERY PLAN SELECT * FROM tests WHERE cell_key = 'x' AND test_key = 'y'").all() as { detail: string }[];
  idx.close();
  t.match(plan.map((p) => p.detail).join('\n'), /USING INDEX tests_history/);
  t.ok((await readFile(join(root, 'nights', 'night-3', 'night.json'), 'utf8')).includes('"status": "done"'));
});
