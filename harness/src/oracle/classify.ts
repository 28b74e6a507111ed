// Names a grouped report the way kernel developers already name them on syzbot
// (titles.ts), and collects what the keys need: the source file, the reason
// (page-dump assertion, refcount message), and the first frames not to be blamed
// on helpers (spec §4.2–§4.4).
import type { Frame } from '../results/records.js';
import type { ReportType } from './patterns.js';
import { FATAL_TYPES } from './patterns.js';
import { NEVER_GUILTY, neverGuilty } from './guilty.js';
import { normaliseFn } from './stack.js';
import { titleReport } from './titles.js';
import type { CpuInfo } from './cpus.js';

const LAST_RESORT_RE = /^(?:handle_mm_fault|__handle_mm_fault|do_syscall_64|do_syscall_x64|x64_sys_call|entry_SYSCALL_64\w*|ret_from_fork\w*|kthread|worker_thread|process_one_work\w*)$/;

export function isSkipped(fn: string): boolean {
  return NEVER_GUILTY.test(normaliseFn(fn));
}

export interface Guilt {
  fn: string | null;
  /** The first (up to) four frames that are not skipped, for the dedup key. */
  frames: string[];
}

/**
 * The first reliable frames that are not helpers: the RIP function unless it
 * is one, then the main trace's; entry and worker frames only when nothing
 * else is left. The dedup key is made of these.
 */
export function chooseGuilty(rip: Frame | null, frames: readonly Frame[], extraSkip?: RegExp): Guilt {
  const picked: string[] = [];
  let lastResort: string | null = null;
  const consider = (f: Frame) => {
    if (!f.reliable || neverGuilty(f.norm, extraSkip)) return;
    if (LAST_RESORT_RE.test(f.norm)) {
      lastResort ??= f.norm;
      return;
    }
    if (picked[picked.length - 1] !== f.norm) picked.push(f.norm);
  };
  if (rip) consider(rip);
  for (const f of frames) {
    if (picked.length >= 4) break;
    consider(f);
  }
  return { fn: picked[0] ?? lastResort, frames: picked.length > 0 ? picked : lastResort ? [lastResort] : [] };
}

/** §4.4: drop the build directory so the same file names match across build trees. */
export function normaliseFile(path: string): string {
  let p = path.trim();
  // Only an absolute build path has a tree root to cut; "include/linux/mm.h" must stay whole.
  if (p.startsWith('/')) {
    const m = /\/linux(?:-[^/]*)?\/(.*)$/.exec(p);
    if (m && m[1] && !/^include\//.test(p.slice(p.indexOf(m[0]) - 8))) p = m[1];
  }
  return p.replace(/^\.\//, '');
}

/** Remove things that differ between boots: long hex, pointers, pids in brackets, counters. */
export function scrub(s: string): string {
  return s
    .replace(/\b(?:0x)?[0-9a-f]{6,}\b/gi, '')
    .replace(/\(____ptrval____\)|\(ptrval\)/g, '')
    .replace(/\[#\d+\]/g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s+([,.;:)])/g, '$1')
    .replace(/:(?:\s*:)+/g, ':')
    .trim();
}

export interface Classified {
  type: ReportType;
  title: string;
  altTitles: string[];
  corrupted: boolean;
  fatal: boolean;
  guilty: string | null;
  frames: string[];
  file: string | null;
  sourceLine: number | null;
  reason: string;
  /** The other CPU the title blames (see cpus.ts), if any. */
  culprit: CpuInfo | null;
}

export interface ClassifyInput {
  type: ReportType;
  /** Kernel text of the report from its primary line on, indentation removed. */
  body: readonly string[];
  /** The same without questionable ("? ") frames: what titles are made from. */
  titleLines: readonly string[];
  died: boolean;
  rip: Frame | null;
  /** Frames of the main trace (first trace after the primary line). */
  main: readonly Frame[];
  /** Canonical page-dump assertion, if a dump is attached. */
  assertion: string | null;
  /** Other CPUs' backtraces printed in the report, parsed when first asked for. */
  cpus: () => readonly CpuInfo[];
}

const HUNG_SKIP = /^(?:__?schedule\w*|schedule\w*|io_schedule\w*|context_switch|__switch_to\w*|preempt_schedule\w*|\w*wait_for_completion\w*|_{0,3}wait_(?:var_)?event\w*|__?wait_on_\w+|wait_on_\w+|folio_wait_\w+|wait_page_idle\w*|bit_wait\w*|rwsem_down_\w+|__?down\w*|down_\w+|__?percpu_(?:down|rwsem)\w*|do_nanosleep|schedule_hrtimeout\w*|wait_woken|prepare_to_wait\w*|__rwsem_\w+|__synchronize_\w+|synchronize_\w+|wait_rcu_gp)$/;
const IRQ_SKIP = /^(?:rcu_\w+|__rcu_\w+|__?sysvec_\w+|sysvec_\w+|update_process_times|tick_\w+|__?hrtimer_\w+|hrtimer_\w+|__?irq_exit\w*|__?do_softirq|handle_softirqs?|__?irq_\w+|nmi_\w+|watchdog_timer_fn|__run_hrtimer|irqentry_\w+|asm_sysvec_\w+|asm_common_interrupt|common_interrupt|__common_interrupt)$/;

/** A free-text "BUG:"/"WARNING:"/"INFO:" line is a report only with a kernel stack under it (user space and drivers print such lines too). */
function hasStack(frames: readonly Frame[]): boolean {
  return frames.some((f) => f.reliable && f.offset !== null);
}

/** Classify a grouped report, or null when it turns out not to be one. */
export function classify(inp: ClassifyInput): Classified | null {
  const body = inp.body;
  const head = body[0]!;

  let file: string | null = null;
  let sourceLine: number | null = null;
  const setFile = (f: string, l: string | undefined) => {
    file ??= normaliseFile(f);
    if (sourceLine === null && l !== undefined) sourceLine = Number(l);
  };
  for (const l of body) {
    // Only lines that begin like one of the four below name a file.
    const c = l.charCodeAt(0);
    if (c !== 107 && c !== 75 && c !== 87 && c !== 85 && c !== 66) continue;
    let m = /^[Kk]ernel BUG at ([^\s:]+):(\d+)/.exec(l);
    if (m) setFile(m[1]!, m[2]);
    m = /^WARNING: CPU: \d+ PID: \d+ at ([^\s:]+):(\d+) /.exec(l) ?? /^WARNING: ([^\s:]+\.[chS]):(\d+) at /.exec(l);
    if (m) setFile(m[1]!, m[2]);
    m = /^UBSAN: [\w-]+ in ([^\s:]+):(\d+)/.exec(l);
    if (m) setFile(m[1]!, m[2]);
    m = /^BUG: sleeping function called from invalid context at ([^\s:]+):(\d+)/.exec(l);
    if (m) setFile(m[1]!, m[2]);
    if (file !== null) break;
  }

  let reason = inp.assertion ?? '';
  let rc: string | undefined;
  let lc: string | undefined;
  for (const l of body) {
    const c = l.charCodeAt(0);
    if (c === 114 && rc === undefined && l.startsWith('refcount_t: ')) rc = l;
    else if (c === 108 && lc === undefined && /^list_(?:add|del) corruption/.test(l)) lc = l;
  }
  if (rc) reason = /^refcount_t: ([^.]*)/.exec(rc)?.[1] ?? reason;
  if (lc) reason = scrub(lc.replace(/0x[0-9a-f]+|[0-9a-f]{8,}/g, '')).replace(/\(\s*\)|\(\w+=\s*\)/g, '').replace(/\s+/g, ' ').trim();

  let { type } = inp;
  let title: string;
  let altTitles: string[] = [];
  let corrupted = false;
  let fn: string | null = null;
  const t = type === 'page dump' || type === 'memory failure' ? null : titleReport(inp.titleLines, 0, inp.cpus);
  if (t) {
    if (t.freeText && !hasStack(inp.main)) return null;
    type = t.type;
    title = t.title;
    altTitles = t.altTitles;
    corrupted = t.corrupted;
    fn = t.frame;
  } else if (type === 'memory failure') {
    title = scrub(head.replace(/^Memory failure: 0x[0-9a-f]+: /, 'Memory failure: '));
  } else if (type === 'page dump') {
    title = `page dumped because: ${inp.assertion ?? scrub(head.replace(/^page dumped because:\s*/, ''))}`;
  } else {
    title = scrub(head);
  }
  // The dedup key's frames: the stack a hung task sleeps in, or that a stall
  // interrupted, starts with scheduler or interrupt plumbing.
  const extra = type === 'hung task' ? HUNG_SKIP : type === 'RCU stall' || type === 'soft lockup' || type === 'hard lockup' ? IRQ_SKIP : undefined;
  const culprit = t?.culprit ?? null;
  const rip = type === 'hung task' || type === 'lockdep' ? null : inp.rip;
  // A stall named after the CPU it waited for is keyed by that CPU's stack too.
  const g = culprit ? chooseGuilty(culprit.bt.rip, culprit.bt.frames, extra) : chooseGuilty(rip, inp.main, extra);
  // The grouper saw every line of the report and already knows whether the kernel died.
  const fatal = FATAL_TYPES.has(type) || inp.died;
  return { type, title, altTitles, corrupted, fatal, guilty: fn ?? g.fn, frames: g.frames, file, sourceLine, reason, culprit };
}
