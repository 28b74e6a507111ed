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

function allocTrace(body: readonly string[]): Frame[] {
  const start = body.findIndex((l) => /^page last allocated/.test(l.trimStart()));
  if (start < 0) return [];
  let end = start + 1;
  while (end < body.length && !/^page last free|^Call Trace|^Modules linked/.test(body[end]!.trimStart())) end++;
  return parseFrames(body.slice(start, end)).filter((f) => f.section === 'alloc');
}

export function buildReport(g: LineGroup): CrashReport {
  const text = g.lines.map((l) => l.text);
  const body = text.slice(g.primary);
  const rip = parseRip(body);
  const main = mainTrace(body);
  const pageDump = parsePageDump(text);
  const c = classify({
    type: g.type,
    body,
    died: g.died,
    rip,
    main,
    alloc: allocTrace(body),
    assertion: pageDump?.assertion ?? null,
  });
  const keyIn = { type: c.type, title: c.title, reason: c.reason, file: c.file, frames: c.frames };
  return {
    type: c.type,
    title: c.title,
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
