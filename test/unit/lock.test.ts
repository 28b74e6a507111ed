// The lease lock under contention by real processes: no two holders, ever,
// including when many waiters race to take over a lease whose holder died.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, utimesSync, readdirSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLocked, lockOwner, tryLock, withLock } from '../../harness/src/host/lock.ts';

const CHILD = join(import.meta.dirname, 'lock-child.ts');

async function contend(dir: string, n: number, rounds: number, crashEvery: number) {
  const lockDir = join(dir, 'the.lock');
  const log = join(dir, 'log');
  const go = join(dir, 'go');
  writeFileSync(log, '');
  const kids = Array.from({ length: n }, () =>
    spawn(process.execPath, ['--import', 'tsx', CHILD, lockDir, log, String(rounds), String(crashEvery), go], { stdio: ['ignore', 'inherit', 'inherit'] }),
  );
  const codes = Promise.all(kids.map((k) => new Promise<number | null>((r) => k.on('exit', (c) => r(c)))));
  // tsx takes a moment to start; the go file releases them together.
  await new Promise((r) => setTimeout(r, 1500));
  writeFileSync(go, '');
  const exit = await codes;
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  const spans = lines.filter((l) => !l.startsWith('overlap')).map((l) => l.split(' ').slice(1, 3).map(Number) as [number, number]).sort((a, b) => a[0] - b[0]);
  let overlaps = lines.filter((l) => l.startsWith('overlap')).length;
  for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) overlaps++;
  return { exit, spans, overlaps, lockDir };
}

t.test('twelve processes, eight rounds each: one holder at a time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-lock-'));
  const r = await contend(dir, 12, 8, 0);
  t.same(r.exit, Array(12).fill(0));
  t.equal(r.spans.length, 96, 'every round held the lock once');
  t.equal(r.overlaps, 0, 'no two holders');
  t.notOk(existsSync(r.lockDir), 'released: nothing left');
});

t.test('holders die holding it; the survivors race the takeover and still never overlap', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-lock-'));
  // A lease from a host that stopped beating an hour ago is where they all start.
  const lockDir = join(dir, 'the.lock');
  mkdirSync(lockDir);
  const stale = join(lockDir, 'g000000000007');
  writeFileSync(stale, JSON.stringify({ pid: 1, host: 'ci-runner-gone', bootId: 'x', pidNs: 'x', since: '2026-01-01T00:00:00Z' }));
  utimesSync(stale, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  // Each process dies holding the lock on its third round: twelve dead holders to take over from.
  const r = await contend(dir, 12, 3, 3);
  t.same(r.exit, Array(12).fill(0));
  t.equal(r.spans.length, 36);
  t.equal(r.overlaps, 0, 'no two holders');
});

t.test("another host's lease: waited for while it beats, taken once it stops", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-lock-'));
  const lockDir = join(dir, 'x.lock');
  mkdirSync(lockDir);
  const f = join(lockDir, 'g000000000001');
  writeFileSync(f, JSON.stringify({ pid: process.pid, host: 'elsewhere', bootId: 'b', pidNs: 'n', since: '2026-12-07T00:00:00Z' }));
  const timing = { heartbeatMs: 300 };
  const beat = statSync(f).mtimeMs;
  t.match(await lockOwner(lockDir, timing), { pid: process.pid, host: 'elsewhere' });
  t.match(await tryLock(lockDir, timing), { holder: { host: 'elsewhere' } }, 'fresh heartbeat: held');
  await withLock(lockDir, async () => {
    t.ok(Date.now() - beat > 1800, 'taken only after six missed beats');
    t.ok(await isLocked(lockDir, timing), 'now held by us');
    t.match(await lockOwner(lockDir, timing), { pid: process.pid }, 'by this process');
  }, { ...timing, pollMs: 20 });
  t.notOk(existsSync(lockDir));
});

t.test('a holder that stalls past its lease is told it lost the lock and leaves the new lease alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-lock-'));
  const lockDir = join(dir, 'y.lock');
  const a = await tryLock(lockDir, { heartbeatMs: 50 });
  if ('holder' in a) throw new Error('expected the lock');
  // As if a were judged dead while it still runs (a frozen process whose lease expired): its
  // record names a pid that is gone, so its own heartbeat cannot make it look alive.
  const f = join(lockDir, 'g000000000001');
  const rec = JSON.parse(readFileSync(f, 'utf8'));
  writeFileSync(f, JSON.stringify({ ...rec, pid: spawnSync('true').pid }));
  const b = await tryLock(lockDir, { heartbeatMs: 60_000 });
  if ('holder' in b) throw new Error('expected a takeover');
  t.equal(b.gen, 2);
  for (let waited = 0; !a.signal.aborted && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  t.ok(a.signal.aborted, "a's signal says it lost the lease");
  await a.release();
  t.same(readdirSync(lockDir), ['g000000000002'], "a's release left b's lease in place");
  await b.release();
});
