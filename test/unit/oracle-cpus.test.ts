// Other CPUs' backtraces inside stall reports: how each block shape is read
// (NMI with registers, a CPU dumping itself, idle, user space, a task dump,
// old and arm64 frames), which CPU an IPI wait is blamed on, and that a late
// backtrace still reaches the live detector's report.
import t from 'tap';
import { busyInKernel, culpritCpu, parseCpus, rcuStalledCpus, waitsForOthers, type CpuInfo } from '../../harness/src/oracle/cpus.js';
import { titleReport } from '../../harness/src/oracle/titles.js';
import { ReportDetector, parseLog } from '../../harness/src/oracle/index.js';
import type { CrashReport } from '../../harness/src/results/records.js';

const names = (c: CpuInfo) => c.bt.frames.filter((f) => f.reliable).map((f) => f.norm);

// A soft lockup of our fault module, spinning in a write to its trigger file.
const SPIN_LOCKUP = [
  'watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:214]',
  'RIP: 0010:delay_tsc+0x33/0xa0',
  'Call Trace:',
  '<TASK>',
  'daxh_fault_spin+0x60/0x91 [daxh_fault]',
  'vfs_write+0xc7/0x3f0',
  'ksys_write+0x6b/0xf0',
  'do_syscall_64+0x5d/0xb0',
  '</TASK>',
];

// A CPU interrupted by the backtrace NMI: registers, then its stack under the NMI's own frames.
const nmiBlock = (cpu: number, rip: string, eflags: string, frames: string[]) => [
  `NMI backtrace for cpu ${cpu}`,
  `CPU: ${cpu} PID: ${100 + cpu} Comm: worker${cpu} Not tainted 6.1.0 #1`,
  'Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
  `RIP: 0010:${rip}+0x6c/0x2d0`,
  `RSP: 0018:ffffb0a5c0c37c48 EFLAGS: ${eflags}`,
  'RAX: 0000000000000101 RBX: ffff99a389d3e1a0 RCX: 0000000000000000',
  'Call Trace:',
  '<NMI>',
  '? nmi_cpu_backtrace.cold+0x1b/0x76',
  '? nmi_handle+0x5d/0x120',
  '</NMI>',
  '<TASK>',
  ...frames.map((f) => `${f}+0x10/0x40`),
  '</TASK>',
];

t.test('an NMI block: header, RIP, interrupt flag, and the stack without the NMI frames', async (t) => {
  const [c] = parseCpus(nmiBlock(1, 'native_queued_spin_lock_slowpath', '00000046', ['_raw_spin_lock_irq', 'dax_lock_folio', 'memory_failure']));
  t.match(c!.bt, { cpu: 1, comm: 'worker1', pid: 101, idle: false, rip: { fn: 'native_queued_spin_lock_slowpath', section: 'rip' } });
  t.same(names(c!), ['_raw_spin_lock_irq', 'dax_lock_folio', 'memory_failure'], 'nmi_cpu_backtrace and friends are the NMI, not the CPU');
  t.equal(c!.irqsOff, true, 'EFLAGS without IF (0x200)');
  t.equal(parseCpus(nmiBlock(1, 'f', '00000246', ['g']))[0]!.irqsOff, false);
});

t.test('idle, user space and a task dump', async (t) => {
  const cpus = parseCpus([
    'NMI backtrace for cpu 0 skipped: idling at native_safe_halt+0xb/0x10',
    'NMI backtrace for cpu 1',
    'CPU: 1 PID: 1876 Comm: dax mmap Not tainted 6.1.0 #1',
    'RIP: 0033:0x55c3b2a4b2a6',
    'RSP: 002b:00007f9e0bffee40 EFLAGS: 00000206',
    'FS:  00007f9e0bfff6c0 GS:  0000000000000000',
    'NMI backtrace for cpu 2',
    'CPU: 2 PID: 0 Comm: swapper/2 Not tainted 6.1.0 #1',
    'RIP: 0010:default_idle+0xf/0x20',
    'Call Trace:',
    '<TASK>',
    'default_idle_call+0x2c/0xe0',
    'do_idle+0x1f3/0x260',
    '</TASK>',
    'Task dump for CPU 3:',
    'task:kworker/3:1     state:R  running task     stack:0     pid:88    ppid:2      flags:0x00004008',
    'Call Trace:',
    '<TASK>',
    '? process_one_work+0x179/0x390',
    'worker_thread+0x27e/0x3a0',
    '</TASK>',
  ]);
  t.same(
    cpus.map((c) => [c.bt.cpu, c.bt.comm, c.bt.pid, c.bt.idle, c.bt.rip?.fn ?? null]),
    [
      [0, null, null, true, 'native_safe_halt'],
      [1, 'dax mmap', 1876, false, null],
      [2, 'swapper/2', 0, true, 'default_idle'],
      [3, 'kworker/3:1', 88, false, null],
    ],
    'the kernel saying "idling", an idle function at RIP, a user-space RIP, sched_show_task',
  );
  t.notOk(busyInKernel(cpus[1]!), 'a CPU in user space answers IPIs');
  t.same(names(cpus[3]!), ['worker_thread']);
});

t.test('a CPU that dumps itself: the printing path is cut, an interrupted context wins', async (t) => {
  const [self, rcu] = parseCpus([
    'NMI backtrace for cpu 0',
    'CPU: 0 PID: 38 Comm: khungtaskd Not tainted 6.1.0 #1',
    'Call Trace:',
    '<TASK>',
    'dump_stack_lvl+0x44/0x5c',
    'nmi_cpu_backtrace.cold+0x30/0x70',
    'nmi_trigger_cpumask_backtrace+0xc9/0xd0',
    'watchdog+0x2c4/0x4d0',
    'kthread+0xd7/0x100',
    '</TASK>',
    'NMI backtrace for cpu 1',
    'CPU: 1 PID: 88 Comm: kworker/1:2 Not tainted 6.1.0 #1',
    'Call Trace:',
    '<IRQ>',
    'dump_stack_lvl+0x44/0x5c',
    'rcu_dump_cpu_stacks+0xe7/0x130',
    'sysvec_apic_timer_interrupt+0x6d/0x90',
    '</IRQ>',
    '<TASK>',
    'asm_sysvec_apic_timer_interrupt+0x16/0x20',
    'RIP: 0010:census_walk_pfn+0x4e/0xa0 [dax_census]',
    'RSP: 0018:ffffc90001a7fb98 EFLAGS: 00000046',
    'census_walk_range+0x8a/0x110 [dax_census]',
    'census_work+0x3c/0x80 [dax_census]',
    '</TASK>',
  ]);
  t.same(names(self!), ['watchdog', 'kthread']);
  t.equal(self!.bt.rip, null);
  t.match(rcu!.bt.rip, { fn: 'census_walk_pfn', module: 'dax_census' });
  t.same(names(rcu!), ['census_walk_range', 'census_work']);
  t.equal(rcu!.irqsOff, true, 'the interrupted context has interrupts off');
});

t.test('old kernels and arm64', async (t) => {
  const [old, arm] = parseCpus([
    'NMI backtrace for cpu 1',
    'CPU: 1 PID: 7 Comm: kworker/1:0 Not tainted 4.9.0 #1',
    'RIP: 0010:[<ffffffff81234567>]  [<ffffffff81234567>] spin_fn+0x6c/0x2d0',
    'Call Trace:',
    '[<ffffffff81234600>] caller_fn+0x10/0x40',
    '[<ffffffff81234700>] ? maybe_fn+0x10/0x40',
    'rcu: rcu_preempt kthread starved for 10502 jiffies!',
    'NMI backtrace for cpu 2',
    'CPU: 2 PID: 90 Comm: stress Not tainted 6.6.0 #1',
    'pstate: 604000c9 (nZCv daIF +PAN -UAO -TCO -DIT -SSBS BTYPE=--)',
    'pc : arm_spin+0x10/0x40',
    'lr : arm_caller+0x20/0x40',
    'Call trace:',
    'arm_spin+0x10/0x40',
    'arm_caller+0x20/0x40',
    'el0_svc+0x30/0x90',
    'some unrelated line',
  ]);
  t.equal(old!.bt.rip?.fn, 'spin_fn', 'the old RIP line with its two addresses');
  t.same(names(old!), ['caller_fn'], 'frames behind addresses; the block ends at RCU\'s next line');
  t.equal(old!.bt.frames.length, 2, 'the questionable frame is kept, marked unreliable');
  t.equal(arm!.bt.rip?.fn, 'arm_spin');
  t.equal(arm!.irqsOff, true, 'DAIF with I set');
  t.same(names(arm!), ['arm_spin', 'arm_caller', 'el0_svc'], 'the block ends at the first line that is no part of a trace');
});

t.test('which CPU an IPI wait is blamed on', async (t) => {
  const waiter = nmiBlock(0, 'smp_call_function_many_cond', '00000202', ['on_each_cpu_cond_mask', 'flush_tlb_mm_range']);
  const spinOff = nmiBlock(1, 'native_queued_spin_lock_slowpath', '00000046', ['_raw_spin_lock_irq', 'dax_lock_folio']);
  const busyOn = nmiBlock(2, 'dax_iomap_pte_fault', '00000246', ['__do_fault']);
  const idle = ['NMI backtrace for cpu 3 skipped: idling at native_safe_halt+0xb/0x10'];
  t.ok(waitsForOthers(parseCpus(waiter)[0]!));
  t.equal(culpritCpu(parseCpus([...waiter, ...idle])), null, 'nobody else busy: nobody to blame');
  t.equal(culpritCpu(parseCpus([...waiter, ...busyOn, ...idle]))?.bt.cpu, 2, 'the one CPU busy in the kernel');
  t.equal(culpritCpu(parseCpus([...waiter, ...busyOn, ...spinOff]))?.bt.cpu, 1, 'of two busy CPUs, the one with interrupts off');
  const busyOn2 = nmiBlock(4, 'other_fn', '00000246', ['__do_fault']);
  t.equal(culpritCpu(parseCpus([...busyOn, ...busyOn2])), null, 'two busy CPUs with interrupts on: no guess');
});

t.test('RCU names its stalled CPUs', async (t) => {
  t.same([...rcuStalledCpus(['rcu: \t0-....: (21002 ticks this GP) idle=1f4c/1/0x4000000000000000', 'rcu: \t3-...!: (0 ticks this GP) idle=1/0/0x1', '(detected by 2, t=21005 jiffies)'])], [0, 3]);
  t.same([...rcuStalledCpus(['rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 1-.... 5-...D } 5440 jiffies s: 57 root: 0x2/.'])], [1, 5]);
});

t.test('a soft lockup in an IPI wait: the partner is an alternative title only when it is busy', async (t) => {
  const head = [
    'watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [trace-cmd:667]',
    'RIP: 0010:smp_call_function_many_cond+0xf1/0x330',
    'Call Trace:',
    '<TASK>',
    'on_each_cpu_cond_mask+0x20/0x40',
    'text_poke_bp_batch+0xb7/0x300',
    'vfs_write+0xc7/0x3f0',
    'ksys_write+0x6b/0xf0',
    'do_syscall_64+0x5d/0xb0',
    '</TASK>',
    'Sending NMI from CPU 0 to CPUs 1:',
  ];
  const partner = nmiBlock(1, 'native_queued_spin_lock_slowpath', '00000046', ['_raw_spin_lock_irq', 'grab_mapping_entry', 'dax_iomap_pte_fault', 'ext4_dax_huge_fault', '__do_fault', 'do_fault']);
  const idle = ['NMI backtrace for cpu 1 skipped: idling at native_safe_halt+0xb/0x10'];
  const title = (lines: string[]) => {
    const r = titleReport(lines, 0, () => parseCpus(lines.slice(lines.findIndex((l) => l.startsWith('Sending NMI')))));
    return [r?.title, r?.culprit?.bt.cpu ?? null];
  };
  const alts = (lines: string[]) => titleReport(lines, 0, () => parseCpus(lines.slice(lines.findIndex((l) => l.startsWith('Sending NMI')))))?.altTitles ?? [];
  t.same(title(head), ['BUG: soft lockup in smp_call_function', null], 'no backtraces: as syzbot titles it');
  t.same(title([...head, ...idle]), ['BUG: soft lockup in smp_call_function', null], 'the partner idles: emulation, not a bug of the partner');
  t.same(title([...head, ...partner]), ['BUG: soft lockup in smp_call_function', 1], 'the partner spins in a DAX fault: named, but syzbot\'s title stays');
  t.ok(alts([...head, ...partner]).includes('BUG: soft lockup in ext4_dax_huge_fault'), 'the partner\'s frame is an alternative title');
  t.notOk(alts([...head, ...idle]).includes('BUG: soft lockup in native_safe_halt'), 'an idle partner is no alternative');
  const notWaiting = head.map((l) => l.replace('smp_call_function_many_cond', 'copy_huge_pmd').replace('on_each_cpu_cond_mask', 'copy_page_range'));
  t.same(title([...notWaiting, ...partner]), ['BUG: soft lockup in text_poke_bp_batch', null], 'a stall of its own is not blamed on another CPU');
});

t.test('a backtrace announced but late still lands in the live report', async (t) => {
  const got: CrashReport[] = [];
  const d = new ReportDetector({ onReport: (r) => got.push(r), idleMs: 100 });
  for (const l of [...SPIN_LOCKUP, 'Sending NMI from CPU 0 to CPUs 1:']) d.push(`[   96.376786] ${l}`);
  // Slower than idleMs (a TCG vCPU answering late), faster than the detector's one longer grace period.
  await new Promise((r) => setTimeout(r, 180));
  t.equal(got.length, 0, 'still waiting for the CPU it asked');
  d.push('[   96.433503] NMI backtrace for cpu 1 skipped: idling at native_safe_halt+0xb/0x10');
  await new Promise((r) => setTimeout(r, 250));
  t.equal(got.length, 1);
  t.match(got[0]!.cpus, [{ cpu: 1, idle: true }]);
  d.close();
});

t.test('other CPUs\' backtraces do not make a report corrupted', async (t) => {
  // Without NMIs the kernel shows a remote CPU's task by sched_show_task(): an unreliable stack.
  const taskDump = ['Task dump for CPU 1:', 'task:kworker/1:1     state:R  running task     stack:0     pid:31    ppid:2      flags:0x00004008', 'Call Trace:', '<TASK>', '? process_one_work+0x179/0x390', '? worker_thread+0x27e/0x3a0', '</TASK>'];
  const r = titleReport([...SPIN_LOCKUP, ...taskDump]);
  t.equal(r?.title, 'BUG: soft lockup in daxh_fault_spin');
  t.equal(r?.corrupted, false);
  t.equal(titleReport(SPIN_LOCKUP.slice(0, 4))?.corrupted, true, 'its own stack cut short still is');
});

t.test('other output between "Sending NMI" and the backtraces it asked for does not cut them off', async (t) => {
  const ts = (l: string) => `[   96.400000] ${l}`;
  const log = [...SPIN_LOCKUP, 'Sending NMI from CPU 0 to CPUs 1:'].map(ts);
  const late = ['hrtimer: interrupt took 98168290 ns', 'NMI backtrace for cpu 1 skipped: idling at native_safe_halt+0xb/0x10', 'virtio_net virtio0 eth0: link up'].map(ts);
  const [r, ...rest] = parseLog([...log, ...late].join('\n'));
  t.equal(rest.length, 0);
  t.match(r!.cpus, [{ cpu: 1, idle: true }]);
  t.notOk(r!.lines.some((l) => l.includes('hrtimer') || l.includes('virtio_net')), 'the other lines are not the report\'s');
  // Once every CPU asked has answered, the report ends at the next unrelated line as before.
  const [s] = parseLog([...log, late[1]!, late[0]!, ts('NMI backtrace for cpu 2 skipped: idling at native_safe_halt+0xb/0x10')].join('\n'));
  t.equal(s!.cpus?.length, 1, 'a block after the report has ended is not pulled back in');
});
