// Titles for kernel reports, the way syzbot names them, so that a title from
// us and one from syzbot's dashboard or a mailing list compare equal: each kind
// of report (found by its first line, the "oops line") has its own title format
// and its own rule for which frame names it. Alternative titles let one bug
// match across kinds (a soft lockup and an RCU stall in the same syscall are
// both "stall in f"); a report that was cut short or interleaved is marked
// corrupted instead of being titled from the wrong frame.
import { PRINTK_LINE_MAX, type ReportType } from './patterns.js';
import { canonicalFrame, hangFrame, neverGuilty, stallFrame, SYSCALL_PREFIXES } from './guilty.js';
import { demangle } from './demangle.js';
import { busyInKernel, cpuStack, culpritCpu, rcuStalledCpus, type CpuInfo } from './cpus.js';

/** Where a key frame comes from: the RIP/pc line, the "Call Trace:" line, the frames that follow, or a line pattern (capture 1 is a frame). */
type Part = 'rip' | 'calltrace' | 'trace' | RegExp;
type Pick = 'first' | 'stall' | 'hang';

interface Stack {
  parts: Part[];
  /** Tried in turn when `parts` found no frame. */
  fallback?: Part[][];
  /** Never-guilty frames of this kind, on top of guilty.ts's list. */
  skip?: RegExp;
  pick?: Pick;
}

interface Rule {
  type: ReportType;
  /** Tested on the oops line; captures are the first title arguments. */
  head: RegExp;
  /** Patterns later lines must match, in order; their captures follow the head's. */
  then?: RegExp[];
  stack?: Stack;
  /** `$n` is the n-th argument: captures first, then one key frame per stack trace walked. */
  title: string;
  alt?: string[];
  /** The kind prints no stack trace of its own, so a missing one does not make it corrupted. */
  noStack?: boolean;
  /** The oops line alone shows the report lost its beginning or end. */
  corrupted?: boolean;
  /** A stall: the other CPUs' backtraces may name the CPU that holds the stalled one up (see cpus.ts). */
  cpus?: boolean;
}

const FN = String.raw`([A-Za-z0-9_]+)[.+]`;
const PC = String.raw`\[<?(?:0x)?[0-9a-f]+>?\]`;
const SRC = String.raw`([A-Za-z0-9_./-]+\.[a-z]+:[0-9]+)`;
const re = (s: string) => new RegExp(s);
const at = re(String.raw`at: (?:${PC} +)?${FN}`);

const RIP_STACK: Stack = { parts: ['rip', 'calltrace', 'trace'] };
const TRACE_STACK: Stack = { parts: ['calltrace', 'trace'] };
const traceSkipping = (skip: RegExp, pick?: Pick): Stack => ({ parts: ['calltrace', 'trace'], skip, pick });
// The line that names where the CPU was (x86 RIP/old IP, arm pc, "PC is at"); a user-space
// or unknown address ends the search without naming anything.
const RIP_LINE = re(String.raw`(?:IP|pc |PC is at):? (?:[0-9]+:)?(?:(?:${PC} +){0,2}${FN}|0x[0-9a-f]+|${PC} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))`);
// A WARNING names its RIP function unless that is a helper, then the first caller in the trace
// (powerpc marks the trap as "--- interrupt: 700 at f").
const warnStack = (skip?: RegExp): Stack => ({
  parts: [re(`${RIP_LINE.source}|--- interrupt: [0-9]+ at ${FN}`), 'trace'],
  fallback: [['calltrace', 'trace']],
  skip,
});

// KFENCE names the function on its first line; the stack follows without a header.
const KFENCE_STACK: Stack = { parts: [re(String.raw`BUG: KFENCE: [a-z -]+ in ${FN}`), 'trace'] };

const BUG_RULES: Rule[] = [
  {
    type: 'KASAN',
    head: re(String.raw`BUG: KASAN: ([a-z-]+) in ${FN}`),
    then: [/(Read|Write) (?:of size|at addr)/],
    stack: { parts: [re(String.raw`BUG: KASAN: [a-z-]+ in ${FN}`), 'calltrace', 'trace'], skip: /kernel_fault|tag_check|mem_abort|^el1_|^el1h_/ },
    title: 'KASAN: $1 $3 in $4',
    alt: ['bad-access in $4'],
  },
  {
    type: 'KASAN',
    head: re(String.raw`BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in ${FN}`),
    stack: { parts: [re(String.raw`BUG: KASAN: [a-z -]+ in ${FN}`), 'calltrace', 'trace'], skip: /slab_|kfree|vunmap|vfree/ },
    title: 'KASAN: invalid-free in $2',
    alt: ['invalid-free in $2'],
  },
  { type: 'KASAN', head: /BUG: KASAN: ([a-z-]+) on address/, then: [/(Read|Write) of size ([0-9]+)/], title: 'KASAN: $1 $2' },
  { type: 'KASAN', head: /BUG: KASAN: (.*)/, title: 'KASAN: $1', corrupted: true },
  {
    type: 'KMSAN',
    head: re(String.raw`BUG: KMSAN: kernel-usb-infoleak in ${FN}`),
    stack: {
      parts: ['trace', /Local variable .* created at:|Uninit was created at:/, 'trace'],
      skip: /alloc_skb|usb_submit_urb|usb_start_wait_urb|usb_bulk_msg|usb_interrupt_msg|usb_control_msg/,
    },
    title: 'KMSAN: kernel-usb-infoleak in $2',
    alt: ['KMSAN origin in $3'],
    noStack: true,
  },
  {
    type: 'KMSAN',
    head: re(String.raw`BUG: KMSAN: ([a-z-]+) in ${FN}`),
    stack: {
      parts: ['trace', /Local variable .* created at:|Uninit was created at:/, 'trace'],
      skip: /alloc_skb|netlink_ack|netlink_rcv_skb|_encrypt$|^(?:crypto|cipher|drbg|rng)_/,
    },
    title: 'KMSAN: $1 in $3',
    alt: ['bad-access in $3'],
    noStack: true,
  },
  { type: 'KCSAN', head: /BUG: KCSAN: (.*)/, title: 'KCSAN: $1', noStack: true },
  {
    type: 'KFENCE',
    head: re(String.raw`BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in ${FN}`),
    stack: KFENCE_STACK,
    title: 'KFENCE: $1 $2 in $4',
    alt: ['bad-access in $4'],
    // Ours: KFENCE prints its stacks without a "Call Trace:" header; that is no sign of a cut report.
    noStack: true,
  },
  {
    type: 'KFENCE',
    head: re(String.raw`BUG: KFENCE: invalid free in ${FN}`),
    stack: KFENCE_STACK,
    title: 'KFENCE: invalid free in $2',
    alt: ['invalid-free in $2'],
    noStack: true,
  },
  {
    type: 'KFENCE',
    head: re(String.raw`BUG: KFENCE: invalid (read|write) in ${FN}`),
    stack: KFENCE_STACK,
    title: 'KFENCE: invalid $1 in $3',
    alt: ['bad-access in $3'],
    noStack: true,
  },
  {
    type: 'KFENCE',
    head: re(String.raw`BUG: KFENCE: memory corruption in ${FN}`),
    stack: KFENCE_STACK,
    title: 'KFENCE: memory corruption in $2',
    noStack: true,
  },
  {
    type: 'Oops',
    head: /BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|Unable to handle kernel data access)/,
    stack: RIP_STACK,
    title: 'BUG: unable to handle kernel paging request in $1',
    alt: ['bad-access in $1'],
  },
  {
    type: 'Oops',
    head: /BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)/,
    stack: RIP_STACK,
    title: 'BUG: unable to handle kernel NULL pointer dereference in $1',
    alt: ['bad-access in $1'],
  },
  // The second half of the line is a separate printk and may be lost.
  { type: 'Oops', head: /BUG: (?:unable to handle kernel|Unable to handle kernel)/, title: 'BUG: unable to handle kernel', corrupted: true },
  {
    type: 'lockdep',
    head: /BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion|bad magic|wrong owner|wrong CPU|trylock failure on UP)/,
    stack: traceSkipping(/spin_|_lock|_unlock/),
    title: 'BUG: $1 $2 in $3',
  },
  {
    type: 'soft lockup',
    head: /BUG: soft lockup/,
    stack: { ...RIP_STACK, pick: 'stall' },
    title: 'BUG: soft lockup in $1',
    alt: ['stall in $1'],
    cpus: true,
  },
  { type: 'lockdep', head: /BUG: .*still has locks held!/, then: [re(`${PC} +${FN}`)], title: 'BUG: still has locks held in $1' },
  { type: 'scheduling while atomic', head: /BUG: scheduling while atomic/, stack: traceSkipping(/schedule/), title: 'BUG: scheduling while atomic in $1' },
  {
    type: 'lockdep',
    head: /BUG: lock held when returning to user space/,
    then: [/leaving the kernel with locks still held/, at],
    title: 'BUG: lock held when returning to user space in $1',
    noStack: true,
  },
  {
    type: 'lockdep',
    head: /BUG: bad unlock balance detected!/,
    stack: { parts: [re(`${PC} +${FN}`), 'calltrace', 'trace'] },
    title: 'BUG: bad unlock balance in $1',
  },
  { type: 'lockdep', head: /BUG: held lock freed!/, then: [re(`${PC} +${FN}`)], title: 'BUG: held lock freed in $1' },
  { type: 'bad rss-counter', head: /BUG: Bad rss-counter state/, title: 'BUG: Bad rss-counter state', noStack: true },
  { type: 'bad rss-counter', head: /BUG: non-zero nr_ptes on freeing mm/, title: 'BUG: non-zero nr_ptes on freeing mm', noStack: true },
  { type: 'bad rss-counter', head: /BUG: non-zero nr_pmds on freeing mm/, title: 'BUG: non-zero nr_pmds on freeing mm', noStack: true },
  // The filesystem and device names would split one bug per loop device.
  {
    type: 'VFS',
    head: /BUG: Dentry .* still in use \([0-9]+\) \[(unmount) of ([^\]]+)\]/,
    title: 'BUG: Dentry still in use in $1',
    alt: ['BUG: Dentry still in use [$1 of $2]'],
  },
  {
    type: 'bad page state',
    head: /BUG: Bad page (state|cache)/,
    // page_owner's allocation stack names who got the page; without page_owner the
    // stack that found it is all there is (DAX pages come from no allocator at all).
    stack: {
      parts: [/page last allocated/, 'trace'],
      fallback: [['calltrace', 'trace']],
      skip: /(?:free|put|get|update|release)_page|free_unref|^_*folio|truncate_inode_pages|page_frag_free|alloc|vmap|page_owner/,
    },
    title: 'BUG: Bad page $1 in $2',
  },
  { type: 'bad page map', head: /BUG: Bad page map/, title: 'BUG: Bad page map' },
  { type: 'workqueue lockup', head: /BUG: workqueue lockup/, title: 'BUG: workqueue lockup', noStack: true },
  {
    type: 'sleeping in atomic',
    head: /BUG: sleeping function called from invalid context at (.*)/,
    stack: TRACE_STACK,
    title: 'BUG: sleeping function called from invalid context in $2',
  },
  {
    type: 'lockdep',
    head: /BUG: using ([a-z_]+)\(\) in preemptible/,
    stack: traceSkipping(/dump_stack|preemption|preempt|debug_|processor_id|this_cpu/),
    title: 'BUG: using $1() in preemptible code in $2',
  },
  {
    type: 'lockdep',
    head: /BUG: workqueue leaked lock or atomic/,
    then: [/last function: ([a-zA-Z0-9_]+)$/],
    title: 'BUG: workqueue leaked lock or atomic in $1',
    noStack: true,
  },
  {
    type: 'memory leak',
    head: /BUG: memory leak/,
    stack: {
      parts: [/backtrace(?: \(crc [0-9a-f]*\))?:/, 'trace'],
      skip: /kmemleak|mmap|kmem|slab|alloc|create_object|idr_get|list_lru_init|kasprintf|kvasprintf|pcpu_create|strdup|strndup|memdup/,
    },
    title: 'memory leak in $1',
  },
  {
    type: 'stack overflow',
    head: /BUG: .*stack guard page was hit at/,
    stack: { ...RIP_STACK, pick: 'stall' },
    title: 'BUG: stack guard page was hit in $1',
    alt: ['stack-overflow in $1'],
  },
  // arm prints lockdep's invalid wait context differently from x86; the title is x86's.
  { type: 'lockdep', head: /BUG: Invalid wait context/, stack: traceSkipping(/lock_sock|release_sock/), title: 'WARNING: locking bug in $1' },
  { type: 'BUG', head: /BUG:\s*$/, title: 'BUG: corrupted', corrupted: true },
];

const WARNING_RULES: Rule[] = [
  {
    type: 'ODEBUG',
    head: /WARNING: .*lib\/debugobjects\.c.* (?:debug_print|debug_check|at)/,
    stack: warnStack(/debug_|rcu|hrtimer_|timer_|work_|percpu_|vunmap|vfree|__free_|debug_check|kobject_/),
    title: 'WARNING: ODEBUG bug in $1',
  },
  { type: 'bad usercopy', head: /WARNING: .*mm\/usercopy\.c.* (?:usercopy_warn|at)/, stack: warnStack(/usercopy|__check/), title: 'WARNING: bad usercopy in $1' },
  { type: 'WARNING', head: /WARNING: .*lib\/kobject\.c.* (?:kobject_|at)/, stack: warnStack(/kobject_/), title: 'WARNING: kobject bug in $1' },
  { type: 'WARNING', head: /WARNING: .*fs\/proc\/generic\.c.* (?:proc_register|at)/, stack: warnStack(/proc_/), title: 'WARNING: proc registration bug in $1' },
  { type: 'refcount_t', head: /WARNING: .*lib\/refcount\.c.* (?:refcount_|at)/, stack: warnStack(/refcount|kobject_/), title: 'WARNING: refcount bug in $1' },
  // Ours: without CONFIG_BUG_ON_DATA_CORRUPTION list corruption is a WARN; syzbot titles it as any WARNING.
  { type: 'list corruption', head: /WARNING: .*lib\/list_debug\.c/, stack: warnStack(), title: 'WARNING in $1', alt: ['BUG: corrupted list in $1'] },
  { type: 'lockdep', head: /WARNING: .*kernel\/locking\/lockdep\.c.*lock_/, stack: warnStack(/lock_sock|release_sock/), title: 'WARNING: locking bug in $1' },
  { type: 'lockdep', head: /WARNING: .*still has locks held!/, then: [re(`at: ${FN}`)], title: 'WARNING: still has locks held in $1' },
  { type: 'lockdep', head: /WARNING: Nested lock was not taken/, stack: warnStack(), title: 'WARNING: nested lock was not taken in $1' },
  {
    type: 'lockdep',
    head: /WARNING: lock held when returning to user space/,
    then: [/leaving the kernel with locks still held/, at],
    title: 'WARNING: lock held when returning to user space in $1',
    noStack: true,
  },
  { type: 'WARNING', head: /WARNING: .*mm\/.*\.c.* k?.?malloc/, stack: warnStack(/kmalloc|krealloc|slab|kmem/), title: 'WARNING: kmalloc bug in $1' },
  { type: 'WARNING', head: /WARNING: .*mm\/vmalloc.c.*__vmalloc_node/, stack: warnStack(), title: 'WARNING: zero-size vmalloc in $1' },
  {
    type: 'WARNING',
    head: /WARNING: .* usb_submit_urb/,
    stack: warnStack(/usb_submit_urb|usb_start_wait_urb|usb_bulk_msg|usb_interrupt_msg|usb_control_msg/),
    title: 'WARNING in $1/usb_submit_urb',
  },
  // "WARNING: fs/dax.c:395 at fn+0x1b2/0x1e0, CPU#1: comm/903" (late 2025) and "WARNING: CPU: 1 PID: 9 at fs/dax.c:395 fn+0x1b2/0x1e0".
  { type: 'WARNING', head: re(String.raw`WARNING: ${SRC} at 0x\d+, CPU#\d+`), stack: warnStack(), title: 'WARNING in $2' },
  { type: 'WARNING', head: re(String.raw`WARNING: .* at ${SRC} ${FN}`), stack: warnStack(), title: 'WARNING in $3' },
  { type: 'WARNING', head: re(String.raw`WARNING: ${SRC} at ${FN}`), stack: warnStack(), title: 'WARNING in $3' },
  { type: 'WARNING', head: re(String.raw`WARNING: \[.*\] ${SRC} at ${FN}.*`), stack: warnStack(), title: 'WARNING in $3' },
  {
    type: 'lockdep',
    head: /WARNING: possible circular locking dependency detected/,
    then: [/is trying to acquire lock/],
    // The lock being taken names the deadlock; if that is a helper, the lock already held.
    stack: { parts: [at, at, 'trace'], skip: /process_one_work|flush_workqueue|drain_workqueue|destroy_workqueue/ },
    title: 'possible deadlock in $1',
  },
  {
    type: 'lockdep',
    head: /WARNING: possible irq lock inversion dependency detected/,
    then: [/just changed the state of lock/, at],
    title: 'possible deadlock in $1',
  },
  { type: 'lockdep', head: /WARNING: .*-safe -> .*-unsafe lock order detected/, stack: { parts: [/which became .* at:/, 'trace'] }, title: 'possible deadlock in $1' },
  { type: 'lockdep', head: /WARNING: possible recursive locking detected/, then: [/is trying to acquire lock/, at], title: 'possible deadlock in $1' },
  { type: 'lockdep', head: /WARNING: inconsistent lock state/, then: [/takes/, at], stack: TRACE_STACK, title: 'inconsistent lock state in $2' },
  {
    type: 'lockdep',
    head: /WARNING: suspicious RCU usage/,
    then: [re(SRC)],
    stack: traceSkipping(/rcu|kmem|slab/),
    title: 'WARNING: suspicious RCU usage in $2',
  },
  {
    type: 'WARNING',
    head: /WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value/,
    title: "WARNING: kernel stack regs has bad '$1' value",
    noStack: true,
  },
  {
    type: 'WARNING',
    head: /WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value/,
    title: 'WARNING: kernel stack frame pointer has bad value',
    noStack: true,
  },
  {
    type: 'lockdep',
    head: /WARNING: bad unlock balance detected!/,
    stack: { parts: [re(`${PC} +${FN}`), 'calltrace', 'trace'] },
    title: 'WARNING: bad unlock balance in $1',
  },
  { type: 'lockdep', head: /WARNING: held lock freed!/, then: [re(`at:(?: ${PC})? +${FN}`)], title: 'WARNING: held lock freed in $1' },
  { type: 'WARNING', head: /WARNING: kernel stack regs .* has bad 'bp' value/, title: 'WARNING: kernel stack regs has bad value', noStack: true },
  { type: 'WARNING', head: /WARNING: kernel stack frame pointer .* has bad value/, title: 'WARNING: kernel stack regs has bad value', noStack: true },
  { type: 'WARNING', head: /WARNING:\s*$/, title: 'WARNING: corrupted', corrupted: true },
];

const INFO_RULES: Rule[] = [
  // Lockdep before 4.9 bracketed its headers: "[ INFO: possible circular locking dependency detected ]".
  {
    type: 'lockdep',
    head: /INFO: possible circular locking dependency detected/,
    then: [/is trying to acquire lock/, re(`at: ${PC} +${FN}`)],
    title: 'possible deadlock in $1',
  },
  {
    type: 'lockdep',
    head: /INFO: possible irq lock inversion dependency detected/,
    then: [/just changed the state of lock/, re(`at: ${PC} +${FN}`)],
    title: 'possible deadlock in $1',
  },
  {
    type: 'lockdep',
    head: /INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected/,
    then: [/is trying to acquire/, re(`at: ${PC} +${FN}`)],
    title: 'possible deadlock in $1',
  },
  {
    type: 'lockdep',
    head: /INFO: possible recursive locking detected/,
    then: [/is trying to acquire lock/, re(`at: ${PC} +${FN}`)],
    title: 'possible deadlock in $1',
  },
  { type: 'lockdep', head: /INFO: inconsistent lock state/, then: [/takes/, re(`at: ${PC} +${FN}`)], title: 'inconsistent lock state in $1' },
  {
    type: 'RCU stall',
    head: /INFO: rcu_(?:preempt|sched|bh|tasks) (?:self-)?detected(?: expedited)? stall/,
    // The stack of the code the timer interrupt (or the NMI of a CPU stall) caught,
    // not the interrupt plumbing that printed the report.
    stack: {
      parts: [/apic_timer_interrupt/, 'rip', 'trace'],
      fallback: [[/apic_timer_interrupt|Exception stack|el1h_64_irq/, 'trace']],
      skip: /apic_timer_interrupt|rcu/,
      pick: 'stall',
    },
    title: 'INFO: rcu detected stall in $1',
    alt: ['stall in $1'],
    cpus: true,
  },
  {
    type: 'lockdep',
    head: /INFO: trying to register non-static key/,
    stack: traceSkipping(/stack|lock|IRQ/),
    title: 'INFO: trying to register non-static key in $1',
  },
  { type: 'lockdep', head: /INFO: suspicious RCU usage/, then: [re(SRC)], stack: traceSkipping(/rcu|kmem|slab/), title: 'INFO: suspicious RCU usage in $2' },
  {
    type: 'hung task',
    head: /INFO: task [\s\S]{0,100}? blocked (?:in I\/O wait )?for more than [0-9]+ seconds/,
    stack: { ...TRACE_STACK, pick: 'hang' },
    title: 'INFO: task hung in $1',
    alt: ['hang in $1'],
  },
  {
    type: 'hung task',
    head: /INFO: task [\s\S]{0,100}? can't die for more than .* seconds/,
    stack: traceSkipping(/schedule/),
    title: "INFO: task can't die in $1",
    alt: ['hang in $1'],
  },
  // Old KASAN reports torn apart.
  { type: 'KASAN', head: /INFO: (Freed|Allocated) in (.*)/, title: 'INFO: $1 in $2', corrupted: true },
  { type: 'INFO', head: /INFO:\s*$/, title: 'INFO: corrupted', corrupted: true },
];

const PANIC_RULES: Rule[] = [
  // The stack protector names the function when it can; otherwise it is the trace's first.
  {
    type: 'stack overflow',
    head: re(`Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: ${FN}`),
    title: 'kernel panic: stack is corrupted in $1',
    noStack: true,
  },
  {
    type: 'stack overflow',
    head: /Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: [a-f0-9]+/,
    stack: traceSkipping(/stack_chk/),
    title: 'kernel panic: stack is corrupted in $1',
  },
  {
    type: 'stack overflow',
    head: /Kernel panic - not syncing: corrupted stack end detected inside scheduler/,
    stack: traceSkipping(/schedule|retint_kernel/, 'stall'),
    title: 'kernel panic: corrupted stack end in $1',
    alt: ['stack-overflow in $1'],
  },
  {
    type: 'stack overflow',
    head: /Kernel panic - not syncing: kernel stack overflow/,
    stack: traceSkipping(/bad_stack/, 'stall'),
    title: 'kernel stack overflow in $1',
    alt: ['stack-overflow in $1'],
  },
  { type: 'panic', head: /Kernel panic - not syncing: Attempted to kill init!/, title: 'kernel panic: Attempted to kill init!' },
  { type: 'panic', head: /Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -[0-9]+/, title: "kernel panic: Couldn't open N_TTY ldisc" },
  // The panic that follows an oops, a WARNING or a hung task: the report before it was lost.
  { type: 'panic', head: /Kernel panic - not syncing: Fatal exception/, title: 'kernel panic: Fatal exception', corrupted: true },
  { type: 'panic', head: /Kernel panic - not syncing: panic_on_warn set/, title: 'kernel panic: panic_on_warn set', corrupted: true },
  { type: 'panic', head: /Kernel panic - not syncing: hung_task: blocked tasks/, title: 'kernel panic: hung_task: blocked tasks', corrupted: true },
  { type: 'panic', head: /Kernel panic - not syncing: (.*)/, title: 'kernel panic: $1' },
];

const KERNEL_BUG_RULES: Rule[] = [
  { type: 'bad usercopy', head: /kernel BUG at mm\/usercopy\.c/, stack: traceSkipping(/usercopy|__check/), title: 'BUG: bad usercopy in $1' },
  { type: 'list corruption', head: /kernel BUG at lib\/list_debug\.c/, stack: TRACE_STACK, title: 'BUG: corrupted list in $1', alt: ['bad-access in $1'] },
  // skb helpers BUG_ON their caller's mistakes.
  { type: 'BUG', head: /kernel BUG at (.*)/, stack: { ...RIP_STACK, skip: /^skb_/ }, title: 'kernel BUG in $2' },
];

const ripOnly: Stack = { parts: ['rip'] };

/** One family per keyword of an oops line, in the order a line is tested. */
interface Family {
  /** The keyword, found anywhere in the line. */
  key: string;
  rules: Rule[];
  /** Lines holding the keyword that are not reports. */
  benign?: RegExp;
  /** Type of a line of this family that no rule titles. */
  type: ReportType;
}

// Lines that merely look like reports: boot notices, userspace, filesystem messages.
const BENIGN_WARNING =
  /WARNING: \/etc\/ssh\/moduli does not exist|WARNING: workqueue cpumask: online intersect > possible intersect|WARNING: [Tt]he mand mount option|WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1|WARNING: Unprivileged eBPF is enabled with eIBRS|WARNING: fbcon: Driver '.*' missed to adjust virtual screen size|WARNING: See https.* for mitigation options\.|WARNING: kernel not compiled with CPU_SRSO|EXT4-[Ff][Ss](?: \(.*\))?:|[Ww][Aa][Rr][Nn][Ii][Nn][Gg]: .* uses (?:deprecated v2 capabilities|wireless extensions)|XFS \(\w+\): WARNING/;
const BENIGN_INFO =
  /INFO: lockdep is turned off|INFO: Stall ended before state dump start|INFO: NMI handler|INFO: recovery required on readonly filesystem|(?:handler|interrupt).*took too long|INFO: sys_.* is not present in \/proc\/kallsyms|INFO: no syscalls can create resource|rmt_storage:INFO:|_INFO:/;

const FAMILIES: Family[] = [
  { key: 'BUG:', rules: BUG_RULES, benign: /ODEBUG:|Boot_DEBUG:|xlog_status:|DEBUG:|BUG: no syscalls can create resource/, type: 'BUG' },
  { key: 'WARNING:', rules: WARNING_RULES, benign: BENIGN_WARNING, type: 'WARNING' },
  { key: 'INFO:', rules: INFO_RULES, benign: BENIGN_INFO, type: 'INFO' },
  {
    key: 'Unable to handle kernel',
    rules: [
      {
        type: 'Oops',
        head: /Unable to handle kernel (paging request|NULL pointer dereference|access to user memory)/,
        stack: RIP_STACK,
        title: 'BUG: unable to handle kernel $1 in $2',
        alt: ['bad-access in $2'],
      },
    ],
    type: 'Oops',
  },
  {
    key: 'general protection fault',
    rules: [{ type: 'GPF', head: /general protection fault.*:/, stack: RIP_STACK, title: 'general protection fault in $1', alt: ['bad-access in $1'] }],
    // A user-space process's fault, as the kernel logs it.
    benign: /general protection fault .* error:\d+ in /,
    type: 'GPF',
  },
  { key: 'stack segment: ', rules: [{ type: 'Oops', head: /stack segment: /, stack: RIP_STACK, title: 'stack segment fault in $1' }], type: 'Oops' },
  { key: 'Kernel panic', rules: PANIC_RULES, type: 'panic' },
  { key: 'PANIC: double fault', rules: [{ type: 'double fault', head: /PANIC: double fault/, stack: ripOnly, title: 'PANIC: double fault in $1' }], type: 'double fault' },
  { key: 'kernel BUG', rules: KERNEL_BUG_RULES, type: 'BUG' },
  { key: 'Kernel BUG', rules: [{ type: 'BUG', head: /Kernel BUG (.*)/, title: 'kernel BUG $1' }], type: 'BUG' },
  { key: 'BUG kmalloc-', rules: [{ type: 'slab corruption', head: /BUG kmalloc-.*: Object already free/, title: 'BUG: Object already free' }], type: 'slab corruption' },
  { key: 'divide error:', rules: [{ type: 'divide error', head: /divide error: /, stack: ripOnly, title: 'divide error in $1' }], type: 'divide error' },
  // A misspelling some kernels printed.
  { key: 'divide_error:', rules: [{ type: 'divide error', head: /divide_error: /, stack: ripOnly, title: 'divide error in $1' }], type: 'divide error' },
  { key: 'invalid opcode:', rules: [{ type: 'invalid opcode', head: /invalid opcode: /, stack: ripOnly, title: 'invalid opcode in $1' }], type: 'invalid opcode' },
  { key: 'int3:', rules: [{ type: 'Oops', head: /int3: /, stack: RIP_STACK, title: 'int3 in $1' }], type: 'Oops' },
  {
    key: 'UBSAN:',
    rules: [
      { type: 'UBSAN', head: /UBSAN: Undefined behaviour in/, stack: traceSkipping(/ubsan|overflow/), title: 'UBSAN: undefined-behaviour in $1' },
      {
        type: 'UBSAN',
        head: /UBSAN: array-index-out-of-bounds in/,
        stack: traceSkipping(/ubsan|overflow/),
        title: 'UBSAN: array-index-out-of-bounds in $1',
        alt: ['bad-access in $1'],
      },
      { type: 'UBSAN', head: /UBSAN: (.*?) in/, stack: traceSkipping(/ubsan|overflow/), title: 'UBSAN: $1 in $2' },
    ],
    type: 'UBSAN',
  },
  {
    key: 'Booting the kernel',
    rules: [{ type: 'reboot', head: /^Booting the kernel/, title: 'unexpected kernel reboot', noStack: true }],
    benign: /Parsing ELF|Decompressing Linux|Unknown parameter '/,
    type: 'reboot',
  },
  {
    key: 'unregister_netdevice: waiting for',
    rules: [{ type: 'netdev refcount', head: /unregister_netdevice: waiting for .* to become free/, title: 'unregister_netdevice: waiting for DEV to become free', noStack: true }],
    type: 'netdev refcount',
  },
  {
    key: 'VFS: Close: file count is 0',
    rules: [{ type: 'VFS', head: /VFS: Close: file count is 0/, title: 'VFS: Close: file count is zero (use-after-free)', noStack: true }],
    type: 'VFS',
  },
  {
    key: 'VFS: Busy inodes after unmount',
    rules: [{ type: 'VFS', head: /VFS: Busy inodes after unmount/, title: 'VFS: Busy inodes after unmount (use-after-free)', noStack: true }],
    type: 'VFS',
  },
  {
    key: 'rust_kernel: panicked',
    rules: [
      // Rust before 1.73 quoted the message on the panic line; later ones print it on the next line.
      { type: 'BUG', head: /rust_kernel: panicked at '(.+)', \S+:\d+:\d+/, stack: TRACE_STACK, title: '$1 in $2' },
      { type: 'BUG', head: /rust_kernel: panicked at /, then: [/^(.+)$/], stack: TRACE_STACK, title: '$1 in $2' },
    ],
    type: 'BUG',
  },
  // arm64 reports some faults as "Internal error", arm as "Unhandled fault", x86 as a GPF or paging fault.
  { key: 'Internal error:', rules: [{ type: 'Oops', head: /Internal error:/, stack: RIP_STACK, title: 'Internal error in $1', alt: ['bad-access in $1'] }], type: 'Oops' },
  { key: 'Unhandled fault:', rules: [{ type: 'Oops', head: /Unhandled fault:/, stack: RIP_STACK, title: 'Unhandled fault in $1', alt: ['bad-access in $1'] }], type: 'Oops' },
  { key: 'Alignment trap:', rules: [{ type: 'Oops', head: /Alignment trap:/, stack: RIP_STACK, title: 'Alignment trap in $1' }], type: 'Oops' },
];

// Ours: kinds syzbot has no title for, or whose first line it does not treat as a report.
const OUR_FAMILIES: Family[] = [
  {
    key: 'Watchdog detected hard LOCKUP',
    rules: [{ type: 'hard lockup', head: /Watchdog detected hard LOCKUP/, stack: { ...RIP_STACK, pick: 'stall' }, title: 'watchdog: hard LOCKUP in $1', alt: ['stall in $1'], cpus: true }],
    type: 'hard lockup',
  },
  {
    // kmemleak's own report (dmesg, or its debugfs file); syzkaller's executor prints "BUG: memory leak" first.
    key: 'unreferenced object 0x',
    rules: [
      {
        type: 'memory leak',
        head: /unreferenced object 0x/,
        stack: { parts: [/backtrace(?: \(crc [0-9a-f]*\))?:/, 'trace'], skip: BUG_RULES.find((r) => r.type === 'memory leak')!.stack!.skip },
        title: 'memory leak in $1',
      },
    ],
    type: 'memory leak',
  },
  { key: 'refcount_t: ', rules: [{ type: 'refcount_t', head: /refcount_t: /, stack: { ...warnStack(/refcount|kobject_/) }, title: 'WARNING: refcount bug in $1' }], type: 'refcount_t' },
  {
    key: ' corruption',
    rules: [{ type: 'list corruption', head: /list_(?:add|del) corruption/, stack: warnStack(), title: 'BUG: corrupted list in $1', alt: ['bad-access in $1'] }],
    type: 'list corruption',
  },
  { key: 'Oops', rules: [{ type: 'Oops', head: /Oops(?::| -) .*\[#\d+\]/, stack: RIP_STACK, title: 'Oops in $1', alt: ['bad-access in $1'] }], type: 'Oops' },
];

/** Every keyword that can make a line an oops line (for a quick test before the families). */
const ANY_KEY = new RegExp([...FAMILIES, ...OUR_FAMILIES].map((f) => f.key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));

// Frames as %pS prints them (optionally behind one or two [<address>]), up to the clone suffix,
// and 32-bit arm's "[<pc>] (f) from [<lr>] (g+0x1/0x2)", which names two.
// A frame cut short where the console line ended ("f+0xb8/0x", "f+") still names its function.
const FRAME_LINE = /^\s*(?:\[<?(?:0x)?[0-9a-f]+>?\]\s+){0,2}([A-Za-z0-9_]+)(?:\.[\w.]*)?\+(?:0x[0-9a-f]+\/0x[0-9a-f]+|(?:0x[0-9a-f]*(?:\/(?:0x?[0-9a-f]*)?)?)?\s*$)/;
const ARM_FRAME_LINE = /^\s*\[<?(?:0x)?[0-9a-f]+>?\] \(([A-Za-z0-9_.]+)\) from \[<?(?:0x)?[0-9a-f]+>?\] \(([A-Za-z0-9_]+)[.+]/;
const frameLine = (l: string) => (l.includes('+') ? FRAME_LINE.exec(l) : null) ?? (l.includes(') from [') ? ARM_FRAME_LINE.exec(l) : null);
const CALL_TRACE = /Call (?:T|t)race:|Backtrace:/;
// A trace ends where the next one begins.
// Lines come with their indentation removed, so kmemleak's "  backtrace:" may start a line ("stack backtrace:" is lockdep's dump_stack and no new trace).
const TRACE_START = /Call (?:T|t)race|Allocated:|Allocated by task [0-9]+:|Freed:|Freed by task [0-9]+:|(?:^|[^k] )backtrace(?: \(crc [0-9a-f]*\))?:|Backtrace:|Uninit was stored to memory at/;
// Lines arrive trimmed, so a trace header is at the start: C(all Trace), A(llocated), F(reed), b/B(acktrace), U(ninit).
const TRACE_FIRST = new Set(['C', 'A', 'F', 'b', 'B', 'U']);
const isTraceStart = (l: string) => TRACE_FIRST.has(l[0]!) && TRACE_START.test(l);
/** Which lines start a stack trace (computed once per report: several walks ask). */
const traceStarts = (lines: readonly string[]) => lines.map(isTraceStart);
// Fault-injection stacks get mixed into reports.
// Two console lines merged into one: the second one's printk timestamp inside the first.
const MERGED_TS = /\[ *[0-9]+\.[0-9]+\]/;
const INJECTED = /^(?: \[<?(?:0x)?[0-9a-f]+>?\])? should_fail(?:slab)?(?:\.[a-z0-9.]+)?\+0x/;

interface Key {
  canon: string;
  raw: string;
}

function partMatch(part: Exclude<Part, 'trace'>, line: string): RegExpExecArray | null {
  // Cheap substring tests first: these run on every line of a report.
  if (part === 'rip') return line.includes('IP') || line.includes('pc ') || line.includes('PC is at') ? RIP_LINE.exec(line) : null;
  if (part === 'calltrace') return line.includes('race:') ? CALL_TRACE.exec(line) : null;
  return part.exec(line);
}

function pickKey(raw: string[], pick: Pick): Key | null {
  if (raw.length === 0) return null;
  if (pick === 'first') return { canon: canonicalFrame(raw[0]!), raw: raw[0]! };
  const k = (pick === 'stall' ? stallFrame : hangFrame)(raw.map(canonicalFrame));
  return k ? { canon: k.fn, raw: raw[k.i]! } : null;
}

/**
 * The key frame of one CPU's backtrace by the stall rule. Ours: a stack with no
 * dispatcher in it (an interrupt handler that took user space) is named by its
 * first frame rather than not at all.
 */
function cpuKey(c: CpuInfo, skip: RegExp | undefined): Key | null {
  const raw: string[] = [];
  for (const f of cpuStack(c.bt)) {
    const dot = f.fn.indexOf('.');
    const fn = dot > 0 ? f.fn.slice(0, dot) : f.fn;
    if (!neverGuilty(fn, skip)) raw.push(fn);
  }
  return pickKey(raw, 'stall') ?? pickKey(raw, 'first');
}

/**
 * Ours: where the other CPUs' backtraces change a stall's key frame. An RCU
 * stall seen by another CPU shows the stalled CPU only through its backtrace;
 * and a CPU stuck waiting for an IPI (syzbot's "stall in smp_call_function")
 * is also named, in `culpritKeys`, by the CPU it waits for when exactly one is
 * busy in the kernel.
 */
function stallKeys(
  rule: Rule,
  lines: readonly string[],
  cpus: readonly CpuInfo[],
  keys: Key[],
  ok: boolean,
): { keys: Key[]; ok: boolean; culprit: CpuInfo | null; culpritKeys: Key[] | null } {
  const skip = rule.stack?.skip;
  if (!ok && rule.type === 'RCU stall') {
    const stalled = rcuStalledCpus(lines);
    const c = cpus.find((x) => (stalled.size === 0 || stalled.has(x.bt.cpu)) && busyInKernel(x));
    const k = c ? cpuKey(c, skip) : null;
    if (k) {
      keys = [k];
      ok = true;
    }
  }
  if (keys[0]?.canon === 'smp_call_function') {
    const c = culpritCpu(cpus);
    const k = c ? cpuKey(c, skip) : null;
    if (k) return { keys, ok, culprit: c, culpritKeys: [k] };
  }
  return { keys, ok, culprit: null, culpritKeys: null };
}

/** Walk `lines` from `start` through `parts`; one key frame per trace (or for the whole walk when it has none). */
function walk(lines: readonly string[], starts: readonly boolean[], start: number, parts: readonly Part[], skip: RegExp | undefined, pick: Pick): { keys: Key[]; ok: boolean } {
  let i = start;
  let raw: string[] = [];
  const keys: Key[] = [];
  let ok = true;
  let traces = 0;
  const take = (m: RegExpExecArray | null) => {
    for (const f of m?.slice(1) ?? []) {
      if (!f) continue;
      // Rust (and C++) frames are named by their demangled path, as syzbot names them.
      const fn = f[0] === '_' ? demangle(f) : f;
      if (!neverGuilty(fn, skip)) raw.push(fn);
    }
  };
  for (let p = 0; ; p++) {
    if (p === parts.length || (parts[p] === 'trace' && traces > 0)) {
      const k = pickKey(raw, pick);
      if (k) keys.push(k);
      else {
        keys.push({ canon: 'corrupted', raw: 'corrupted' });
        ok = false;
      }
      raw = [];
    }
    if (p === parts.length) break;
    const part = parts[p]!;
    if (part !== 'trace') {
      while (i < lines.length) {
        const m = partMatch(part, lines[i++]!);
        if (m) {
          take(m);
          break;
        }
      }
      continue;
    }
    traces++;
    const next = parts[p + 1];
    // The last trace of a walk that takes its first frame needs no more frames once
    // it has one; the rest of it is only checked for injected-fault frames.
    const enough = next === undefined && pick === 'first';
    while (i < lines.length) {
      const isStart = starts[i]!;
      const l = lines[i++]!;
      if (l.includes('should_fail') && INJECTED.test(l)) {
        ok = false;
        break;
      }
      if (isStart) break;
      if (next !== undefined && next !== 'trace') {
        const m = partMatch(next, l);
        if (m) {
          take(m);
          p++;
          break;
        }
      }
      if (!(enough && raw.length > 0)) take(frameLine(l));
    }
  }
  return { keys, ok };
}

// Templates split once into text and argument numbers: "KASAN: $1 $3 in $4" → ['KASAN: ', 1, ' ', 3, ' in ', 4].
const templates = new Map<string, Array<string | number>>();

function fill(fmt: string, args: readonly string[]): string {
  let parts = templates.get(fmt);
  if (!parts) {
    parts = fmt.split(/\$(\d+)/).map((p, i) => (i % 2 === 1 ? Number(p) - 1 : p));
    templates.set(fmt, parts);
  }
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? (args[p] ?? '') : p;
  return out;
}

// Numbers, addresses and line numbers differ between runs of one bug; syzbot's
// titles replace them by placeholders, and so do ours.
const REPLACEMENTS: Array<[RegExp, string]> = [
  [/syz-executor\.?[0-9]+(?:(?:\/|:)[0-9]+)?/g, 'syz-executor'],
  [/syzkaller[0-9]+(?:(?:\/|:)[0-9]+)?/g, 'syzkaller'],
  [/([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}/g, '$1ADDR'],
  [/[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}/g, 'IP'],
  [/(\.\w+)(?::[0-9]+)+/g, '$1:LINE'],
  [/([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+\/0x[0-9a-z]+/g, '$1'],
  [/CPU#[0-9]+/g, 'CPU'],
  [/(\W)(\d+)(\W|$)/g, '$1NUM$3'],
  [/(?:\d+){7,}/g, 'NUM'],
];

const normalised = new Map<string, string>();

/** A title as syzbot would show it: run-specific numbers replaced, control characters dropped, at most 120 characters. */
export function normaliseTitle(title: string): string {
  let n = normalised.get(title);
  if (n === undefined) {
    n = normalise(title);
    if (normalised.size >= 10_000) normalised.clear();
    normalised.set(title, n);
  }
  return n;
}

function normalise(title: string): string {
  let s = title;
  for (const [pat, rep] of REPLACEMENTS) {
    // Replacements can overlap ("1 2 3"), so apply each until nothing changes.
    for (let prev = ''; prev !== s; ) {
      prev = s;
      s = s.replace(pat, rep);
    }
  }
  let out = '';
  let last = ' ';
  for (let i = 0; i < s.length && i < 120; i++) {
    let c = s[i]!;
    const code = s.charCodeAt(i);
    if (c === '\t') c = ' ';
    else if (code < 0x20 || code >= 0x7f) continue;
    if (c === ' ' && last === ' ') continue;
    out += c;
    last = c;
  }
  return out.trim();
}

export interface Titled {
  type: ReportType;
  title: string;
  altTitles: string[];
  corrupted: boolean;
  /** The key frame the title names (canonical spelling), if any; for a stall waiting on another CPU, that CPU's. */
  frame: string | null;
  /** No format of its family matched: free text after "BUG:"/"WARNING:"/"INFO:" (a report only if a stack follows). */
  freeText: boolean;
  /** The other CPU whose stack names the stall (the one the stalled CPU waited for), if any. */
  culprit: CpuInfo | null;
}

/**
 * The first line from `from` that an oops keyword makes an oops line, and its
 * family. Our own kinds count only when the report has no line syzbot would
 * take, so that both name the same line.
 */
function findOopsLine(lines: readonly string[], from = 0): { i: number; family: Family; at: number } | null {
  for (let i = from; i < lines.length; i++) {
    const l = lines[i]!;
    if (!ANY_KEY.test(l)) continue;
    for (const f of FAMILIES) {
      const at = l.indexOf(f.key);
      if (at >= 0 && !f.benign?.test(l)) return { i, family: f, at };
    }
  }
  for (let i = from; i < lines.length; i++) {
    const l = lines[i]!;
    for (const f of OUR_FAMILIES) {
      const at = l.indexOf(f.key);
      if (at >= 0 && f.rules.some((r) => r.head.test(l))) return { i, family: f, at };
    }
  }
  return null;
}

const isCpuBlockStart = (l: string) => (l[0] === 'N' || l[0] === 'S' || l[0] === 'T') && (l.startsWith('NMI backtrace for cpu') || l.startsWith('Sending NMI from') || l.startsWith('Task dump for CPU'));

/**
 * Whether the report lacks the stack traces its kind prints: none at all, a
 * trace header at the very end, or one with no frame in the lines after it (a
 * cut or interleaved report looks like that).
 */
function stackMissing(lines: readonly string[], starts: readonly boolean[], from: number): boolean {
  let sawTrace = false;
  for (let i = from; i < lines.length; i++) {
    if (!starts[i]) {
      // Ours: once the report has shown a stack, other CPUs' backtraces (a task dump is often
      // all "? " frames) say nothing about whether it was cut short.
      if (sawTrace && isCpuBlockStart(lines[i]!)) return false;
      continue;
    }
    if (lines.length - i < 4) return true;
    let found = false;
    for (let j = i + 1; j < lines.length && j <= i + 15; j++) {
      const l = lines[j]!;
      if (starts[j]) break;
      if (l.includes('(stack is not available)') || frameLine(l)) {
        found = true;
        break;
      }
    }
    if (!found) return true;
    sawTrace = true;
  }
  return !sawTrace;
}

/** The head's captures, then those of the rule's later lines found in order after line `i`; null when one is missing. */
function ruleCaptures(rule: Rule, h: RegExpExecArray, lines: readonly string[], i: number): string[] | null {
  const caps = h.slice(1).filter((x): x is string => x !== undefined);
  let j = i + 1;
  for (const t of rule.then ?? []) {
    let m: RegExpExecArray | null = null;
    while (j < lines.length && !(m = t.exec(lines[j++]!)));
    if (!m) return null;
    for (const c of m.slice(1)) if (c !== undefined) caps.push(c);
  }
  return caps;
}

/** The key frames of a rule's stack trace below line `i`, its fallback parts tried in turn while a walk fails. */
function walkStack(stack: Stack, lines: readonly string[], starts: readonly boolean[], i: number): { keys: Key[]; ok: boolean } {
  const pick = stack.pick ?? 'first';
  let w = walk(lines, starts, i, stack.parts, stack.skip, pick);
  for (const f of stack.fallback ?? []) {
    if (w.ok) break;
    w = walk(lines, starts, i, f, stack.skip, pick);
  }
  return w;
}

/**
 * The other titles a report is known by (not yet normalised): those of the CPU
 * that held a stall up, the rule's alternatives, and each with the key frames
 * as printed and with syscall prefixes removed. `args` fills the main title.
 */
function alternativeTitles(rule: Rule, caps: readonly string[], args: readonly string[], keys: readonly Key[], culpritKeys: readonly Key[] | null): string[] {
  const alts: string[] = [];
  // First, so that the match key ("stall in f") follows the CPU that held the stall up.
  if (culpritKeys) {
    const c = [...caps, ...culpritKeys.map((k) => k.canon)];
    alts.push(fill(rule.title, c), ...(rule.alt ?? []).map((a) => fill(a, c)));
  }
  alts.push(...(rule.alt ?? []).map((a) => fill(a, args)));
  // The frame as printed and with each syscall prefix removed, so that titles
  // made before and after a prefix was stripped still meet.
  const variants: string[][] = [];
  for (const ks of culpritKeys ? [keys, culpritKeys] : [keys]) {
    variants.push(ks.map((k) => k.raw));
    const sys = ks.some((k) => k.raw.includes('ys') || k.raw.includes('YS') || k.raw.startsWith('__x64_') || k.raw.startsWith('__ia32_') || k.raw.startsWith('__arm64_') || k.raw.startsWith('__se_'));
    for (const p of sys ? SYSCALL_PREFIXES : []) {
      if (!ks.some((k) => k.raw.startsWith(p))) continue;
      variants.push(ks.map((k) => (k.raw.startsWith(p) ? k.raw.slice(p.length) : k.raw)));
    }
  }
  for (const v of variants) {
    const a = [...caps, ...v];
    alts.push(fill(rule.title, a));
    for (const x of rule.alt ?? []) alts.push(fill(x, a));
  }
  return alts;
}

/**
 * Title a report. `lines` are its kernel lines (prefixes removed, questionable
 * frames and other CPUs' interleaved lines already left out), `from` the first
 * line that may be the oops line, `cpus` the CPU backtraces printed in it (asked for only by stalls).
 */
export function titleReport(all: readonly string[], from = 0, cpus: () => readonly CpuInfo[] = () => []): Titled | null {
  // Longer than printk can print is not kernel text; cut it so that no pattern crawls over it.
  const lines = all.some((l) => l.length > PRINTK_LINE_MAX) ? all.map((l) => l.slice(0, PRINTK_LINE_MAX)) : all;
  const found = findOopsLine(lines, from);
  if (!found) return null;
  const { i, family } = found;
  const line = lines[i]!;
  let matched = false;
  let starts: boolean[] | null = null;
  for (const rule of family.rules) {
    const h = rule.head.exec(line);
    if (!h) continue;
    matched = true;
    const caps = ruleCaptures(rule, h, lines, i);
    if (!caps) continue;
    let keys: Key[] = [];
    let corrupted = false;
    if (rule.stack) {
      const w = walkStack(rule.stack, lines, (starts ??= traceStarts(lines)), i);
      keys = w.keys;
      corrupted = !w.ok;
    }
    let culprit: CpuInfo | null = null;
    // Ours: the CPU a stalled one waits for in an IPI names the stall too, but only as an
    // alternative title: syzbot's title is "... in smp_call_function", and so is ours.
    let culpritKeys: Key[] | null = null;
    if (rule.cpus && (corrupted || keys[0]?.canon === 'smp_call_function')) {
      const s = stallKeys(rule, lines, cpus(), keys, !corrupted);
      keys = s.keys;
      culpritKeys = s.culpritKeys;
      corrupted = !s.ok;
      culprit = s.culprit;
    }
    const args = [...caps, ...keys.map((k) => k.canon)];
    const rawTitle = fill(rule.title, args);
    const title = normaliseTitle(rawTitle);
    const altTitles = [...new Set(alternativeTitles(rule, caps, args, keys, culpritKeys).map(normaliseTitle))].filter((a) => a !== title);
    corrupted ||= !!rule.corrupted || MERGED_TS.test(rawTitle) || (!rule.noStack && stackMissing(lines, (starts ??= traceStarts(lines)), i));
    return {
      type: rule.type,
      title,
      altTitles,
      corrupted,
      frame: culpritKeys ? culpritKeys[0]!.canon : keys.length > 0 && keys[0]!.canon !== 'corrupted' ? keys[0]!.canon : null,
      freeText: false,
      culprit,
    };
  }
  // A line of a known family that no format titles: its own text is the title. When a
  // format knew the line but not the rest of the report, the rest is missing.
  const text = line.slice(found.at);
  return {
    type: family.type,
    title: normaliseTitle(text),
    altTitles: [],
    corrupted: matched || MERGED_TS.test(text),
    frame: null,
    freeText: !matched,
    culprit: null,
  };
}
