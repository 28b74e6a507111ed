// The other CPUs' backtraces a stall report carries. With
// softlockup_all_cpu_backtrace, hardlockup_all_cpu_backtrace and
// hung_task_all_cpu_backtrace the kernel asks every CPU for its stack after a
// lockup or hung task, and an RCU stall dumps its stalled CPUs the same way
// (lib/nmi_backtrace.c, kernel/rcu/tree_stall.h). Each CPU prints a block:
//   NMI backtrace for cpu 1                      (or "... skipped: idling at f+0x1/0x2")
//   CPU: 1 PID: 2740 Comm: ... / RIP: ... / registers / Call Trace: <NMI> ... </NMI> <TASK> ... </TASK>
// or, without NMIs, "Task dump for CPU 1:" and the task's sched_show_task().
// These blocks belong to the report that asked for them; they also say which
// reading of a stall is true: a CPU stuck waiting for an IPI while the CPU it
// waits for spins in the kernel is that CPU's bug, not the waiter's.
import type { CpuBacktrace, Frame } from '../results/records.js';
import { CPU_HDR_RE, parseFrame, parseRip } from './stack.js';

/** A CPU block as parsed, with what the title rules need beyond the record. */
export interface CpuInfo {
  bt: CpuBacktrace;
  /** Interrupts masked at the interrupted instruction (x86 EFLAGS.IF clear, arm64 DAIF's I set); null when not printed. */
  irqsOff: boolean | null;
}

const BLOCK_RE = /^(?:NMI backtrace for cpu (\d+)(?: skipped: idling at (\S+))?|Task dump for CPU (\d+):)/;
// Lines after which a block has ended: the next report section, RCU's own lines, another report.
const BLOCK_END_RE = /^(?:Sending NMI|rcu: |RCU |Offline CPU|Stack dump|Showing |INFO: |BUG: |WARNING: |Kernel panic|---\[ end|\(detected by|Tasks blocked)/;
// Inside a trace: frames, context markers, and the pt_regs an interrupt or NMI entry prints.
const IN_TRACE_RE = /^(?:\? |<\/?[A-Z#]+>|[A-Z][A-Z0-9_]{1,7}: ?|Code: |--- interrupt|Exception stack|(?:pc|lr|sp|x\d+) ?: )/;
// The printing path of a CPU that dumps its own stack (dump_stack() instead of show_regs()).
const PLUMBING_RE = /^(?:dump_stack\w*|show_stack|show_regs|nmi_cpu_backtrace\w*|nmi_trigger_cpumask_backtrace|arch_trigger_cpumask_backtrace|trigger_\w*backtrace\w*|dump_cpu_task|sched_show_task)$/;
// Where a halted CPU sits (what the kernel's cpu_in_idle() checks, and the idle loop around it).
const IDLE_RE = /^(?:native_safe_halt|arch_safe_halt|safe_halt|halt|default_idle\w*|arch_cpu_idle\w*|cpu_idle_poll\w*|do_idle|cpuidle_enter\w*|cpuidle_idle_call|acpi_idle_\w+|acpi_safe_halt|intel_idle\w*|mwait_idle\w*|poll_idle|cpu_do_idle|psci_\w*idle\w*|cpu_startup_entry)$/;
const ADDR_RE = /^(?:\[<?(?:0x)?[0-9a-f]+>?\]\s+){1,2}/;
const TASK_RE = /^task:(.{1,15}?) +state:.*? pid: *(\d+)/;

interface Building {
  info: CpuInfo;
  /** The block printed registers (show_regs): its stack starts at that RIP. */
  regs: boolean;
  inTrace: boolean;
  nmi: boolean;
  depth: number;
}

function finish(b: Building): CpuInfo {
  const bt = b.info.bt;
  if (!b.regs) {
    // A CPU that dumped itself: its frames begin with the printing path.
    let cut = -1;
    for (let i = 0; i < bt.frames.length && i < 12; i++) if (PLUMBING_RE.test(bt.frames[i]!.norm)) cut = i;
    if (cut >= 0) bt.frames = bt.frames.slice(cut + 1);
  }
  const top = bt.rip ?? bt.frames.find((f) => f.reliable) ?? null;
  if (top && IDLE_RE.test(top.norm)) bt.idle = true;
  return b.info;
}

/** Every CPU block in a report's lines (indentation removed), in printed order. */
export function parseCpus(body: readonly string[]): CpuInfo[] {
  const out: CpuInfo[] = [];
  let cur: Building | null = null;
  const close = () => {
    if (cur) out.push(finish(cur));
    cur = null;
  };
  for (const t of body) {
    const c = t[0];
    if ((c === 'N' || c === 'T') && (t.startsWith('NMI backtrace for cpu') || t.startsWith('Task dump for CPU'))) {
      close();
      const m = BLOCK_RE.exec(t);
      if (!m) continue;
      const cpu = Number(m[1] ?? m[3]);
      const bt: CpuBacktrace = { cpu, comm: null, pid: null, rip: null, frames: [], idle: false };
      if (m[2] !== undefined) {
        // The kernel itself found the CPU halted in its idle loop and printed no more.
        bt.rip = parseFrame(m[2], 'rip');
        bt.idle = true;
        out.push({ bt, irqsOff: null });
        continue;
      }
      cur = { info: { bt, irqsOff: null }, regs: false, inTrace: false, nmi: false, depth: 0 };
      continue;
    }
    if (cur === null) continue;
    const b: Building = cur;
    const bt = b.info.bt;
    if (BLOCK_END_RE.test(t)) {
      close();
      continue;
    }
    if (!b.inTrace) {
      if (t.startsWith('Call Trace:') || t.startsWith('Call trace:')) b.inTrace = true;
      else if (t.startsWith('CPU: ') && bt.comm === null) {
        const m = CPU_HDR_RE.exec(t);
        if (m) {
          bt.pid = Number(m[3]);
          bt.comm = m[4]!;
        }
      } else if (t.startsWith('task:') && bt.comm === null) {
        const m = TASK_RE.exec(t);
        if (m) {
          bt.comm = m[1]!.trimEnd();
          bt.pid = Number(m[2]);
        }
      } else if (bt.rip === null && !b.regs && (t.startsWith('RIP: ') || t.startsWith('pc : ') || t.startsWith('PC is at') || t.startsWith('NIP ') || t.startsWith('epc :'))) {
        // A user-space RIP is registers too: the CPU was running a program, its kernel stack is empty.
        b.regs = true;
        bt.rip = parseRip([t]);
      } else if (b.info.irqsOff === null) {
        flags(t, b.info);
      }
      continue;
    }
    if (t === '<NMI>') b.nmi = true;
    else if (t === '</NMI>') b.nmi = false;
    else if (t === '<TASK>') b.depth++;
    else if (t === '</TASK>') {
      if (--b.depth <= 0) close();
    } else if (t.startsWith('RIP: ') || t.startsWith('pc : ')) {
      // The registers of the context an interrupt took: for a CPU that dumped
      // itself from an interrupt, that context is what it was doing.
      const r = parseRip([t]);
      if (r && !b.regs && !b.nmi) {
        bt.rip = r;
        bt.frames = [];
      }
      if (!b.regs && b.info.irqsOff === null) flags(t, b.info);
    } else if (!b.nmi) {
      // Old kernels print each frame behind its address: "[<ffffffff81234567>] f+0x1/0x2".
      const f = t.includes('+0x') ? parseFrame(t[0] === '[' ? t.replace(ADDR_RE, '') : t) : null;
      if (f) bt.frames.push(f);
      else if (bt.frames.length > 0 && !IN_TRACE_RE.test(t)) close();
      else if (!b.regs) flags(t, b.info);
    }
  }
  close();
  return out;
}

const EFLAGS_RE = /EFLAGS: ([0-9a-f]+)/;
const PSTATE_RE = /^pstate: [0-9a-f]+ \(\w+ ([dD])([aA])([iI])([fF])/;

function flags(t: string, into: CpuInfo): void {
  let m = t.includes('EFLAGS') ? EFLAGS_RE.exec(t) : null;
  if (m) {
    into.irqsOff = (parseInt(m[1]!, 16) & 0x200) === 0;
    return;
  }
  m = t.startsWith('pstate') ? PSTATE_RE.exec(t) : null;
  if (m) into.irqsOff = m[3] === 'I';
}

/** The stack a CPU was running, innermost first, reliable frames only (RIP first). */
export function cpuStack(bt: CpuBacktrace): Frame[] {
  const out: Frame[] = bt.rip ? [bt.rip] : [];
  for (const f of bt.frames) {
    if (!f.reliable) continue;
    // arm64 repeats the pc's function as the trace's first frame.
    if (out.length === 1 && out[0] === bt.rip && f.norm === bt.rip.norm) continue;
    out.push(f);
  }
  return out;
}

/** Whether the CPU was running kernel code that is not the idle loop. */
export function busyInKernel(c: CpuInfo): boolean {
  return !c.bt.idle && cpuStack(c.bt).length > 0;
}

// A CPU that sent an IPI and spins until every target has run it
// (smp_call_function*, on_each_cpu*, csd_lock_wait) cannot be the one holding the others up.
const WAITS_RE = /smp_call_function|^on_each_cpu|^csd_lock_wait/;

export function waitsForOthers(c: CpuInfo): boolean {
  return cpuStack(c.bt).some((f) => WAITS_RE.test(f.norm));
}

/**
 * The CPU a waiting CPU is held up by: the one CPU busy in the kernel and not
 * waiting itself (idle CPUs and CPUs in user space answer IPIs). When several
 * are busy, the one with interrupts masked is the one an IPI cannot reach;
 * otherwise nobody is named.
 */
export function culpritCpu(cpus: readonly CpuInfo[]): CpuInfo | null {
  const busy = cpus.filter((c) => busyInKernel(c) && !waitsForOthers(c));
  if (busy.length === 1) return busy[0]!;
  const masked = busy.filter((c) => c.irqsOff === true);
  return masked.length === 1 ? masked[0]! : null;
}

// RCU names its stalled CPUs as "1-....: (20999 ticks this GP) ..." lines, or "{ 1-.... 3-...D }" for expedited grace periods.
const RCU_CPU_LINE_RE = /^(?:rcu:\s+)?(\d+)-[.\w!]{4}: \(/;
const RCU_EXP_RE = / (\d+)-[.\w!]{4}(?= |$)/g;

/** CPUs an RCU stall report lists as stalled. */
export function rcuStalledCpus(lines: readonly string[]): Set<number> {
  const out = new Set<number>();
  for (const l of lines) {
    const m = RCU_CPU_LINE_RE.exec(l);
    if (m) out.add(Number(m[1]));
    else if (l.includes('detected expedited stalls')) {
      const brace = l.indexOf('{');
      const end = l.indexOf('}', brace);
      if (brace >= 0 && end > brace) for (const e of l.slice(brace + 1, end).matchAll(RCU_EXP_RE)) out.add(Number(e[1]));
    }
  }
  return out;
}
