// One boot of a prepared cell's guest, judged as a test step of its own
// ('boot'): the console watch is attached before QEMU starts, so a report
// printed while the kernel probes nd_pmem or mounts at boot is a titled crash
// on that step; a guest that never comes up without one is an infrastructure
// error naming the phase it stopped after.
import { cacheDir } from '../../host/paths.ts';
import { InputError } from '../../host/errors.ts';
import { saveRun } from '../../results/store.ts';
import { ConsoleStream } from '../../vm/console.ts';
import type { CrashReport, RunRecord, TestResult } from '../../results/records.ts';
import { blankResult } from '../../suites/context.ts';
import { startSession, SessionError, type Session } from '../session.ts';
import { watchConsole, endsRun, type ConsoleWatch } from '../watch.ts';
import type { CellEnv, PreparedCell } from './plan.ts';

/**
 * Where the console watch sends what it finds. Its fatal and stall ends are
 * rewired as the run goes: to the boot's stop while booting, then to each
 * pass's.
 */
export interface Sink {
  fatal: (why: string) => void;
  stall: (r: CrashReport) => void;
  /** A file of the run could not be written: the run ends as an infrastructure error. */
  writeError: (e: NodeJS.ErrnoException, path: string) => void;
}

export interface BootOutcome {
  session: Session | null;
  watch: ConsoleWatch;
  /** The boot as a test of its own: its crashes (a WARNING at boot) or why it never came up. */
  result: TestResult;
  ended: { status: RunRecord['status']; reason: string } | null;
}

/** What one boot reads and writes of its run. */
export interface BootRun {
  p: PreparedCell;
  env: Pick<CellEnv, 'progress' | 'onReady'>;
  runDir: string;
  record: RunRecord;
  /** The run's stop: aborting it ends the boot. */
  signal: AbortSignal;
  sink: Sink;
}

/** Boot number n (0 first) of the run: console.log, then console.N.log after a reboot. */
export async function bootOnce(b: BootRun, n: number): Promise<BootOutcome> {
  const { p, env, runDir, record, signal, sink } = b;
  const consoleFile = n === 0 ? 'console.log' : `console.${n}.log`;
  const result = blankResult('boot', n ? { boot: String(n + 1) } : {}, consoleFile);
  const stream = new ConsoleStream();
  let exitedResolve: () => void = () => {};
  const exited = new Promise<void>((r) => (exitedResolve = r));
  const bootStop = new AbortController();
  const onOuter = () => bootStop.abort(signal.reason);
  signal.addEventListener('abort', onOuter, { once: true });
  sink.fatal = (why) => bootStop.abort(new Error(why));
  // A stall while booting is recorded on the boot step; the boot timeout decides whether it came up.
  sink.stall = () => {};
  const watch = watchConsole(
    stream,
    exited,
    (why) => sink.fatal(why),
    (r) => sink.stall(r),
  );
  record.phase = 'boot';
  await saveRun(runDir, record);
  env.progress('boot', `starting QEMU (${p.accel.used}, ${p.topology.nvdimms.length} NVDIMM, ${p.topology.memmap.length} memmap)${n ? `, boot ${n + 1}` : ''}`);
  const t0 = Date.now();
  try {
    const session = await startSession({
      kernel: p.kernel,
      image: p.image,
      modules: p.modules,
      extraInitrd: p.extras,
      topology: p.topology,
      accel: p.accel.used,
      cpu: p.accel.cpu,
      sshPort: p.plan.sshPort,
      runDir,
      consoleFile,
      console: stream,
      workDir: cacheDir('work', record.id, String(n)),
      cmdlineExtra: p.cmdlineExtra,
      bootTimeoutMs: p.plan.bootTimeoutMs ?? 180000,
      lifetimeMs: 6 * 3600 * 1000,
      progress: (m) => env.progress('boot', m),
      signal: bootStop.signal,
      shares: p.prepared.shares,
      onWriteError: sink.writeError,
    });
    void session.machine.exited.then(() => exitedResolve());
    if (!record.qemuArgv.length) record.qemuArgv = session.machine.argv;
    record.bootMs ??= session.bootMs;
    record.kernelInitMs ??= session.kernelInitMs;
    result.durationMs = session.bootMs;
    env.progress('boot', `guest ready over ssh in ${(session.bootMs / 1000).toFixed(1)} s`);
    const crashes = watch.take();
    judgeBoot(result, crashes);
    if (env.onReady) await env.onReady(session, runDir);
    return { session, watch, result, ended: null };
  } catch (e) {
    exitedResolve();
    result.durationMs = Date.now() - t0;
    watch.stop();
    // The user's input (a port they chose, taken since it was checked): exit 2, not an infrastructure error.
    if (e instanceof InputError) throw e;
    return failedBoot(e, result, watch, signal);
  } finally {
    signal.removeEventListener('abort', onOuter);
  }
}

/** A guest that did not come up: killed by a kernel report, stopped from outside, or the machine's failure. */
function failedBoot(e: unknown, result: TestResult, watch: ConsoleWatch, signal: AbortSignal): BootOutcome {
  const crashes = watch.take();
  if (crashes.length) {
    judgeBoot(result, crashes);
    const fatal = crashes.find(endsRun) ?? crashes[0];
    return { session: null, watch, result, ended: { status: 'fail', reason: `kernel report during boot: ${fatal.title}` } };
  }
  if (signal.aborted) {
    result.status = 'infra-error';
    result.reason = String((signal.reason as Error)?.message ?? signal.reason);
    return { session: null, watch, result, ended: { status: 'infra-error', reason: result.reason } };
  }
  result.status = 'infra-error';
  const tail = e instanceof SessionError ? e.tail : [];
  result.reason = e instanceof Error ? e.message.split('; console ends')[0] : String(e);
  if (tail.length) result.metrics.console_tail = tail.join('\n');
  if (e instanceof SessionError) result.metrics.boot_phase = e.phase;
  const shown = tail.slice(-5).join(' | ');
  return { session: null, watch, result, ended: { status: 'infra-error', reason: `${result.reason}${shown ? `; console ends: ${shown.slice(-400)}` : ''}` } };
}

export function judgeBoot(result: TestResult, crashes: CrashReport[]): void {
  result.crashes = crashes;
  if (!crashes.length) return;
  result.status = 'crash';
  result.reason = `kernel report during boot: ${crashes.map((c) => c.title).join('; ')}`;
}

/** Detach a console watch and return every report it saw. */
export function closeWatch(w: ConsoleWatch): CrashReport[] {
  w.stop();
  return w.all();
}
