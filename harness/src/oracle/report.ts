// Turns one grouped report into the CrashReport record: every parser runs here,
// once, when the group is complete.
import type { CrashReport, Frame } from '../results/records.js';
import type { LineGroup } from './detect.js';
import { classify } from './classify.js';
import { dedupKey, matchKey } from './keys.js';
import { parsePageDump } from './pagedump.js';
import { parseFrames, parseHeader, parseRegisters, parseRip } from './stack.js';

const TRACE_START_RE = /^(?:Call [Tt]race:|stack backtrace:)/;
const TRACE_STOP_RE = /^(?:Call [Tt]race:|---\[ end|Kernel panic|NMI backtrace|Sending NMI|Allocated by task|Freed by task|page last|The buggy address|Showing all locks|Modules linked in|RIP: |CPU: \d)/;

/** Frames of the first stack trace printed after the report's first line. */
export function mainTrace(body: readonly string[]): Frame[] {
  const start = body.findIndex((l) => TRACE_START_RE.test(l.trimStart()));
  if (start < 0) return parseFrames(body).filter((f) => f.section === 'stack' || f.section === 'nmi');
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
  return parseFrames(body.slice(start, end));
}

// A frame the unwinder was not sure of ("? f+0x1/0x2", powerpc's "(unreliable)") never names a report.
const QUESTIONABLE_RE = /^\s*(?:\[<?(?:0x)?[0-9a-f]+>?\]\s+){0,2}\? |\(unreliable\)$/;
// dump_page() calls that report a page some operation could not handle, not a kernel bug.
const BENIGN_DUMP_RE = /^page dumped because: (?:isolation failed|migration failure|unmovable page|gup_test failure|dump_pages\(\) test)/;

/** The CrashReport for a group, or null when the group turns out not to be a kernel report. */
export function buildReport(g: LineGroup): CrashReport | null {
  const text = g.lines.map((l) => l.text);
  const body = text.slice(g.primary);
  if (g.type === 'page dump' && body.some((l) => BENIGN_DUMP_RE.test(l.trimStart()))) return null;
  const rip = parseRip(body);
  const main = mainTrace(body);
  const pageDump = parsePageDump(text);
  const c = classify({
    type: g.type,
    body,
    titleLines: body.filter((l) => !QUESTIONABLE_RE.test(l)),
    died: g.died,
    rip,
    main,
    assertion: pageDump?.assertion ?? null,
  });
  if (!c) return null;
  const keyIn = { type: c.type, title: c.title, altTitles: c.altTitles, reason: c.reason, file: c.file, frames: c.frames };
  return {
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
    headline: body[0]!.trim(),
    guilty: c.guilty,
    file: c.file,
    sourceLine: c.sourceLine,
    reason: c.reason,
    complete: g.complete,
    frames: parseFrames(body),
    rip,
    registers: parseRegisters(body),
    header: parseHeader(body),
    pageDump,
  };
}
