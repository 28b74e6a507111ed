// Finds where kernel reports begin and end in a stream of console lines and hands
// each one over as a group of lines. It never looks at more than the current line
// plus its own small state, so the same code serves batch parsing and the live
// console, and memory stays flat on a 1 GB log.
import { kernelTextOffset, mergedLineAt, normaliseLine, splitJoined, type ConsoleLine } from './lines.js';
import {
  matchStart,
  isPageDumpLine,
  isBodyLine,
  CUT_HERE_RE,
  MARK_AT_RE,
  END_TRACE_RE,
  END_PANIC_RE,
  KASAN_END_RE,
  TAIL_RE,
  FATAL_TYPES,
  DEATH_RE,
  type ReportType,
} from './patterns.js';

export interface NumberedLine extends ConsoleLine {
  /** Zero-based position in the stream of lines the detector was given. */
  no: number;
}

export interface LineGroup {
  type: ReportType;
  lines: NumberedLine[];
  /** Index into `lines` of the line that started the report (page-dump lines may precede it). */
  primary: number;
  /** Whether the group ended on an explicit end marker (as opposed to silence or unrelated lines). */
  complete: boolean;
  /** Whether a panic or die() line was seen in or right after the report. */
  died: boolean;
  /** Set when the report outgrew its caps: what was not kept of it (its head, which names it, always is). */
  truncated?: { lines: number; bytes: number };
}

/**
 * A report keeps at most this many lines and characters: the guest decides
 * how long a report is (an endless stack, a lockdep chain that never closes,
 * kmemleak listing every object), and the title comes from its head.
 */
export const MAX_REPORT_LINES = 2000;
export const MAX_REPORT_BYTES = 256 * 1024;
/** Page-dump and cut-here lines waiting for their report: a dump is ~10 lines. */
const PRE_MAX = 64;

/**
 * Whether an idle line can begin anything (see MARK_AT_RE). Most console lines
 * are answered without being normalised; wrapped ones (journal, kmsg, quoting,
 * text glued before a timestamp) go through normaliseLine first.
 */
function mayMatter(raw: string): boolean {
  let at = kernelTextOffset(raw);
  let s = raw;
  if (at < 0) {
    s = normaliseLine(raw).text;
    at = 0;
  }
  MARK_AT_RE.lastIndex = at;
  return MARK_AT_RE.test(s);
}

/** How many lines a page dump / cut-here block waits for its report line. */
const PRE_KEEP = 12;
/** Lines after a `cut here` that are kept as the WARN message. */
const CUT_MSG_LINES = 6;
/** Foreign lines tolerated inside a report, by kind of foreign line. */
const FOREIGN_KERNEL = 3;
const FOREIGN_USER = 20;
const TAIL_MAX = 40;
/**
 * Lines held once a report's foreign-line budget is spent while its stack is
 * still open (or not begun): a printk burst, test output or another CPU's
 * messages can sit inside a Call Trace or between a header and its stack, and
 * the frames that follow are still the report's. Only lines shaped like a
 * stack resume it (RESUME_RE).
 */
const HOLD_MAX = 30;
const RESUME_RE = /^(?:(?:\? )?[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+|\[<[0-9a-f]+>\] |<\/?(?:TASK|IRQ|NMI|SOFTIRQ)>|Call [Tt]race:|RIP: |task:\S+ +state:)/;
// Kinds whose reports interleave prose with their stacks get more slack.
const VERBOSE: ReadonlySet<ReportType> = new Set<ReportType>(['lockdep', 'KCSAN', 'KMSAN', 'memory leak', 'hung task', 'RCU stall', 'INFO']);
const FOREIGN_VERBOSE = 6;
// Heads after which a die() line (Oops, GPF, invalid opcode...) is the same report.
const DIES_AFTER: ReadonlySet<ReportType> = new Set<ReportType>(['BUG', 'Oops', 'GPF', 'invalid opcode', 'KASAN', 'list corruption', 'refcount_t', 'UBSAN', 'stack overflow', 'bad usercopy']);
const DIE_TYPES: ReadonlySet<ReportType> = new Set<ReportType>(['Oops', 'invalid opcode', 'GPF', 'divide error', 'double fault']);
// Messages printed just before the WARNING or BUG that reports them.
const PRECURSORS: ReadonlySet<ReportType> = new Set<ReportType>(['refcount_t', 'list corruption', 'UBSAN', 'VFS']);
// lockdep messages whose stack is the WARNING that DEBUG_LOCKS_WARN_ON() prints next.
const LOCKDEP_THEN_WARN_RE = /BUG: key \S+ has not been registered!/;
// A die() that can never start a report of its own right after another's first line.
const DIE_CONTINUES_RE = /^(?:Oops: )?invalid opcode: |^Internal error: |^PANIC: double fault/;

interface Current {
  g: LineGroup;
  /** printk caller id of the first line: lines from other callers are another task's output. */
  caller: string | null;
  /** After "Sending NMI"/"NMI backtrace", other CPUs' lines are part of the report. */
  nmi: boolean;
  /** CPUs a "Sending NMI from CPU x to CPUs y:" line asked for whose backtraces have not begun yet. */
  nmiPending: number;
  foreign: number;
  sawTrace: boolean;
  traceClosed: boolean;
  hasTs: boolean;
  sinceStart: number;
  emitted: boolean;
  sawEndSection: boolean;
  /** Characters of text kept in g.lines. */
  bytes: number;
  /** A "Kernel panic" line is in the report: a kernel panics once. */
  panicked: boolean;
}

const CONTINUATION_PANIC_RE = /^Kernel panic - not syncing: (?:(Fatal exception)|(?:\w+: )?panic_on_warn set|(hung_task: blocked tasks))/;
const NMI_TARGETS_RE = /to CPUs ([\d,-]+):/;
// An indented stack frame after a printk time, and nothing else on the line.
const PLAIN_FRAME_RE = / +(?:\? )?[A-Za-z_][\w.]*\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[\w-]+\])?$/y;

/** How many CPUs "Sending NMI from CPU 0 to CPUs 1-3,5:" names (the kernel's %*pbl list). */
function nmiTargets(t: string): number {
  const m = NMI_TARGETS_RE.exec(t);
  if (!m) return 0;
  let n = 0;
  for (const r of m[1]!.split(',')) {
    const [a, b] = r.split('-').map(Number);
    if (a !== undefined && !Number.isNaN(a)) n += b === undefined || Number.isNaN(b) ? 1 : Math.max(1, b - a + 1);
  }
  return n;
}

const LEAK_BODY_RE = /^(?:$|unreferenced object 0x|comm "|hex dump|(?:[0-9a-f]{2} ){4}|backtrace|\[<[0-9a-f]+>\] |[A-Za-z_][\w.]*\+0x)/;
// First letters of DEATH_RE's lines.
const DEATH_FIRST = new Set(['O', 'i', 'd', 'g', 's', 'P', 'k', 'K', 'I', 'B']);
const BACKTRACE_RE = /(?:^|\S )backtrace(?: \(crc [0-9a-f]+\))?:/;
const PRINTK_TS_RE = /^\s*(?:<\d+>)?\[ *\d+\.\d+\]/;
const SANITIZERS: ReadonlySet<ReportType> = new Set<ReportType>(['KASAN', 'KFENCE', 'UBSAN', 'KMSAN', 'KCSAN']);

const CENSUS_START_RE = /dax_census: dump \d+ pfn=/;
const CENSUS_END_RE = /dax_census: dump end/;
const CENSUS_RE = /^dax_census: /;

/**
 * Whether a long line can hold several kernel lines a mail client joined: at
 * least two of the tokens such lines carry, so that long ordinary lines (audit
 * records, a fuzzer's programs, "Code:" bytes) skip the splitting regex.
 */
const JOIN_HINTS = ['+0x', 'BUG', 'WARNING: ', 'RIP: ', 'Code: ', 'Call Trace', 'CPU: ', 'page:', 'flags: 0x', 'raw: ', 'TASK>', '---[ end', 'Hardware name', 'cut here', 'Modules linked', 'Oops', 'Kernel panic'];
function mayBeJoined(s: string): boolean {
  let marks = 0;
  for (const m of JOIN_HINTS) {
    if (s.includes(m) && ++marks >= 2) return true;
  }
  return false;
}

export class Grouper {
  private no = 0;
  private state: 'idle' | 'report' | 'tail' = 'idle';
  private pre: NumberedLine[] = [];
  private preLastDump = -1;
  private preCutAt = -1;
  private cur: Current | null = null;
  /** Foreign lines after the report's budget ran out, replayed as idle lines if no stack line follows. */
  private held: NumberedLine[] = [];
  private tailLeft = 0;
  private censusDump = false;
  /** Line number after which the last report ended, and what it was. */
  private lastEnd = -Infinity;
  private lastEnded: { type: ReportType; died: boolean; panicked: boolean } | null = null;
  /** Whether the kernel has printed anything yet: a decompressor banner after that is a reboot. */
  private sawKernel = false;

  constructor(private readonly emit: (g: LineGroup) => void) {}

  /** Lines seen so far. */
  get lineCount(): number {
    return this.no;
  }

  /** True while a report or its pre-context is buffered (an idle flush would emit something). */
  get busy(): boolean {
    return this.state !== 'idle' || this.pre.length > 0;
  }

  /** True when the buffered report has not yet shown a stack or an end, or awaits CPUs' backtraces it asked for. */
  get looksIncomplete(): boolean {
    return this.state === 'report' && this.cur !== null && (!this.cur.sawTrace || this.cur.nmiPending > 0);
  }

  push(raw: string): void {
    if (this.state === 'report' && this.cur!.g.truncated && !this.censusDump && this.skipFrame(raw)) return;
    // Pieces of a line a mail client joined keep that line's number.
    const no = this.no++;
    if (raw.length >= 160 && mayBeJoined(raw)) {
      const parts = splitJoined(raw);
      if (parts.length > 1) {
        for (const p of parts) this.pushLine(p, no);
        return;
      }
    }
    // Two console lines merged into one: when the second begins a report and the
    // first does not, each is a line of its own (otherwise the first, whole, is
    // the line, and a report line holding another's timestamp is marked corrupted).
    const at = kernelTextOffset(raw);
    const merged = at > 0 ? mergedLineAt(raw, at) : null;
    if (merged) {
      MARK_AT_RE.lastIndex = merged.text;
      if (MARK_AT_RE.test(raw)) {
        MARK_AT_RE.lastIndex = at;
        if (!MARK_AT_RE.test(raw)) {
          this.pushLine(raw.slice(0, merged.at), no);
          this.pushLine(raw.slice(merged.at), no);
          return;
        }
      }
    }
    this.pushLine(raw, no);
  }

  /**
   * A report past its caps that goes on printing plain stack frames (an
   * endless recursion) needs no more than counting: a frame line can neither
   * start a report nor end one, and it is not kept. Everything else takes
   * the full path.
   */
  private skipFrame(raw: string): boolean {
    if (raw.length > 240) return false;
    const at = kernelTextOffset(raw);
    if (at <= 0) return false;
    PLAIN_FRAME_RE.lastIndex = at;
    if (!PLAIN_FRAME_RE.test(raw)) return false;
    const cur = this.cur!;
    this.no++;
    cur.sinceStart++;
    cur.foreign = 0;
    cur.traceClosed = false;
    cur.g.truncated!.lines++;
    cur.g.truncated!.bytes += raw.length - at;
    return true;
  }

  private pushLine(raw: string, no: number): void {
    // The refcount census dumps the pages it finds with dump_page(): findings
    // of ours, not kernel reports, and never the page dump of a report that
    // happens to follow them.
    if (this.censusDump) {
      if (CENSUS_END_RE.test(raw)) {
        this.censusDump = false;
        return;
      }
      const t = normaliseLine(raw).text.trimStart();
      if (isPageDumpLine(t) || CENSUS_RE.test(t)) return;
      this.censusDump = false;
    }
    if (this.state === 'idle' && raw.includes('dax_census: dump') && CENSUS_START_RE.test(raw)) {
      this.censusDump = true;
      return;
    }
    // A kernel booted with printk.time=0 shows itself by its first line.
    if (!this.sawKernel && (PRINTK_TS_RE.test(raw) || raw.includes('Linux version '))) this.sawKernel = true;
    if (this.state === 'idle' && this.pre.length === 0 && !mayMatter(raw)) return;
    const cl = normaliseLine(raw) as NumberedLine;
    cl.no = no;
    this.step(cl);
  }

  /** Emit whatever is buffered (end of input, or silence on a live console). */
  flush(): void {
    if (this.held.length > 0) this.release();
    if (this.state === 'report' || this.state === 'tail') this.endCurrent();
    this.expirePre();
  }

  /** The held lines were not the report's: end it and give them to the idle state. */
  private release(): void {
    const held = this.held;
    this.held = [];
    this.endCurrent();
    for (const h of held) this.inIdle(h, h.text.trimStart());
  }

  private step(cl: NumberedLine): void {
    const t = cl.text.trimStart();
    const indented = t.length !== cl.text.length;
    if (this.state === 'report') return this.inReport(cl, t, indented);
    if (this.state === 'tail') return this.inTail(cl, t, indented);
    this.inIdle(cl, t);
  }

  private inIdle(cl: NumberedLine, t: string): void {
    const type = matchStart(t);
    // The panics a report ends in (die()'s, panic_on_warn's, the hung task detector's)
    // are that report's end even when other output came between: not a report of their own.
    if (type === 'panic' && cl.no - this.lastEnd <= FOREIGN_USER && this.endsLast(t)) return;
    if (type && (type !== 'reboot' || this.sawKernel)) return this.start(cl, type);
    if (isPageDumpLine(t)) {
      // A second dump right after a complete one belongs to a different page.
      if (/^page: ?(?:[0-9a-f]|refcount)/.test(t) && this.pre.some((p) => p.text.includes('page dumped because:'))) this.expirePre();
      this.keepPre(cl);
      this.preLastDump = cl.no;
      return;
    }
    if (CUT_HERE_RE.test(t)) {
      this.keepPre(cl);
      this.preCutAt = cl.no;
      return;
    }
    if (this.pre.length === 0) return;
    if (this.preCutAt >= 0 && cl.no - this.preCutAt <= CUT_MSG_LINES) {
      this.keepPre(cl);
      return;
    }
    const last = Math.max(this.preLastDump, this.preCutAt);
    if (cl.no - last > PRE_KEEP) this.expirePre();
  }

  /** A flood of page-dump lines keeps only its newest PRE_MAX, which is what a report after it would take. */
  private keepPre(cl: NumberedLine): void {
    if (this.pre.length >= PRE_MAX) this.pre.shift();
    this.pre.push(cl);
  }

  /** Whether a panic line is how the report that ended last ends: die()'s after an oops, the hung task detector's after a hung task, panic_on_warn's after any report. */
  private endsLast(t: string): boolean {
    const last = this.lastEnded;
    const m = CONTINUATION_PANIC_RE.exec(t);
    if (!last || !m || last.panicked) return false;
    if (m[1]) return last.died;
    if (m[2]) return last.type === 'hung task';
    return true;
  }

  private expirePre(): void {
    const pre = this.pre;
    this.pre = [];
    this.preLastDump = -1;
    this.preCutAt = -1;
    const because = pre.findIndex((p) => p.text.trimStart().startsWith('page dumped because:'));
    if (because < 0) return;
    // A page dump nobody claimed is still a finding (dump_page() is only called when something is wrong).
    let first = 0;
    while (first < pre.length && !isPageDumpLine(pre[first]!.text.trimStart())) first++;
    let last = pre.length - 1;
    while (last > first && !isPageDumpLine(pre[last]!.text.trimStart())) last--;
    const lines = pre.slice(first, last + 1);
    const primary = lines.findIndex((p) => p.text.trimStart().startsWith('page dumped because:'));
    this.emit({ type: 'page dump', lines, primary, complete: true, died: false });
  }

  private start(cl: NumberedLine, type: ReportType): void {
    let lines: NumberedLine[] = [];
    if (this.pre.length > 0) {
      const last = Math.max(this.preLastDump, this.preCutAt);
      if (cl.no - last <= PRE_KEEP) lines = this.pre;
      else this.expirePre();
      this.pre = [];
      this.preLastDump = -1;
      this.preCutAt = -1;
    }
    const primary = lines.length;
    lines.push(cl);
    this.cur = {
      g: { type, lines, primary, complete: false, died: FATAL_TYPES.has(type) || DEATH_RE.test(cl.text.trimStart()) },
      caller: cl.caller,
      nmi: false,
      nmiPending: 0,
      foreign: 0,
      sawTrace: false,
      traceClosed: false,
      hasTs: cl.ts !== null,
      sinceStart: 0,
      emitted: false,
      sawEndSection: false,
      bytes: lines.reduce((n, l) => n + l.text.length, 0),
      panicked: type === 'panic',
    };
    this.state = 'report';
  }

  private inReport(cl: NumberedLine, t: string, indented: boolean): void {
    const cur = this.cur!;
    const type = matchStart(t);
    // Another task's or CPU's output interleaved by printk: not ours, and no reason to stop.
    if (cur.caller !== null && cl.caller !== null && cl.caller !== cur.caller && !(cur.nmi && cl.caller[0] === 'C') && !type) return;
    if (this.held.length > 0) {
      // A sanitizer's report goes on after its first stack (allocation and free stacks,
      // the buggy address, the shadow) up to its end marker: any of its lines resumes it.
      const resumes = RESUME_RE.test(t) || (SANITIZERS.has(cur.g.type) && isBodyLine(t, indented));
      // Past the budget only the report's own death continues it: a report of the same
      // kind (kmemleak's next object, unregister_netdevice's next complaint) is another one.
      const dies = type === 'panic' || (type !== null && DIE_TYPES.has(type));
      if (type ? dies && this.continues(cur, type, t, cl.ts !== null) : resumes && (cl.ts !== null || !cur.hasTs)) {
        this.held = [];
        cur.foreign = 0;
      } else if (type || this.held.length >= HOLD_MAX) {
        this.release();
        return this.step(cl);
      } else {
        this.held.push(cl);
        return;
      }
    }
    cur.sinceStart++;
    if (t.startsWith('---[ end') && (END_TRACE_RE.test(t) || END_PANIC_RE.test(t))) {
      this.append(cl);
      return this.endWithMarker();
    }
    if (type && (type !== 'reboot' || this.sawKernel)) {
      if (this.continues(cur, type, t, cl.ts !== null)) {
        this.append(cl);
        if (type === 'panic' || DEATH_RE.test(t)) {
          cur.g.died = true;
          if (type === 'panic') cur.panicked = true;
          // A fatal verdict must not wait for the rest of the panic output, unless the
          // report has no stack yet: then panic()'s own dump_stack is its stack (a
          // WARNING with panic_on_warn on kernels that panic before show_regs).
          if (/^Kernel panic - not syncing/.test(t) && cur.sawTrace) this.emitEarly();
        }
        return;
      }
      this.endCurrent();
      return this.start(cl, type);
    }
    if (t.charCodeAt(0) === 61 && KASAN_END_RE.test(t) && cur.sinceStart > 3 && (SANITIZERS.has(cur.g.type) || cur.sawEndSection)) {
      this.append(cl);
      return this.endWithMarker();
    }
    // A Rust panic prints its message on the line after "panicked at FILE:LINE:COL:".
    if (cur.sinceStart <= 3 && cur.g.type === 'BUG' && t !== '' && cur.g.lines[cur.g.primary]!.text.includes('rust_kernel: panicked at ') && cur.g.lines.every((l, i) => i <= cur.g.primary || l.text.trim() === '')) {
      this.append(cl);
      return;
    }
    // kmemleak's objects are indented like any program's output (they are often read
    // from debugfs by a test), so only their own shapes belong to a leak report.
    if (cur.g.type === 'memory leak' ? LEAK_BODY_RE.test(t) : isBodyLine(t, indented)) {
      cur.foreign = 0;
      if (t.startsWith('Call Trace:') || t.startsWith('Call trace:') || t.startsWith('Showing all locks') || (t.includes('backtrace') && BACKTRACE_RE.test(t))) {
        cur.sawTrace = true;
        cur.traceClosed = false;
        if (t.startsWith('Showing all locks')) cur.sawEndSection = true;
      } else if (t === '</TASK>') {
        cur.traceClosed = true;
      } else if (cur.traceClosed && /^(?:\? )?[A-Za-z_.$][\w.$]*\+0x/.test(t)) {
        cur.traceClosed = false;
      }
      if (t.startsWith('Sending NMI')) {
        cur.nmi = true;
        cur.nmiPending += nmiTargets(t);
      } else if (t.startsWith('NMI backtrace')) {
        cur.nmi = true;
        if (cur.nmiPending > 0) cur.nmiPending--;
      }
      if (!cur.g.died && DEATH_FIRST.has(t[0]!) && DEATH_RE.test(t)) cur.g.died = true;
      this.append(cl);
      return;
    }
    cur.foreign++;
    // Other CPUs' output lands between a report's first line and its stack more
    // often than inside the stack: more slack until the stack has begun.
    const limit =
      cur.hasTs && cl.ts === null
        ? FOREIGN_USER
        : cur.traceClosed && cur.nmiPending === 0 && !SANITIZERS.has(cur.g.type)
          ? 1
          : VERBOSE.has(cur.g.type) || !cur.sawTrace
            ? FOREIGN_VERBOSE
            : FOREIGN_KERNEL;
    if (cur.foreign >= limit) {
      if (!cur.traceClosed || SANITIZERS.has(cur.g.type)) {
        this.held.push(cl);
        return;
      }
      this.endCurrent();
      this.inIdle(cl, t);
    }
  }

  private continues(cur: Current, type: ReportType, t: string, hasTs: boolean): boolean {
    // A panic ends whatever it follows, unless that went quiet long ago or was
    // printed by a program (kmemleak's file read by a test) and not the kernel.
    if (/^Kernel panic - not syncing/.test(t)) return !cur.panicked && (cur.hasTs || !hasTs) && this.no - 1 - cur.g.lines[cur.g.lines.length - 1]!.no <= FOREIGN_USER;
    const head = cur.g.type;
    // kmemleak lists every leaked object under one report.
    if (head === 'memory leak' && type === 'memory leak' && !t.startsWith('BUG:')) return true;
    // unregister_netdevice repeats its complaint every few seconds.
    if (head === 'netdev refcount' && type === 'netdev refcount') return true;
    if (cur.sawTrace) return false;
    // arm64's die() line follows its fault line after the abort decoding and page-table
    // walk, which grow with each kernel (and other CPUs' lines may sit among them).
    if (head === 'Oops' && t.startsWith('Internal error: ')) return true;
    if (cur.sinceStart > 15) return false;
    if (DIE_TYPES.has(type)) return DIE_CONTINUES_RE.test(t) || DIES_AFTER.has(head);
    if (PRECURSORS.has(head) && (type === 'WARNING' || type === 'BUG' || type === 'refcount_t' || type === 'list corruption')) return true;
    if (head === 'WARNING' && (type === 'refcount_t' || type === 'list corruption')) return true;
    // lockdep_init_map_type() names an unregistered key, then DEBUG_LOCKS_WARN_ON() warns with the stack.
    if (head === 'lockdep' && type === 'WARNING' && LOCKDEP_THEN_WARN_RE.test(cur.g.lines[cur.g.primary]!.text)) return true;
    if (head === 'soft lockup' && type === 'hard lockup') return true;
    // The Rust panic handler's BUG() (rust/helpers/bug.c, rust/helpers.c before 6.12).
    if (head === 'BUG' && type === 'BUG' && t.startsWith('kernel BUG at rust/')) return true;
    return false;
  }

  private append(cl: NumberedLine): void {
    const cur = this.cur!;
    const g = cur.g;
    if (g.truncated || g.lines.length >= MAX_REPORT_LINES || cur.bytes + cl.text.length > MAX_REPORT_BYTES) {
      // Still part of the report (it goes on being recognised as one), only not kept.
      g.truncated ??= { lines: 0, bytes: 0 };
      g.truncated.lines++;
      g.truncated.bytes += cl.text.length;
      return;
    }
    cur.bytes += cl.text.length;
    g.lines.push(cl);
  }

  private endWithMarker(): void {
    const cur = this.cur!;
    cur.g.complete = true;
    this.state = 'tail';
    this.tailLeft = TAIL_MAX;
    if (cur.g.died) this.emitEarly();
  }

  private emitEarly(): void {
    const cur = this.cur!;
    if (cur.emitted) return;
    cur.emitted = true;
    this.emit(cur.g);
  }

  private inTail(cl: NumberedLine, t: string, indented: boolean): void {
    const cur = this.cur!;
    const type = matchStart(t);
    const isPanic = type === 'panic';
    if ((type && !isPanic) || !(isPanic || TAIL_RE.test(t) || isBodyLine(t, indented))) {
      this.endCurrent();
      return this.inIdle(cl, t);
    }
    if (!cur.emitted) {
      this.append(cl);
      if (isPanic) {
        cur.g.died = true;
        cur.panicked = true;
        this.emitEarly();
      }
    }
    if (END_PANIC_RE.test(t) || --this.tailLeft <= 0) {
      this.endCurrent();
    }
  }

  private endCurrent(): void {
    const cur = this.cur;
    this.cur = null;
    if (cur) {
      this.lastEnd = this.no - 1;
      this.lastEnded = { type: cur.g.type, died: cur.g.died, panicked: cur.panicked };
    }
    this.state = 'idle';
    if (cur && !cur.emitted) {
      cur.emitted = true;
      this.emit(cur.g);
    }
  }
}
