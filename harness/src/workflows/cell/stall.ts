// The stall gate. A stall report (soft lockup, RCU stall, hung task) fails the
// test it lands in; what happens next depends on the guest: if it still
// answers, that test is cut short, the suite waits until the test's tasks
// have left the kernel, and goes on; if it does not answer, or its tasks stay
// stuck, the pass ends. Also here: the two questions asked of a guest to tell
// (whether it answers, whether anything is stuck in its kernel).
import type { Accel, CrashReport, RunRecord, TestResult } from '../../results/records.ts';
import { watchdogsFor } from '../../vm/qemu-args.ts';
import type { Session } from '../session.ts';
import type { ConsoleWatch } from '../watch.ts';

/**
 * Waits until no user task of the guest sits in uninterruptible sleep (what a
 * killed command stuck behind a stall looks like), for at most limitS
 * seconds. Returns null once drained, else the blocked tasks (pid:comm).
 */
export async function blockedTasks(s: Session, limitS: number, signal: AbortSignal): Promise<string | null> {
  // Kernel threads (children of kthreadd, pid 2) sleep in D as a matter of course.
  const script = [
    'n=0',
    'while :; do',
    '  busy=',
    '  for f in /proc/[0-9]*/stat; do',
    '    read -r l < "$f" 2>/dev/null || continue',
    '    c=${l#*(}; c=${c%)*}; r=${l##*) }; st=${r%% *}; r=${r#* }; pp=${r%% *}',
    '    [ "$st" = D ] && [ "$pp" != 2 ] && [ "$pp" != 0 ] && busy="$busy ${f#/proc/}:$c"',
    '  done',
    '  [ -z "$busy" ] && exit 0',
    '  n=$((n + 1)); [ "$n" -ge "$1" ] && { echo "$busy"; exit 1; }',
    '  sleep 1',
    'done',
  ].join('\n');
  try {
    const r = await s.guest.exec(['sh', '-c', script, 'settle', String(limitS)], { timeoutMs: (limitS + 60) * 1000, signal });
    return r.exitCode === 0 ? null : r.stdout.trim().replace(/\/stat/g, '') || `exit ${r.exitCode}`;
  } catch (e) {
    return signal.aborted ? null : `the guest did not say: ${(e as Error).message}`;
  }
}

/** Whether the guest runs a command within the grace period (a stall it survived, or a wedged guest). */
export async function guestAnswers(s: Session, graceMs: number): Promise<boolean> {
  try {
    const r = await s.guest.exec(['true'], { timeoutMs: graceMs });
    return r.exitCode === 0;
  } catch {
    return false;
  }
}

/** Whether a guest may serve another cell: it answers and nothing is stuck in its kernel. */
export async function guestIsClean(s: Session): Promise<boolean> {
  return (await guestAnswers(s, 15000)) && (await blockedTasks(s, 3, new AbortController().signal)) === null;
}

/**
 * The signal the suite's commands see. It follows the pass's, except that a
 * cut (a stall the guest survived) fires it for the command running now and
 * gives later commands a fresh one.
 */
export class TestSignal {
  private current = new AbortController();

  constructor(private readonly pass: AbortSignal) {
    pass.addEventListener('abort', () => this.current.abort(pass.reason), { once: true });
  }

  get signal(): AbortSignal {
    return this.current.signal;
  }

  cut(why: Error): void {
    const old = this.current;
    this.current = new AbortController();
    if (this.pass.aborted) this.current.abort(this.pass.reason);
    old.abort(why);
  }
}

/** What the gate reads and acts on during one pass. */
export interface StallScope {
  session: Session;
  accel: Accel;
  watch: ConsoleWatch;
  /** Ends the pass (the guest is wedged, or its tasks stay stuck). */
  passStop: AbortController;
  tests: TestSignal;
  /** The run's record: the cut test's result is the next one it gets. */
  record: Pick<RunRecord, 'tests'>;
  /** Judge a test again against the known outcomes, after it took late reports. */
  rejudge: (r: TestResult) => void;
  save: () => Promise<void>;
}

export class StallGate {
  private settling: Promise<void> | null = null;

  constructor(private readonly s: StallScope) {}

  /** While a cut test drains, what the suite's next guest call waits for; else null. */
  readonly pending = (): Promise<void> | null => this.settling;

  /** The console watch's stall end. */
  readonly onStall = (r: CrashReport): void => {
    // A second detector on the same stall (an expedited RCU stall, then
    // the soft lockup) belongs to the test already cut.
    if (this.settling) return;
    this.settling = this.handle(r).finally(() => {
      this.settling = null;
    });
  };

  private async handle(r: CrashReport): Promise<void> {
    const { session, accel, watch, passStop, record } = this.s;
    const alive = await guestAnswers(session, accel === 'tcg' ? 60000 : 30000);
    if (passStop.signal.aborted) return;
    if (!alive) {
      watch.markFatal(r);
      passStop.abort(new Error(`kernel report: ${r.title}; the guest no longer answers`));
      return;
    }
    // The cut test's result is the next one recorded.
    const cutAt = record.tests.length;
    this.s.tests.cut(new Error(`kernel report: ${r.title} (the guest still answers: this test ends, the suite goes on)`));
    const limitS = watchdogsFor(accel).hungTaskS;
    const blocked = await blockedTasks(session, limitS, passStop.signal);
    if (passStop.signal.aborted) return;
    // Reports that came while its tasks drained are that test's too; if
    // it has not ended yet, it takes them itself.
    const cut = record.tests[cutAt];
    const late = cut ? watch.take() : [];
    if (cut && late.length) {
      cut.crashes.push(...late);
      cut.status = 'crash';
      this.s.rejudge(cut);
      await this.s.save();
    }
    if (blocked) {
      watch.markFatal(r);
      passStop.abort(new Error(`kernel report: ${r.title}; tasks still blocked in the kernel ${limitS} s later (${blocked})`));
    }
  }
}
