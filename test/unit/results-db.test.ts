// The results index: rebuilt from the directories after loss or damage, and
// left whole by a process killed in the middle of a write.
import t from 'tap';
import { rm, writeFile, readFile, truncate, stat, mkdir, readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { tryLock } from '../../harness/src/host/lock.ts';
import { nightOwnerLock } from '../../harness/src/results/nights.ts';
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

t.test('reindex under a live connection: no file deleted or replaced under it, both see the new index', async (t) => {
  const live = await ResultsIndex.open(root);
  // Something in the WAL that the rebuild must not cut away from this connection.
  live.db.prepare("INSERT OR REPLACE INTO meta VALUES ('probe', 'x')").run();
  t.ok((await stat(indexPath(root) + '-wal')).size > 0, 'the live connection has a WAL');
  const ino = async () => Promise.all(['', '-wal', '-shm'].map(async (s) => (await stat(indexPath(root) + s)).ino));
  const inodes = await ino();
  const rebuilt = await ResultsIndex.rebuild(root);
  t.same(await ino(), inodes, 'index, -wal and -shm are the same files');
  t.equal((live.db.prepare("SELECT count(*) AS c FROM meta WHERE key = 'probe'").get() as { c: number }).c, 0, 'the live connection reads the rebuilt index');
  t.equal((live.db.pragma('integrity_check') as { integrity_check: string }[])[0]!.integrity_check, 'ok');
  t.equal((rebuilt.db.prepare('SELECT count(*) AS c FROM runs').get() as { c: number }).c, 8);
  live.close();
  rebuilt.close();
  t.same(await snapshot(), before);
  t.notOk((await readdir(root)).some((n) => n.includes('.rebuild-')), 'no temp left');
});

t.test("a run or night whose harness died is listed as aborted, never running", async (t) => {
  const r2 = await tmp('results-aborted-');
  const dead = spawnSync('true').pid!;
  const rec = (id: string, pid: number) => ({
    schema: 1, id, status: 'running', reason: '', startedAt: new Date().toISOString(), endedAt: null, harness: { pid, hostname: hostname(), heartbeatAt: new Date().toISOString() },
    host: { hostname: hostname(), qemuVersion: 'x' }, accel: null, kernel: null, image: null, topology: { nvdimms: [], memmap: [], memMiB: 2048, cpus: 2 },
    topologyHash: 'h', kernelCmdline: '', qemuArgv: [], bootMs: null, kernelInitMs: null, tests: [], crashes: [],
  });
  for (const [id, pid] of [['r-dead', dead], ['r-live', process.pid]] as const) {
    await mkdir(join(r2, id), { recursive: true });
    await writeFile(join(r2, id, 'run.json'), JSON.stringify(rec(id, pid)));
  }
  const night = (id: string) => ({ schema: 1, id, configFile: 'c.yaml', configHash: 'h', origin: 'o', shard: null, matrix: [], cells: [], baseline: null, rerunFailures: 0, historyNights: 0, startedAt: new Date().toISOString(), endedAt: null, status: 'running' });
  for (const id of ['n-dead', 'n-live']) {
    await mkdir(join(r2, 'nights', id), { recursive: true });
    await writeFile(join(r2, 'nights', id, 'night.json'), JSON.stringify(night(id)));
  }
  const owner = await tryLock(nightOwnerLock(r2, 'n-live'));
  const idx = await ResultsIndex.open(r2);
  t.same(Object.fromEntries(idx.runs(null).map((r) => [r.id, r.status])), { 'r-dead': 'aborted', 'r-live': 'running' });
  t.match(idx.run('r-dead')!.reason, /died without finishing/);
  t.same(Object.fromEntries(idx.nights().map((n) => [n.id, n.status])), { 'n-dead': 'aborted', 'n-live': 'running' });
  idx.close();
  if (!('holder' in owner)) await owner.release();
  const list = spawnSync(process.execPath, ['--import', 'tsx', 'harness/bin/dax-harness.js', 'results', 'list', '--results', r2], { encoding: 'utf8' });
  t.equal(list.status, 0, list.stderr);
  t.match(list.stdout, /n-live\s+aborted/, 'once its owner let go, the night is aborted too');
  t.match(list.stdout, /r-dead\s+aborted/);
  t.match(list.stdout, /r-live\s+running/, 'this process still beats');
});
