// Turns one grouped report into the CrashReport record: every parser runs here,
// once, when the group is complete.
import type { CrashReport, Frame } from '../results/records.js';
import type { LineGroup } from './detect.js';
import { classify } from './classify.js';
import { dedupKey, matchKey } from './keys.js';
import { parsePageDump } from './pagedump.js';
import { parseFrames, parseHeader, parseRegisters, parseRip } from './stack.js';
import { parseCpus, type CpuInfo } from './cpus.js';

const TRACE_START_RE = /^(?:Call [Tt]race:|stack backtrace:)/;
const TRACE_STOP_RE = /^(?:Call [Tt]race:|---\[ end|Kernel panic|NMI backtrace|Sending NMI|Allocated by task|Freed by task|page last|The buggy address|Showing all locks|Modules linked in|RIP: |CPU: \d)/;

/** Lines [start, end) of the first stack trace after the report's first line, or null. */
function mainTraceRange(body: readonly string[]): [number, number] | null {
  const start = body.findIndex((l) => TRACE_START_RE.test(l.trimStart()));
  if (start < 0) return null;
  let end = start + 1;
  let depth = 0;
  for (; end < body.length; end++) {
    const t = body[end]!.trimStart();
    if (TRACE_STOP_RE.test(t)) break;
    if (t === '<TASK>') depth++;
    if (t === '</TASK>' && --depth <= 0) {
      end++;
      break;
    }
  }
  return [start, end];
}

/** Frames of the first stack trace printed after the report's first line. */
export function mainTrace(body: readonly string[]): Frame[] {
  const range = mainTraceRange(body);
  // The range starts at its "Call Trace:" line, so its frames get the section they have in the whole report.
  if (range) return parseFrames(body.slice(range[0], range[1]));
  return parseFrames(body).filter((f) => f.section === 'stack' || f.section === 'nmi');
}

/**
 * Give `obj` a property computed on first read (and then kept): the details a
 * report carries for people and tools (every frame, registers, the header) cost
 * as much to parse as finding and titling the report, and most readers of a
 * long log (the live watch, "is this crash new") never look at them. JSON,
 * spreading and structuredClone read them like any other property.
 */
function lazy<T extends object, K extends string>(obj: T, key: K, compute: () => unknown): void {
  const settle = (value: unknown) => Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(obj, key, {
    enumerable: true,
    configurable: true,
    get() {
      const v = compute();
      settle(v);
      return v;
    },
    set: settle,
  });
}

// A frame the unwinder was not sure of ("? f+0x1/0x2", powerpc's "(unreliable)") never names a report.
const QUESTIONABLE_RE = /^(?:\[<?(?:0x)?[0-9a-f]+>?\]\s+){0,2}\? /;
const questionable = (t: string) => (t[0] === '?' || t[0] === '[') && QUESTIONABLE_RE.test(t) || t.endsWith('(unreliable)');
// dump_page() calls that report a page some operation could not handle, not a kernel bug.
const BENIGN_DUMP_RE = /^page dumped because: (?:isolation failed|migration failure|unmovable page|gup_test failure|dump_pages\(\) test)/;

/** Where the other CPUs' backtraces begin in a report (their first line, their first block), -1 when absent. */
function cpusStart(body: readonly string[]): { at: number; block: number } {
  let at = -1;
  for (let i = 0; i < body.length; i++) {
    const l = body[i]!;
    const c = l[0];
    if (c !== 'N' && c !== 'S' && c !== 'T') continue;
    const block = l.startsWith('NMI backtrace for cpu') || l.startsWith('Task dump for CPU');
    if (at < 0 && (block || l.startsWith('Sending NMI from'))) at = i;
    if (block) return { at, block: i };
  }
  return { at, block: -1 };
}

/** The CrashReport for a group, or null when the group turns out not to be a kernel report. */
export function buildReport(g: LineGroup): CrashReport | null {
  const text = g.lines.map((l) => l.text);
  // Every parser below wants the lines without their indentation: trim them once.
  const body: string[] = [];
  for (let i = g.primary; i < text.length; i++) body.push(text[i]!.trimStart());
  if (g.type === 'page dump' && body.some((l) => BENIGN_DUMP_RE.test(l))) return null;
  // The report's own RIP, stack and header come before the other CPUs' backtraces,
  // unless it has no stack of its own there (an RCU stall shows the stalled CPU only in its backtrace).
  const { at, block } = cpusStart(body);
  let ownTrace = false;
  for (let i = 0; i < at && !ownTrace; i++) ownTrace = TRACE_START_RE.test(body[i]!);
  const own = ownTrace ? body.slice(0, at) : body;
  // The CPU blocks are read when the title asks for them (a stall waiting on another CPU) or the record is read.
  let cpus: CpuInfo[] | null = null;
  const cpusOf = () => (cpus ??= block < 0 ? [] : parseCpus(body.slice(block).filter((l) => l !== '')));
  const rip = parseRip(own);
  const main = mainTrace(own);
  const pageDump = parsePageDump(text);
  const c = classify({
    type: g.type,
    body,
    // Blank lines (a double-spaced console, a CR CR LF capture) say nothing about the title.
    titleLines: body.filter((l) => l !== '' && !questionable(l)),
    died: g.died,
    rip,
    main,
    assertion: pageDump?.assertion ?? null,
    cpus: cpusOf,
  });
  if (!c) return null;
  const keyIn = { type: c.type, title: c.title, altTitles: c.altTitles, reason: c.reason, file: c.file, frames: c.frames };
  const r: CrashReport = {
    type: c.type,
    title: c.title,
    altTitles: c.altTitles,
    corrupted: c.corrupted,
    fatal: c.fatal,
    dedupKey: dedupKey(keyIn),
    matchKey: matchKey(keyIn),
    startLine: g.lines[0]!.no,
    endLine: g.lines[g.lines.length - 1]!.no,
    lines: g.lines.map((l) => l.display),
    headline: body[0]!.trimEnd(),
    guilty: c.guilty,
    file: c.file,
    sourceLine: c.sourceLine,
    reason: c.reason,
    complete: g.complete,
    rip,
    pageDump,
  };
  if (g.truncated) r.truncated = g.truncated;
  if (c.culprit) c.culprit.bt.culprit = true;
  if (block >= 0) lazy(r, 'cpus', () => cpusOf().map((x) => x.bt));
  lazy(r, 'frames', () => parseFrames(body));
  lazy(r, 'registers', () => parseRegisters(body));
  lazy(r, 'header', () => parseHeader(own));
  return r;
}
