// The live hook between a guest's console and the crash oracle: every line
// goes through the oracle's detector as it arrives; a fatal report stops the
// run at once instead of waiting for a test timeout.
import { ReportDetector } from '../oracle/index.ts';
import type { ConsoleStream } from '../vm/console.ts';
import type { CrashReport } from '../results/records.ts';

// A guest that reports itself stuck (lockups, stalls, a hung task) is as good
// as dead for the test running in it: waiting out that test's timeout only
// delays the verdict, so these end the run like a panic does.
const HANG_TYPES = new Set(['soft lockup', 'hard lockup', 'RCU stall', 'hung task', 'workqueue lockup']);

/** Whether a report stops the run (not only fails the test it lands in). */
export function endsRun(r: CrashReport): boolean {
  return r.fatal || HANG_TYPES.has(r.type);
}

export interface ConsoleWatch {
  /** Reports since the last take(): attributed to the test that just ran. */
  take(): CrashReport[];
  all(): CrashReport[];
  /** The first report that ended the run (fatal, or the guest reporting itself hung). */
  fatal(): CrashReport | null;
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
export function watchConsole(console: ConsoleStream, exited: Promise<unknown>, onFatal: (why: string) => void): ConsoleWatch {
  const all: CrashReport[] = [];
  let pending: CrashReport[] = [];
  let fatal: CrashReport | null = null;
  const when = new Map<CrashReport, number>();
  // The detector counts lines from when it was attached; reports should point
  // at console.log's own line numbers.
  const offset = console.lines();
  const det = new ReportDetector({
    idleMs: 300,
    onReport: (r) => {
      r.startLine += offset;
      r.endLine += offset;
      all.push(r);
      pending.push(r);
      when.set(r, Date.now());
      if (endsRun(r) && !fatal) {
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
    stop() {
      off();
      det.flush();
      det.close();
    },
    recordedAt: (r) => when.get(r),
  };
}
