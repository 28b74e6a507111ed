// Turns one grouped report into the CrashReport record: every parser runs here,
// once, when the group is complete.
import type { CrashReport, Frame } from '../results/records.js';
import type { LineGroup } from './detect.js';
import { classify } from './classify.js';
import { dedupKey, matchKey } from './keys.js';
import { parsePageDump } from './pagedump.js';
import { parseFramesIndexed, parseHeader, parseRegisters, parseRip, type IndexedFrames } from './stack.js';

const TRACE_START_RE = /^(?:Call [Tt]race:|stack backtrace:)/;
const TRACE_STOP_RE = /^(?:Call [Tt]race:|---\[ end|Kernel panic|NMI backtrace|Sending NMI|Allocated by task|Freed by task|page last|The buggy address|Showing all locks|Modules linked in|RIP: |CPU: \d)/;

/** Frames of the first stack trace printed after the report's first line. */
export function mainTrace(body: readonly string[], parsed: IndexedFrames = parseFramesIndexed(body)): Frame[] {
  const start = body.findIndex((l) => TRACE_START_RE.test(l.trimStart()));
  if (start < 0) return parsed.frames.filter((f) => f.section === 'stack' || f.section === 'nmi');
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
  return parsed.frames.filter((_, i) => parsed.at[i]! > start && parsed.at[i]! < end);
}

// A frame the unwinder was not sure of ("? f+0x1/0x2", powerpc's "(unreliable)") never names a report.
const QUESTIONABLE_RE = /^(?:\[<?(?:0x)?[0-9a-f]+>?\]\s+){0,2}\? /;
const questionable = (t: string) => (t[0] === '?' || t[0] === '[') && QUESTIONABLE_RE.test(t) || t.endsWith('(unreliable)');
// dump_page() calls that report a page some operation could not handle, not a kernel bug.
const BENIGN_DUMP_RE = /^page dumped because: (?:isolation failed|migration failure|unmovable page|gup_test failure|dump_pages\(\) test)/;

/** The CrashReport for a group, or null when the group turns out not to be a kernel report. */
export function buildReport(g: LineGroup): CrashReport | null {
  const text = g.lines.map((l) => l.text);
  // Every parser below wants the lines without their indentation: trim them once.
  const body: string[] = [];
  for (let i = g.primary; i < text.length; i++) body.push(text[i]!.trimStart());
  if (g.type === 'page dump' && body.some((l) => BENIGN_DUMP_RE.test(l))) return null;
  const rip = parseRip(body);
  const parsed = parseFramesIndexed(body);
  const main = mainTrace(body, parsed);
  const pageDump = parsePageDump(text);
  const c = classify({
    type: g.type,
    body,
    titleLines: body.filter((l) => !questionable(l)),
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
    headline: body[0]!.trimEnd(),
    guilty: c.guilty,
    file: c.file,
    sourceLine: c.sourceLine,
    reason: c.reason,
    complete: g.complete,
    frames: parsed.frames,
    rip,
    registers: parseRegisters(body),
    header: parseHeader(body),
    pageDump,
  };
}
