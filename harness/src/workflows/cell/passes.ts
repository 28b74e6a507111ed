// The passes: the suite's tests (or the caller's pass hook) run repeatedly in
// one booted guest while it survives; a kernel report that ends the guest
// makes the next pass boot a fresh one.
import { GuestLostError } from '../../vm/guest.ts';
import type { CrashReport } from '../../results/records.ts';
import type { SuiteContext } from '../../suites/context.ts';
import { censusHook } from '../../suites/harness-modules.ts';
import type { Session } from '../session.ts';
import type { ConsoleWatch } from '../watch.ts';
import { closeWatch, type Sink } from './boot.ts';
import type { GuestSlot } from './keep.ts';
import type { CellEnv, PreparedCell } from './plan.ts';
import type { RunBook } from './record.ts';
import { StallGate, TestSignal } from './stall.ts';
import { judgeKnown, type Ending, type TestRecorder } from './verdict.ts';

/** Everything the passes of one run share. */
export interface RunScope {
  p: PreparedCell;
  env: CellEnv;
  book: RunBook;
  results: TestRecorder;
  slot: GuestSlot;
  sink: Sink;
  /** Every report the run's guests printed, gathered as their watches close. */
  crashes: CrashReport[];
  /** The reports that ended a guest, in order. */
  enders: CrashReport[];
}

/** Run the passes; returns how the run ended early, or null when it got through them. */
export async function runPasses(r: RunScope): Promise<Ending | null> {
  const { env, book, slot } = r;
  const stop = book.stop.signal;
  const repeat = Math.max(1, r.p.plan.repeat ?? 1);
  const started = Date.now();
  let ended: Ending | null = null;
  for (let pass = 1; pass <= repeat && !stop.aborted; pass++) {
    if (pass > 1 && env.budgetMs !== undefined && Date.now() - started > env.budgetMs) break;
    r.results.pass = repeat > 1 ? pass : 0;
    if (!slot.session) {
      const boot = await slot.obtain(r.crashes);
      await r.results.onResult(boot.result);
      if (!slot.session) {
        r.crashes.push(...closeWatch(boot.watch));
        slot.watch = null;
        ended = boot.ended;
        break;
      }
    }
    const next = await onePass(r, pass, repeat);
    if (next !== 'next') {
      ended = next === 'stop' ? null : next;
      break;
    }
    if (env.stopWhen?.({ ...book.record, crashes: [...r.crashes, ...(slot.watch ? slot.watch.all() : [])] })) break;
  }
  if (!ended && stop.aborted && book.record.status === 'running') ended = { status: 'infra-error', reason: String((stop.reason as Error)?.message ?? stop.reason) };
  return ended;
}

/** One pass in the slot's guest: 'next' to go on, 'stop' to end without a verdict of its own, or how the run ended. */
async function onePass(r: RunScope, pass: number, repeat: number): Promise<'next' | 'stop' | Ending> {
  const { p, env, book, slot, sink } = r;
  const { record } = book;
  const stop = book.stop.signal;
  const session = slot.session!;
  const watch = slot.watch!;
  const passStop = new AbortController();
  sink.fatal = (why) => passStop.abort(new Error(why));
  const onStop = () => passStop.abort(stop.reason);
  stop.addEventListener('abort', onStop, { once: true });
  const m = session.machine;
  let guestGone = false;
  void m.exited.then((x) => {
    guestGone = true;
    if (!x.requested) passStop.abort(new GuestLostError(`QEMU exited unexpectedly (${x.signal ?? `exit ${x.exitCode}`})`));
  });
  const tests = new TestSignal(passStop.signal);
  // A stall fails the test it lands in. If the guest still answers, that
  // test is cut short and the suite goes on; if it does not, the pass ends.
  const gate = new StallGate({
    session,
    accel: p.accel.used,
    watch,
    passStop,
    tests,
    record,
    rejudge: (t) => judgeKnown(p, t, p.suite.name),
    save: book.save,
  });
  sink.stall = gate.onStall;
  const ctx = suiteContext({ p, session, runDir: book.dir, tests, watch, pass, repeat, progress: env.progress, settling: gate.pending, writeError: sink.writeError });
  record.phase = 'test';
  await book.save();
  const before = record.tests.length;
  let ran: boolean | void = true;
  try {
    const runSuite = () => p.prepared.run(ctx, r.results.onResult);
    ran = env.pass ? await env.pass({ ctx, session, prepared: p, pass, onResult: r.results.onResult, runSuite }) : await runSuite();
  } finally {
    stop.removeEventListener('abort', onStop);
  }
  if (ran === false) return 'stop';
  // A lost ssh channel is usually the symptom; QEMU having died is the
  // cause worth reporting. Give its exit a moment to be noticed.
  if (record.tests.slice(before).some((x) => x.status === 'infra-error') && !passStop.signal.aborted)
    await Promise.race([m.exited, new Promise((res) => setTimeout(res, 1500))]);
  if (stop.aborted) return 'stop';
  const fatal = watch.fatal();
  if (fatal) r.enders.push(fatal);
  if (passStop.signal.aborted || guestGone) {
    if (!fatal) return { status: 'infra-error', reason: String((passStop.signal.reason as Error)?.message ?? 'the guest was lost') };
    // The kernel ended this guest: a next pass boots a fresh one.
    r.crashes.push(...closeWatch(watch));
    slot.watch = null;
    await slot.release(false);
  }
  return 'next';
}

interface PassView {
  p: PreparedCell;
  session: Session;
  runDir: string;
  tests: TestSignal;
  watch: ConsoleWatch;
  pass: number;
  repeat: number;
  progress: CellEnv['progress'];
  /** What a guest call waits for first: a cut test draining, or null. */
  settling: () => Promise<void> | null;
  writeError: Sink['writeError'];
}

/**
 * The suite's view of one pass. Its `signal` is the pass's, except that a
 * stall the guest survived cuts the command running now: that command's
 * signal fires, and later commands get a fresh one.
 */
function suiteContext(v: PassView): SuiteContext {
  const { p, session, pass, repeat, progress } = v;
  const m = session.machine;
  // Every call the suite makes into the guest waits while a cut test drains.
  const gated = new Set<PropertyKey>(['exec', 'check', 'putFile']);
  const guest = new Proxy(session.guest, {
    get(target, prop) {
      const f = Reflect.get(target, prop, target) as unknown;
      if (typeof f !== 'function') return f;
      if (!gated.has(prop)) return f.bind(target);
      return async (...args: unknown[]) => {
        await v.settling();
        return f.apply(target, args);
      };
    },
  });
  const ctx: SuiteContext = {
    guest,
    kernel: p.kernel,
    topology: p.topology,
    runDir: v.runDir,
    logPrefix: repeat > 1 ? `pass${pass}` : undefined,
    timeScale: p.accel.used === 'tcg' ? 3 : 1,
    get signal() {
      return v.tests.signal;
    },
    seed: p.plan.seed ?? 1,
    seconds: p.plan.seconds ?? 0,
    progress: (msg) => progress('test', repeat > 1 ? `[pass ${pass}/${repeat}] ${msg}` : msg),
    takeCrashes: () => v.watch.take(),
    onWriteError: v.writeError,
    settle: async () => {
      await Promise.race([m.exited, new Promise((r) => setTimeout(r, 1500))]);
    },
    afterUnmount: censusHook(p.plan.census !== false, () => ctx, (msg) => progress('prepare', msg)),
  };
  return ctx;
}
