// The line shapes the kernel prints at the start of a report, inside one, and
// around one (spec §2a). Kept apart from detect.ts so classify.ts uses the very
// same definitions.

export type ReportType =
  | 'BUG'
  | 'WARNING'
  | 'INFO'
  | 'KASAN'
  | 'KFENCE'
  | 'KMSAN'
  | 'KCSAN'
  | 'UBSAN'
  | 'GPF'
  | 'Oops'
  | 'invalid opcode'
  | 'divide error'
  | 'double fault'
  | 'stack overflow'
  | 'panic'
  | 'reboot'
  | 'hung task'
  | 'RCU stall'
  | 'soft lockup'
  | 'hard lockup'
  | 'workqueue lockup'
  | 'bad page state'
  | 'bad page map'
  | 'bad rss-counter'
  | 'refcount_t'
  | 'list corruption'
  | 'slab corruption'
  | 'memory leak'
  | 'ODEBUG'
  | 'bad usercopy'
  | 'lockdep'
  | 'sleeping in atomic'
  | 'scheduling while atomic'
  | 'netdev refcount'
  | 'VFS'
  | 'memory failure'
  | 'page dump';

// One cheap anchored test decides whether a line can start a report at all;
// most console lines fail it on the first character or two.
const START_ANY_RE =
  /^(?:\[ (?:BUG|INFO|WARNING): |[Kk]ernel BUG |BUG: |BUG [\w.:-]+ \(|WARNING: |Oops|general protection fault|invalid opcode:|divide(?: |_)error:|int3: |stack segment: |PANIC: double fault|Kernel panic - not syncing|UBSAN: |refcount_t: |list_(?:add|del) corruption|INFO: |rcu: INFO: |watchdog: |Memory failure: |Internal error: |Unable to handle kernel |Unhandled fault: |Alignment trap: |(?:kmemleak: )?unreferenced object 0x|unregister_netdevice: waiting for |VFS: (?:Busy inodes after unmount|Close: file count is 0)|Booting the kernel|rust_kernel: panicked)/;

const START_RULES: Array<[RegExp, ReportType]> = [
  [/^[Kk]ernel BUG /, 'BUG'],
  [/^(?:\[ )?BUG: KASAN: /, 'KASAN'],
  [/^BUG: KFENCE: /, 'KFENCE'],
  [/^BUG: KMSAN: /, 'KMSAN'],
  [/^BUG: KCSAN: /, 'KCSAN'],
  [/^BUG: Bad page (?:state|cache)/, 'bad page state'],
  [/^BUG: Bad page map/, 'bad page map'],
  [/^BUG: (?:Bad rss-counter state|non-zero nr_p(?:te|md)s on freeing mm)/, 'bad rss-counter'],
  [/^(?:watchdog: )?BUG: soft lockup/, 'soft lockup'],
  [/^BUG: workqueue lockup/, 'workqueue lockup'],
  [/^BUG: sleeping function called from invalid context/, 'sleeping in atomic'],
  [/^BUG: scheduling while atomic/, 'scheduling while atomic'],
  [/^BUG: (?:unable to handle|[Kk]ernel NULL pointer dereference|Unable to handle)/, 'Oops'],
  [/^BUG: memory leak/, 'memory leak'],
  [/^BUG: .*stack guard page was hit/, 'stack overflow'],
  [/^BUG: Dentry .* still in use/, 'VFS'],
  [
    /^(?:\[ )?BUG: (?:spinlock |rwlock |.*still has locks held|bad unlock balance|held lock freed|lock held when returning|using \w+\(\) in preemptible|Invalid wait context|workqueue leaked lock|MAX_|key \w+ has not been registered|looking up invalid subclass)/,
    'lockdep',
  ],
  [/^BUG: /, 'BUG'],
  [/^BUG [\w.:-]+ \((?:Not tainted|Tainted: [^)]*)\): /, 'slab corruption'],
  [
    /^(?:\[ )?(?:WARNING|INFO): (?:possible (?:circular|recursive|irq lock inversion)|inconsistent lock state|bad unlock balance|suspicious RCU usage|lock held when returning|held lock freed|Nested lock was not taken|.*still has locks held|.*-safe -> .*-unsafe lock order|SOFTIRQ-safe|trying to register non-static key|chain_key collision|bad contention)/,
    'lockdep',
  ],
  [/^WARNING: .*lib\/debugobjects\.c/, 'ODEBUG'],
  [/^WARNING: .*mm\/usercopy\.c/, 'bad usercopy'],
  [/^WARNING: /, 'WARNING'],
  [/^(?:Oops: )?general protection fault/, 'GPF'],
  [/^(?:Oops: )?invalid opcode:/, 'invalid opcode'],
  [/^(?:Oops: )?divide(?: |_)error:/, 'divide error'],
  [/^PANIC: double fault/, 'double fault'],
  [/^(?:Oops: )?(?:int3|stack segment): /, 'Oops'],
  [/^Oops(?::| -) .*\[#\d+\]/, 'Oops'],
  [/^Internal error: /, 'Oops'],
  [/^Unable to handle kernel /, 'Oops'],
  [/^(?:Unhandled fault|Alignment trap): /, 'Oops'],
  [/^Kernel panic - not syncing: (?:stack-protector|corrupted stack end|kernel stack overflow)/, 'stack overflow'],
  [/^Kernel panic - not syncing/, 'panic'],
  [/^UBSAN: /, 'UBSAN'],
  [/^refcount_t: (?:underflow|overflow|saturated|addition on 0|decrement hit 0)/, 'refcount_t'],
  [/^list_(?:add|del) corruption/, 'list corruption'],
  [/^INFO: task .* (?:blocked for more than|can't die for more than)/, 'hung task'],
  [/^(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?/, 'RCU stall'],
  [/^INFO: /, 'INFO'],
  // Newer kernels name the detecting CPU first (the buddy detector reports another CPU): "watchdog: CPU0: Watchdog detected hard LOCKUP on cpu 1".
  [/^watchdog: (?:CPU\d+: )?Watchdog detected hard LOCKUP/, 'hard lockup'],
  // Ours: a DAX page the kernel could not recover. Other pages' failures are what
  // hwpoison injection (and fuzzers) provoke on purpose, not kernel bugs.
  [/^Memory failure: 0x[0-9a-f]+: recovery action for dax page: (?:Failed|Ignored)\b/, 'memory failure'],
  [/^(?:kmemleak: )?unreferenced object 0x[0-9a-f]+ \(size \d+\):/, 'memory leak'],
  [/^unregister_netdevice: waiting for \S+ to become free/, 'netdev refcount'],
  [/^VFS: (?:Busy inodes after unmount|Close: file count is 0)/, 'VFS'],
  [/^Booting the kernel/, 'reboot'],
  // A Rust panic (its handler calls BUG() next).
  [/^rust_kernel: panicked/, 'BUG'],
];

// Lines that look like report starts and are not: boot-time notices, filesystem
// messages, lockdep switching itself off, and a user-space fault as the kernel logs it.
const NOT_A_START_RE =
  /^(?:WARNING: (?:\/etc\/ssh\/moduli does not exist|workqueue cpumask: online intersect > possible intersect|[Tt]he mand mount option|Unsupported flag value|Unprivileged eBPF is enabled|fbcon: Driver|See https|kernel not compiled with CPU_SRSO)|INFO: (?:task .* is blocked on |lockdep is turned off|Stall ended before state dump start|NMI handler|recovery required on readonly filesystem|sys_.* is not present in \/proc\/kallsyms|no syscalls can create resource)|INFO: .*(?:handler|interrupt).*took too long|BUG: no syscalls can create resource|(?:Oops: )?general protection fault .* error:\d+ in )|[Ww][Aa][Rr][Nn][Ii][Nn][Gg]: .* uses (?:deprecated v2 capabilities|wireless extensions)/;

/** printk never prints a line longer than this (LOG_LINE_MAX); anything longer is not one kernel line. */
export const PRINTK_LINE_MAX = 1024;

/** The report type a line starts, or null. `t` is kernel text with leading blanks removed. */
export function matchStart(t: string): ReportType | null {
  if (t.length > PRINTK_LINE_MAX || !START_ANY_RE.test(t) || NOT_A_START_RE.test(t)) return null;
  for (const [re, type] of START_RULES) if (re.test(t)) return type;
  return null;
}

/** Types whose report means the guest is going down (guests run with oops=panic). */
export const FATAL_TYPES: ReadonlySet<ReportType> = new Set<ReportType>(['GPF', 'Oops', 'invalid opcode', 'divide error', 'double fault', 'panic', 'reboot']);

/** Lines anywhere in a report that show the kernel died (die() or panic()). */
export const DEATH_RE =
  /^(?:Oops: |invalid opcode:|double fault: |general protection fault|divide(?: |_)error:|int3: |stack segment: |stack guard page: |PANIC: double fault|kernel stack overflow|Kernel panic - not syncing|[Kk]ernel BUG at |Internal error: |BUG: (?:unable to handle|[Kk]ernel NULL pointer dereference))/;

// Lines that belong to a page dump printed before (or inside) a report.
const DUMP_ANY_RE = /^(?:page:|head:|raw: |(?:mapping->)?aops:|(?:anon |ksm )?flags: 0x|page_type: |memcg:|page dumped because: |page does not match folio|failed to read mapping|page->mem_cgroup:)/;
const DUMP_STRICT_RE = /^(?:page: ?(?:[0-9a-f]{6,}|refcount:|\(ptrval\))|page:[0-9a-f]+ is uninitialized|head: ?(?:[0-9a-f]{6,}|order:)|raw: [0-9a-f]{8}|(?:mapping->)?aops:|(?:anon |ksm )?flags: 0x[0-9a-f]+\(|page_type: |memcg:[0-9a-f]|page dumped because: |page does not match folio|failed to read mapping|page->mem_cgroup:)/;

export function isPageDumpLine(t: string): boolean {
  return DUMP_ANY_RE.test(t) && DUMP_STRICT_RE.test(t);
}

export const CUT_HERE_RE = /^-{12}\[ cut here \]-{12}/;

/**
 * Everything an idle line can begin with that matters (a report start, a page
 * dump line, a cut-here, the census), tested where the kernel text starts
 * (sticky): a console line either begins with one of these or is of no interest.
 */
export const MARK_AT_RE = new RegExp(
  `[ \t]*(?:${[START_ANY_RE, DUMP_ANY_RE, CUT_HERE_RE].map((r) => r.source.replace(/^\^/, '')).join('|')}|dax_census: dump )`,
  'y',
);
export const END_TRACE_RE = /^---\[ end trace/;
export const END_PANIC_RE = /^---\[ end Kernel panic/;
export const KASAN_END_RE = /^={40,}$/;

// A stack frame as printed by %pS / %pB (optionally `? `-prefixed or decoded with file:line).
export const FRAME_RE =
  /^(\? )?([A-Za-z_.$][\w.$]*)\+(0x[0-9a-f]+)\/(0x[0-9a-f]+)(?: \[([\w-]+)(?: [0-9a-fA-Z]+)?\])?(?: (\S+?):(\d+)(?::\d+)?)?( \[inline\])?( \(unreliable\))?/;
// Decoded-only frames: "folio_get include/linux/mm.h:1419 [inline]" or "dax_fault_iter (fs/dax.c:1234)".
export const DECODED_FRAME_RE = /^(\? )?([A-Za-z_][\w.$]*) \(?([\w./-]+\.[chS]):(\d+)(?::\d+)?\)?( \[inline\])?$/;

// Lines that are normal inside any report even though they are not frames.
const BODY_RE = new RegExp(
  '^(?:' +
    [
      String.raw`\? `,
      String.raw`</?(?:TASK|IRQ|NMI|EOI|SOFTIRQ|#DF|#MC|#VC|#DB)>`,
      String.raw`[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x[0-9a-f]+`,
      String.raw`Call Trace:`,
      String.raw`Call trace:`,
      String.raw`Exception stack`,
      String.raw`RIP: `,
      String.raw`Code: `,
      String.raw`RSP: `,
      String.raw`[A-Z][A-Z0-9_]{1,7}: ?[0-9a-f]{4}`,
      String.raw`(?:pc|lr|sp|x\d+) ?: `,
      String.raw`FS: `,
      String.raw`CS: `,
      String.raw`Modules linked in`,
      String.raw`CPU: \d+`,
      String.raw`Hardware name:`,
      String.raw`Workqueue: `,
      String.raw`Tainted:`,
      String.raw`Not tainted`,
      String.raw`---\[ end`,
      String.raw`Kernel Offset`,
      String.raw`Kernel panic`,
      String.raw`Shutting down cpus`,
      String.raw`Rebooting in`,
      String.raw`Dumping ftrace`,
      String.raw`irq event stamp`,
      String.raw`hardirqs `,
      String.raw`softirqs `,
      String.raw`Disabling lock debugging`,
      String.raw`Sending NMI`,
      String.raw`NMI backtrace`,
      String.raw`task:`,
      String.raw`INFO: lockdep`,
      String.raw`INFO: task .* is blocked on`,
      String.raw`in_atomic\(\)`,
      String.raw`preempt_count`,
      String.raw`Preemption disabled`,
      String.raw`#PF: `,
      String.raw`PGD `,
      String.raw`"echo 0 >`,
      String.raw`Showing all locks`,
      String.raw`Showing busy workqueues`,
      String.raw`\d+ locks? held by`,
      String.raw`no locks held by`,
      String.raw`#\d+: `,
      String.raw`-> #\d`,
      String.raw`={20,}`,
      String.raw`-{20,}`,
      String.raw`rcu: `,
      String.raw`Task dump for CPU`,
      // A soft lockup's CPU utilisation (6.10+): "CPU#0 Utilization every 4s during lockup:".
      String.raw`CPU#\d+ (?:Utilization|Detect)`,
      String.raw`(?:Allocated|Freed) by task`,
      String.raw`Last potentially related`,
      String.raw`Second to last`,
      String.raw`The buggy address`,
      String.raw`which belongs to`,
      String.raw`freed \d+-byte region`,
      String.raw`allocated \d+-byte region`,
      String.raw`Memory state around`,
      String.raw`>?[0-9a-f]{16}: `,
      String.raw`\^`,
      String.raw`page last`,
      String.raw`page_owner`,
      String.raw`(?:Read|Write) (?:of size|at addr)`,
      String.raw`KASAN: `,
      String.raw`KFENCE: `,
      String.raw`(?:Out-of-bounds|Use-after-free|Invalid free|Corrupted memory) `,
      String.raw`index \d+ is out of range`,
      String.raw`(?:signed|unsigned|shift|load|member|division|variable|execution|null)\b`,
      String.raw`addr:`,
      String.raw`file:`,
      String.raw`(?:other info|but task|which lock|the existing|Chain exists|Possible unsafe|Possible interrupt|\*\*\* DEADLOCK|stack backtrace|the dependencies|the shortest|to a \w+-(?:irq-)?(?:unsafe|safe) lock|is trying to acquire|already depends|lockdep_|inconsistent|.*\{[+.\-?]{2,}\})`,
      String.raw`(?:CPU\d|----|lock\(|\s*<Interrupt>)`,
      String.raw`\S+ is trying to (?:acquire|release)`,
      String.raw`\d+\.\d+\S* #\d+`,
      String.raw`\(detected by`,
      String.raw`\(t=\d+ jiffies`,
      String.raw`pool \d+:`,
      String.raw`workqueue \S+: flags`,
      String.raw`pwq \d+:`,
      String.raw`in-flight:`,
      String.raw`pending:`,
      // KCSAN, KMSAN, kmemleak, ODEBUG, lockdep and stall texts.
      String.raw`(?:read|write|read-write|race at unknown origin)\b.* (?:by task \d+|by interrupt) on cpu`,
      String.raw`value changed:`,
      String.raw`bits changed:`,
      String.raw`Reported by Kernel Concurrency Sanitizer`,
      String.raw`Uninit was (?:stored|created)`,
      String.raw`Local variable .* created at:`,
      String.raw`Bytes? \d+(?:-\d+)? of \d+ (?:is|are) uninitialized`,
      String.raw`Memory access of size`,
      String.raw`Data copied to user address`,
      String.raw`\(stack is not available\)`,
      String.raw`unreferenced object 0x`,
      String.raw`backtrace(?: \(crc [0-9a-f]+\))?:`,
      String.raw`ODEBUG: `,
      String.raw`The code is fine but needs lockdep annotation`,
      String.raw`you didn't initialize this object`,
      String.raw`turning off the locking correctness validator`,
      String.raw`but there are no more locks to release`,
      String.raw`\S+ is (?:freeing memory|leaving the kernel|trying to lock)`,
      String.raw`context-\{`,
      String.raw`\[<[0-9a-f]+>\] `,
      String.raw`[0-9a-f]{8,} \(`,
      String.raw`Tasks blocked on`,
      String.raw`\t`,
      String.raw`NMI backtrace for cpu`,
      String.raw`Hardware name`,
      String.raw`PANIC: double fault`,
      String.raw`double fault: `,
      String.raw`kernel stack overflow`,
      String.raw`stack guard page: `,
      String.raw`Kernel stack is corrupted`,
      String.raw`usercopy: `,
      String.raw`INFO: task \S+ blocked on`,
      String.raw`last function:`,
      String.raw`Internal error: `,
      String.raw`Mem abort info`,
      String.raw`Data abort info`,
      String.raw`ESR = `,
      String.raw`EC = `,
      String.raw`SET = `,
      String.raw`FSC = `,
      String.raw`CM = `,
      String.raw`ISV = `,
      String.raw`user pgtable`,
      String.raw`\[[0-9a-f]{16}\] pgd=`,
      String.raw`PC is at`,
      String.raw`LR is at`,
      String.raw`pstate: `,
      String.raw`Process \S+ \(pid: `,
      String.raw`Stack: `,
      String.raw`Backtrace:`,
      String.raw`\(detected by \d+`,
      String.raw`caller is `,
      String.raw`\S+ \[HC\d\[\d+\]:SC\d\[\d+\]:HE\d:SE\d\] (?:takes|is trying to acquire):`,
      String.raw`\{[\w-]+\} state was registered at:`,
      String.raw`\S+ just changed the state of lock:`,
      String.raw`but this lock (?:took|was taken by) another`,
      String.raw`and interrupts could create inverse lock ordering`,
      String.raw`and this task is already holding:`,
      String.raw`which would create a new lock dependency:`,
      String.raw`but this new dependency connects`,
      String.raw`\.\.\. which became`,
      String.raw`\S+ is leaving the kernel with locks still held`,
      String.raw`[\w./-]+\.[ch]:\d+ `,
      String.raw`RCU nest depth`,
      String.raw`rcu_scheduler_active`,
      String.raw`May be due to missing lock nesting`,
      String.raw`Pointer tag:`,
      String.raw`Free of addr`,
      String.raw`kfence-#\d+`,
      String.raw`(?:allocated|freed) by task \d+ on cpu`,
      String.raw`ref_tracker: `,
      String.raw`[0-9a-f]{4}:(?: +(?:[0-9a-f]{8}|\?{8}))+$`,
    ].join('|') +
    ')',
);

/** Whether a line looks like part of a kernel report body (or a page dump). */
export function isBodyLine(t: string, indented: boolean): boolean {
  if (indented) return true;
  if (t.length === 0) return true;
  return BODY_RE.test(t) || isPageDumpLine(t);
}

/** Lines that may follow an end marker and still belong to the same report. */
export const TAIL_RE =
  /^(?:RIP: |Code: |RSP: |[A-Z][A-Z0-9_]{1,7}: ?[0-9a-f]{4}|FS: |CS: |Kernel panic - not syncing|Kernel Offset|---\[ end Kernel panic|Shutting down cpus|Rebooting in|Dumping ftrace|Disabling lock debugging|note: \S+\[\d+\] exited|Fixing recursive fault|CR2: |PKRU: |ERROR: |Modules linked in)/;
