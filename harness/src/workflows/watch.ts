// The live hook between a guest's console and the crash oracle: every line
// goes through the oracle's detector as it arrives; a fatal report stops the
// run at once instead of waiting for a test timeout.
import { ReportDetector, STALL_TYPES } from '../oracle/index.ts';
import type { ConsoleStream } from '../vm/console.ts';
import type { CrashReport } from '../results/records.ts';

/**
 * Whether a report says the guest is stuck (rather than dead or merely
 * warning). A stuck guest may be wedged, or may have survived a slow moment
 * (emulation) or a stuck task: the caller decides, by asking the guest,
 * whether it ends the test or the run.
 */
export function isStall(r: CrashReport): boolean {
  return STALL_TYPES.has(r.type);
}

/** Whether a report ends the guest by itself (panic, oops with oops=panic). */
export function endsRun(r: CrashReport): boolean {
  return r.fatal;
}

export interface ConsoleWatch {
  /** Reports since the last take(): attributed to the test that just ran. */
  take(): CrashReport[];
  all(): CrashReport[];
  /** The first report that ended the run (fatal, or a stall the guest did not survive). */
  fatal(): CrashReport | null;
  /** Record a report as the one that ended the run (a stall after which the guest stopped answering). */
  markFatal(r: CrashReport): void;
  /** Flush what is pending and detach. */
  stop(): void;
  /** When each report was recorded (ms since epoch), for latency figures. */
  recordedAt(r: CrashReport): number | undefined;
}

/**
 * Watch a console from wherever it stands now: subscribed before QEMU starts,
 * every line from the first byte goes through the oracle (a kernel that dies
 * probing nd_pmem at boot is a titled crash, not a guest that never came up).
 */
export function watchConsole(
  console: ConsoleStream,
  exited: Promise<unknown>,
  onFatal: (why: string) => void,
  /** Called for a stall report; without it a stall ends the run like a panic. */
  onStall?: (r: CrashReport) => void,
  /** console.log's line number of the next line (a reused guest's run writes its own file from here). */
  lineBase?: number,
): ConsoleWatch {
  const all: CrashReport[] = [];
  let pending: CrashReport[] = [];
  let fatal: CrashReport | null = null;
  const when = new Map<CrashReport, number>();
  // The detector counts lines from when it was attached; reports should point
  // at console.log's own line numbers.
  const offset = lineBase ?? console.lines();
  const det = new ReportDetector({
    idleMs: 300,
    onReport: (r) => {
      r.startLine += offset;
      r.endLine += offset;
      all.push(r);
      pending.push(r);
      when.set(r, Date.now());
      if (isStall(r) && onStall) onStall(r);
      else if ((endsRun(r) || isStall(r)) && !fatal) {
        fatal = r;
        onFatal(`kernel report: ${r.title}`);
      }
    },
  });
  const off = console.subscribe((line) => det.push(line));
  // A guest that dies mid-report still gets its partial report recorded.
  void exited.then(() => det.flush());
  return {
    take() {
      det.flush();
      const t = pending;
      pending = [];
      return t;
    },
    all: () => [...all],
    fatal: () => fatal,
    markFatal: (r) => {
      fatal ??= r;
    },
    stop() {
      off();
      det.flush();
      det.close();
    },
    recordedAt: (r) => when.get(r),
  };
}
