// run.json tells the truth later: a 'running' run whose harness is gone is
// read back as 'aborted', and the heartbeat keeps a live run 'running'.
import t from 'tap';
import { spawn as nodeSpawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { abandoned, loadRun, loadRuns, saveRun, startHeartbeat, HEARTBEAT_STALE_MS } from '../../harness/src/results/store.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';

const STORE = join(import.meta.dirname, '..', '..', 'harness', 'src', 'results', 'store.ts');

function record(over: Partial<RunRecord> = {}): RunRecord {
  return {
    schema: 1, id: 'r1', status: 'running', reason: '', startedAt: new Date().toISOString(), endedAt: null,
    host: { hostname: hostname(), qemuVersion: 'x' }, accel: null, kernel: null, image: null,
    topology: { nvdimms: [], memmap: [], memMiB: 2048, cpus: 2 }, topologyHash: 'h', kernelCmdline: '', qemuArgv: [],
    bootMs: null, kernelInitMs: null, tests: [], crashes: [], ...over,
  };
}

const deadPid = () => spawnSync('true').pid!;

t.test('the judgement: dead pid, stale heartbeat, other hosts, finished runs', async (t) => {
  const now = Date.now();
  const beat = (ms: number) => new Date(now - ms).toISOString();
  t.match(abandoned(record({ harness: { pid: deadPid(), hostname: hostname(), heartbeatAt: beat(1000) } }), now, now), /died without finishing/);
  t.equal(abandoned(record({ harness: { pid: process.pid, hostname: hostname(), heartbeatAt: beat(1000) } }), now, now), null, 'alive and beating');
  t.match(abandoned(record({ harness: { pid: process.pid, hostname: hostname(), heartbeatAt: beat(HEARTBEAT_STALE_MS + 1000) } }), now, now), /stopped beating/);
  t.equal(abandoned(record({ harness: { pid: 1, hostname: 'elsewhere', heartbeatAt: beat(1000) } }), now, now), null, "another host's fresh run");
  t.match(abandoned(record({ harness: { pid: 1, hostname: 'elsewhere', heartbeatAt: beat(HEARTBEAT_STALE_MS + 1) } }), now, now), /pid 1 on elsewhere/);
  t.match(abandoned(record(), now - HEARTBEAT_STALE_MS - 1, now), /stopped beating/, 'no harness stamp: the file time stands in');
  t.equal(abandoned(record({ status: 'pass', harness: { pid: deadPid(), hostname: hostname(), heartbeatAt: beat(1e9) } }), now, now), null);
});

t.test('saveRun stamps the harness; loadRun shows a dead one as aborted and cleans half-written temps', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-run-'));
  const r = record();
  await saveRun(dir, r);
  const saved = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunRecord;
  t.equal(saved.harness?.pid, process.pid);
  t.equal((await loadRun(dir)).status, 'running');
  saved.harness!.pid = deadPid();
  writeFileSync(join(dir, 'run.json'), JSON.stringify(saved));
  writeFileSync(join(dir, `.run.json.${deadPid()}-abcdef01.tmp`), '{"half');
  const back = await loadRun(dir);
  t.equal(back.status, 'aborted');
  t.match(back.reason, /died without finishing/);
  t.same(readdirSync(dir), ['run.json'], 'the temp is gone');
  t.equal((await loadRuns(join(dir, '..'))).find((x) => x.dir === dir)?.run.status, 'aborted');
});

t.test('a heartbeat in flight never lands after the final status', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-run-'));
  const r = record();
  const stop = startHeartbeat(dir, r, 1);
  await new Promise((res) => setTimeout(res, 30));
  r.status = 'pass';
  await saveRun(dir, r);
  await stop();
  await new Promise((res) => setTimeout(res, 30));
  t.equal(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).status, 'pass');
});

t.test('the heartbeat advances while the run lasts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-run-'));
  const r = record();
  await saveRun(dir, r);
  const first = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).harness.heartbeatAt;
  utimesSync(join(dir, 'run.json'), new Date(0), new Date(0));
  const stop = startHeartbeat(dir, r, 40);
  await new Promise((res) => setTimeout(res, 150));
  await stop();
  const later = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).harness.heartbeatAt;
  t.ok(Date.parse(later) > Date.parse(first), `${first} → ${later}`);
});

t.test('a SIGKILLed harness: its running run reads back as aborted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-run-'));
  const code = `
    const { saveRun, startHeartbeat } = await import(${JSON.stringify(STORE)});
    const r = ${JSON.stringify(record())};
    await saveRun(${JSON.stringify(dir)}, r);
    startHeartbeat(${JSON.stringify(dir)}, r, 50);
    console.log('running');
    setInterval(() => {}, 1000);`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const h = nodeSpawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res) => h.stdout.on('data', (d) => String(d).includes('running') && res()));
  t.equal((await loadRun(dir)).status, 'running', 'alive: running');
  h.kill('SIGKILL');
  await new Promise((res) => h.on('exit', res));
  const back = await loadRun(dir);
  t.equal(back.status, 'aborted');
  t.match(back.reason, new RegExp(`pid ${h.pid}`));
});
