// Public face of the crash oracle: batch parsing of a whole log and a live
// detector fed one console line at a time.
import type { CrashReport } from '../results/records.js';
import { Grouper } from './detect.js';
import { buildReport } from './report.js';

export type { ReportType } from './patterns.js';
export { matchStart, FATAL_TYPES } from './patterns.js';
export { normaliseLine, splitLines, splitJoined, cleanControl, type ConsoleLine } from './lines.js';
export { Grouper, type LineGroup, type NumberedLine } from './detect.js';
export { parseFrame, parseFrames, parseRip, parseRegisters, parseHeader, normaliseFn } from './stack.js';
export { parsePageDump, canonicalAssertion, decodeFlags } from './pagedump.js';
export { classify, chooseGuilty, isSkipped, normaliseFile, scrub } from './classify.js';
export { decodeTaint, parseTaintString, newFailingTaint, taintValue, TAINT_FLAGS, FAILING_TAINT_LETTERS } from './taint.js';
export { dedupKey, matchKey, splitMatchKey, framesMatch, aliasFrame, sameCrash, FRAME_ALIASES } from './keys.js';
export { titleReport, normaliseTitle } from './titles.js';
export { neverGuilty, canonicalFrame } from './guilty.js';
export { buildReport, mainTrace } from './report.js';
export { symbolizeReport, type Symbolizer } from './symbolizer.js';
// A report as it reaches a user (a log, a mail, an mbox thread) → the console text in it.
export { splitMessages, intakeBody, intakeMessage, type IntakeForm, type IntakeMessage, type MailMeta, type RawMessage, type SyzbotInfo } from './intake.js';

/** Report kinds in which the kernel says it is stuck (a CPU, a task, RCU) rather than dead or warning. */
export const STALL_TYPES: ReadonlySet<string> = new Set(['soft lockup', 'hard lockup', 'RCU stall', 'hung task', 'workqueue lockup']);

/** Every kernel report in a console log, in order. */
export function parseLog(text: string): CrashReport[] {
  const out: CrashReport[] = [];
  const g = new Grouper((grp) => {
    const r = buildReport(grp);
    if (r) out.push(r);
  });
  let from = 0;
  // indexOf walking avoids materialising millions of line strings at once.
  for (;;) {
    const nl = text.indexOf('\n', from);
    if (nl < 0) {
      if (from < text.length) g.push(text.slice(from));
      break;
    }
    g.push(text.slice(from, nl));
    from = nl + 1;
  }
  g.flush();
  return out;
}

/** Every kernel report in a stream of lines (e.g. a readline interface over a huge file). */
export async function parseLines(lines: AsyncIterable<string> | Iterable<string>, onReport?: (r: CrashReport) => void): Promise<CrashReport[]> {
  const out: CrashReport[] = [];
  const g = new Grouper((grp) => {
    const r = buildReport(grp);
    if (!r) return;
    out.push(r);
    onReport?.(r);
  });
  for await (const l of lines) g.push(l);
  g.flush();
  return out;
}

export interface ReportDetectorOptions {
  onReport(r: CrashReport): void;
  /** Silence after which a pending report is taken as complete. Default 300 ms. */
  idleMs?: number;
}

/**
 * Live detector: push console lines as they arrive; onReport fires as soon as a
 * report is complete (end marker, an unrelated line, a panic, or idleMs of silence).
 */
export class ReportDetector {
  private readonly g: Grouper;
  private readonly idleMs: number;
  private timer: NodeJS.Timeout | null = null;
  private extended = false;
  private closed = false;

  constructor(private readonly opts: ReportDetectorOptions) {
    this.idleMs = opts.idleMs ?? 300;
    this.g = new Grouper((grp) => {
      const r = buildReport(grp);
      if (r) this.opts.onReport(r);
    });
  }

  push(line: string): void {
    if (this.closed) return;
    if (line.indexOf('\n') !== -1) for (const l of line.split('\n')) this.g.push(l);
    else this.g.push(line);
    this.arm();
  }

  /** Emit anything pending now. */
  flush(): void {
    this.clear();
    this.g.flush();
  }

  /** Stop timers; pending text is dropped (call flush() first to keep it). */
  close(): void {
    this.closed = true;
    this.clear();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (!this.g.busy) {
      this.clear();
      return;
    }
    if (this.timer && !this.extended) {
      this.timer.refresh();
      return;
    }
    // The grace timer has a longer period; new output means back to the normal one.
    this.clear();
    this.extended = false;
    this.timer = setTimeout(() => this.onIdle(), this.idleMs);
    // A detector must never keep the harness alive on its own.
    this.timer.unref();
  }

  private onIdle(): void {
    this.timer = null;
    if (this.closed) return;
    // A report that has not printed a stack yet is probably mid-print on a slow
    // (TCG) guest: give it one longer grace period before cutting it short.
    if (this.g.looksIncomplete && !this.extended) {
      this.extended = true;
      this.timer = setTimeout(() => this.onIdle(), this.idleMs * 3);
      this.timer.unref();
      return;
    }
    this.g.flush();
  }
}
