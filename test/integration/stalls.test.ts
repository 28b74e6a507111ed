// Stalls under TCG, for real (our fault module spins in the kernel): the
// detectors are scaled to the accelerator and recorded, a stall the guest
// survives fails the test it lands in and the suite goes on, and a lockup
// with interrupts off for minutes is still caught and titled.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../../harness/src/workflows/run.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { prepareStockKernel } from '../../harness/src/kernel/stock.ts';
import { loadFaults, triggerFault } from './faults.ts';
import type { Guest } from '../../harness/src/vm/guest.ts';

const quiet = () => {};

t.test('a soft lockup the guest survives fails its test; the rest of the suite runs', async (t) => {
  const kernel = await prepareStockKernel(quiet);
  let guest: Guest | null = null;
  let fired = false;
  const { record } = await runWorkflow({
    kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology,
    resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-stall-')), filesystems: ['ext4', 'xfs'], seconds: 0, seed: 1,
    bootTimeoutMs: 240000, cmdlineExtra: [], accel: 'tcg',
    progress: (_phase, msg) => {
      // One vCPU spins with preemption off for 90 s as the ext4 test starts.
      if (guest && !fired && /^dax-smoke\.ext4 \.\.\./.test(msg)) {
        fired = true;
        void triggerFault(guest, 'softlockup:90', 300000).catch(() => {});
      }
    },
    onReady: async (s) => {
      await loadFaults(s.guest, kernel);
      guest = s.guest;
    },
  });
  t.ok(fired, 'the lockup was started during the ext4 test');
  t.same(record.watchdogs, { softLockupS: 60, rcuStallS: 120, hungTaskS: 360 }, 'TCG-scaled detectors recorded');
  t.match(record.kernelCmdline, /watchdog_thresh=30 /);
  t.match(record.kernelCmdline, /softlockup_all_cpu_backtrace=1/);
  // The spin is seen by the soft lockup detector at 60 s, or sooner as an
  // expedited RCU stall when the test waits on one (the kernel caps that
  // timeout at 21 s): either way one test holds it, with the spinning function.
  const isStall = (c: { type: string }) => c.type === 'soft lockup' || c.type === 'RCU stall';
  const stalled = record.tests.filter((x) => x.crashes.some(isStall));
  t.equal(stalled.length, 1, `one test holds the stall: ${record.tests.map((x) => `${x.name}:${x.status}`).join(' ')}`);
  t.equal(stalled[0]?.status, 'crash');
  const reports = stalled[0]?.crashes.filter(isStall) ?? [];
  t.ok(reports.length >= 1 && reports.every((c) => /soft lockup|rcu detected stall/.test(c.title)), `titled: ${reports.map((c) => c.title).join('; ')}`);
  t.ok(reports.some((c) => c.lines.some((l) => /daxh_fault_spin/.test(l))), 'the spinning function is in the report');
  const after = record.tests.slice(record.tests.indexOf(stalled[0]) + 1);
  t.equal(stalled[0]?.name, 'dax-smoke');
  t.ok(after.length >= 1, 'tests after the stalled one still ran');
  t.ok(after.every((x) => x.status === 'pass'), `and passed: ${after.map((x) => `${x.name}:${x.status}`).join(' ')}`);
  t.equal(record.status, 'fail');
  t.notMatch(record.reason, /ended the run/, 'the stall did not end the run');
});
