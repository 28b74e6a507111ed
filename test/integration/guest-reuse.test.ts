// Cells that would boot the same guest run one after another in it (the
// nightly's pool): the second cell pays no boot, keeps its own console.log,
// and a kernel report printed while the guest sat idle between cells lands on
// the next cell's boot step, not nowhere. A guest that saw a report is not
// kept.
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executeCell, guestKeyOf, prepareCell, type CellEnv, type CellPlan } from '../../harness/src/workflows/cell/index.ts';
import { GuestPool } from '../../harness/src/workflows/guest-pool.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { loadFaults } from './faults.ts';
import type { DaxFs } from '../../harness/src/suites/fsdax.ts';
import type { Session } from '../../harness/src/workflows/session.ts';

const quiet = () => {};
const results = mkdtempSync(join(tmpdir(), 'daxh-results-'));
const pool = new GuestPool();
t.teardown(() => pool.close());

const plan = (fs: DaxFs): CellPlan => ({
  kernel: { kind: 'stock' },
  suite: 'smoke',
  image: 'initramfs',
  topology: structuredClone(defaultTopology),
  filesystems: [fs],
  seconds: 0,
  seed: 1,
  bootTimeoutMs: 240000,
  cmdlineExtra: [],
});

async function cell(fs: DaxFs, onReady?: (s: Session) => Promise<void>) {
  const prepared = await prepareCell(plan(fs), { progress: quiet });
  const env: CellEnv = { resultsRoot: results, progress: quiet, handleSignals: false, guests: pool, ...(onReady ? { onReady } : {}) };
  return { prepared, ...(await executeCell(prepared, env)) };
}

const bootIds: string[] = [];
const bootId = async (s: Session) => {
  const r = await s.guest.exec(['cat', '/proc/sys/kernel/random/boot_id'], { timeoutMs: 30000 });
  bootIds.push(r.stdout.trim());
};

t.test('the second cell runs in the guest the first one booted and left clean', async (t) => {
  const a = await cell('ext4', bootId);
  t.equal(a.record.status, 'pass', a.record.reason);
  t.equal(a.record.guest, undefined, 'the first cell booted its own');
  t.ok(a.record.bootMs! > 0);
  t.equal(pool.idleCount(), 1, 'kept after a clean pass');

  const b = await cell('xfs', bootId);
  t.equal(b.record.status, 'pass', b.record.reason);
  t.equal(guestKeyOf(b.prepared), guestKeyOf(a.prepared), 'the two cells would boot the same guest');
  t.same(b.record.guest, { reusedFrom: a.record.id, reusedFromDir: a.runDir, cellsBefore: 1 });
  t.equal(b.record.bootMs, 0, 'no boot paid');
  const boot = b.record.tests.find((x) => x.name === 'boot');
  t.equal(boot?.status, 'pass');
  t.equal(boot?.metrics.reused_from, a.record.id);
  t.equal(bootIds.length, 2);
  t.equal(bootIds[1], bootIds[0], 'the same kernel boot served both cells');
  t.same(b.record.qemuArgv, a.record.qemuArgv);
  const own = readFileSync(join(b.runDir, 'console.log'), 'utf8');
  t.match(own, /XFS \(pmem/, "the second cell's console.log holds its own tests' lines");
  t.notMatch(own, /Linux version/, 'and not the boot it did not pay for');
  t.ok(b.record.tests.some((x) => x.name === 'dax-smoke' && x.status === 'pass'), 'its tests ran');
});

t.test('a report printed while the guest is idle lands on the next cell; that guest is not kept', async (t) => {
  // The fault fires when the harness, not the cell, says so: after the cell ended.
  const armed = async (s: Session) => {
    const kernel = (await prepareCell(plan('ext4'), { progress: quiet })).kernel;
    await loadFaults(s.guest, kernel);
    const r = await s.guest.exec(
      ['sh', '-c', 'setsid sh -c "while [ ! -e /tmp/fire ]; do sleep 0.2; done; echo warn > /sys/kernel/debug/daxh_fault/trigger" </dev/null >/dev/null 2>&1 &'],
      { timeoutMs: 30000 },
    );
    if (r.exitCode !== 0) throw new Error(`arming the fault: ${r.stderr}`);
  };
  const c = await cell('ext4', armed);
  t.equal(c.record.status, 'pass', c.record.reason);
  t.ok(c.record.guest, 'the third cell ran in the kept guest too');
  const g = pool.take(guestKeyOf(c.prepared));
  t.ok(g, 'and left it clean');
  if (!g) return;
  await g.session.guest.exec(['touch', '/tmp/fire'], { timeoutMs: 30000 });
  const t0 = Date.now();
  while (!g.console.lastLines(80).some((l) => l.includes('WARNING:')) && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 200));
  t.ok(g.console.lastLines(80).some((l) => l.includes('WARNING:')), 'the kernel warned while no cell owned the guest');
  await pool.give(g);

  const d = await cell('xfs');
  t.equal(d.record.guest?.reusedFrom, c.record.guest?.reusedFrom, 'the fourth cell took it');
  const boot = d.record.tests.find((x) => x.name === 'boot');
  t.equal(boot?.status, 'crash', 'the idle report is judged on its boot step');
  t.equal(boot?.crashes[0]?.title, 'WARNING in daxh_fault_warn');
  t.ok(d.record.crashes.some((x) => x.title === 'WARNING in daxh_fault_warn'), 'and is one of the run crashes');
  t.equal(d.record.status, 'fail');
  const lines = readFileSync(join(d.runDir, 'console.log'), 'utf8').split('\n');
  const r = boot?.crashes[0];
  const span = r ? lines.slice(r.startLine, r.endLine + 1).join('\n') : '';
  t.match(span, /WARNING: CPU: \d+ PID: \d+ at .*daxh_fault_warn/, "the report's line numbers point into this run's console.log");
  t.ok(d.record.tests.some((x) => x.name === 'dax-smoke' && x.status === 'pass'), 'a WARNING does not end the guest: the tests ran');
  t.equal(pool.idleCount(), 0, 'a guest that saw a report is shut down, not kept');
});
