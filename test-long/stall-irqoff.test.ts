// A real lockup under TCG: a task spinning in the kernel with interrupts off
// for minutes (our fault module). The soft-lockup detector cannot fire on a
// CPU whose interrupts are off and TCG has no NMI watchdog, so the other CPU
// must catch it (an RCU stall naming the stalled CPU from its NMI backtrace);
// the report is titled and carries the CPUs' backtraces, and the guest
// answers again when the spin ends.
import t from 'tap';
import { watchConsole } from '../harness/src/workflows/watch.ts';
import { bootDefault } from '../test/integration/boot-default.ts';
import { loadFaults, triggerFault } from '../test/integration/faults.ts';
import type { CrashReport } from '../harness/src/results/records.ts';

t.test('interrupts off for 200 s on one vCPU: caught, titled, the guest survives', async (t) => {
  const { s, kernel } = await bootDefault('irqoff');
  t.teardown(() => s.close());
  const reports: CrashReport[] = [];
  const watch = watchConsole(s.machine.console, s.machine.exited, () => {}, (r) => reports.push(r));
  await loadFaults(s.guest, kernel);
  const started = Date.now();
  const spin = triggerFault(s.guest, 'irqoff:200', 600000).catch((e: Error) => e);
  while (!reports.length && Date.now() - started < 400000) await new Promise((r) => setTimeout(r, 2000));
  const stall = reports[0];
  t.ok(stall, `a stall was reported after ${((Date.now() - started) / 1000).toFixed(0)} s`);
  t.match(stall?.type ?? '', /RCU stall|hard lockup|soft lockup/, `type ${stall?.type}`);
  t.ok(stall?.title, `titled: ${stall?.title}`);
  t.ok(stall?.lines.some((l) => /daxh_fault_spin/.test(l)), 'the spinning function is in the report (the stalled CPU was backtraced)');
  t.ok((stall?.cpus ?? []).length >= 1, `per-CPU backtraces attached (${(stall?.cpus ?? []).map((c) => c.cpu).join(', ')})`);
  await spin;
  const after = await s.guest.exec(['echo', 'alive'], { timeoutMs: 180000 }).catch((e: Error) => e);
  t.equal(after instanceof Error ? after.message : after.stdout, 'alive\n', 'the guest answers after the spin');
  watch.stop();
});
