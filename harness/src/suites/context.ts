// What a suite gets to run its tests: the guest command channel, a place for
// each test's output, and a signal that fires when the run must stop (a fatal
// kernel report, the guest dying, the user pressing ^C).
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { CappedFile, logCaps } from '../host/capped-file.ts';
import type { Guest, ExecOptions } from '../vm/guest.ts';
import { STALL_TYPES } from '../oracle/index.ts';
import type { CommandResult, CrashReport, KernelArtifact, TestResult, TestStatus, Topology } from '../results/records.ts';

export interface SuiteContext {
  guest: Guest;
  /** The kernel the guest runs (modules tree, vmlinux, release). */
  kernel: KernelArtifact;
  topology: Topology;
  runDir: string;
  /** Sub-directory of tests/ for this pass's logs when the tests run more than once in one run (e.g. "iter2"). */
  logPrefix?: string;
  /** Multiplier for guest-side timeouts (TCG is slower than KVM). */
  timeScale: number;
  signal: AbortSignal;
  seed: number;
  /** Seconds each stressor runs (0 = one pass). */
  seconds: number;
  progress: (msg: string) => void;
  /** Reports the crash oracle attributes to the test running now. */
  takeCrashes: () => CrashReport[];
  /** A test's log could not be written (a full disk): the run ends as an infrastructure error. */
  onWriteError?: (e: NodeJS.ErrnoException, path: string) => void;
  /**
   * After the guest channel broke: wait (briefly) for QEMU to finish, so a
   * panic that rebooted the guest before its report looked complete is in.
   */
  settle: () => Promise<void>;
  /**
   * Run after every test's unmount (and device-dax teardown): the refcount
   * census plugs in here. A failed check fails the test with its reason.
   */
  afterUnmount?: (log: TestLog, target: { dev: string; mode: 'fsdax' | 'devdax' }) => Promise<{ ok: boolean; reason: string; detail?: unknown }>;
}

/** Final status of a test from how it ended and what the oracle saw meanwhile. */
export function judge(res: TestResult, crashes: CrashReport[]): void {
  res.crashes = crashes;
  if (!crashes.length) return;
  // A fatal report or a stall explains a lost guest or channel; any other
  // report fails a test that otherwise passed, but never hides an
  // infrastructure problem.
  if (crashes.some((c) => c.fatal || STALL_TYPES.has(c.type)) || res.status !== 'infra-error') {
    res.status = 'crash';
    res.reason = crashes.map((c) => c.title).join('; ');
  }
}

/**
 * A test's output file plus helpers that run guest commands into it. What the
 * guest prints is capped per log ($DAX_HARNESS_TEST_LOG_MIB, 64 MiB) with a
 * marker line, and a write error goes to the context's onWriteError.
 */
export class TestLog {
  private out: CappedFile;
  readonly rel: string;

  constructor(where: string | Pick<SuiteContext, 'runDir' | 'logPrefix' | 'onWriteError'>, name: string) {
    const runDir = typeof where === 'string' ? where : where.runDir;
    const prefix = typeof where === 'string' ? '' : (where.logPrefix ?? '');
    const onWriteError = typeof where === 'string' ? undefined : where.onWriteError;
    this.rel = join('tests', prefix, `${name}.log`);
    const path = join(runDir, this.rel);
    mkdirSync(dirname(path), { recursive: true });
    this.out = new CappedFile(path, { capBytes: logCaps().testLogBytes, what: this.rel, onError: (e) => onWriteError?.(e, path) });
    this.ready = Promise.resolve();
  }

  readonly ready: Promise<void>;

  line(text: string): void {
    this.out.write(text.endsWith('\n') ? text : text + '\n');
  }

  async exec(ctx: SuiteContext, argv: string[], timeoutMs: number, extra?: Partial<ExecOptions>): Promise<CommandResult> {
    this.line(`$ ${argv.join(' ')}`);
    const r = await ctx.guest.exec(argv, {
      timeoutMs: Math.round(timeoutMs * ctx.timeScale),
      signal: ctx.signal,
      onOutput: (chunk) => this.out.write(chunk),
      ...extra,
    });
    const how = r.timedOut ? `timed out after ${r.durationMs} ms` : r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`;
    this.line(`# ${how} (${r.durationMs} ms)`);
    return r;
  }

  close(): Promise<void> {
    this.out.close();
    return Promise.resolve();
  }
}

export class StepFailed extends Error {
  constructor(
    readonly status: TestStatus,
    message: string,
  ) {
    super(message);
  }
}

/** Run a command whose failure fails the test with a reason naming the step. */
export async function step(ctx: SuiteContext, log: TestLog, what: string, argv: string[], timeoutMs: number): Promise<string> {
  const r = await log.exec(ctx, argv, timeoutMs);
  if (ctx.signal.aborted) {
    // Stopped by a kernel report (the test crashed) or from outside (^C, a lost guest: not the kernel's doing).
    const why = String((ctx.signal.reason as Error)?.message ?? ctx.signal.reason ?? 'aborted');
    throw new StepFailed(/^kernel report/.test(why) ? 'crash' : 'infra-error', `${what}: stopped (${why})`);
  }
  if (r.timedOut) throw new StepFailed('timeout', `${what}: timed out after ${r.durationMs} ms`);
  if (r.exitCode !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ');
    throw new StepFailed('fail', `${what} failed (${r.signal ?? `exit ${r.exitCode}`})${tail ? `: ${tail}` : ''}`);
  }
  return r.stdout;
}

export function blankResult(name: string, params: Record<string, string>, log: string): TestResult {
  return {
    name,
    params,
    status: 'pass',
    reason: '',
    startedAt: new Date().toISOString(),
    durationMs: 0,
    log,
    crashes: [],
    metrics: {},
  };
}

/** Parse `key=value key2=value2` lines a stressor prints. */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const reason = /\breason=(.*)$/.exec(line);
    const head = reason ? line.slice(0, reason.index) : line;
    for (const m of head.matchAll(/([A-Za-z_][\w.]*)=(\S+)/g)) out[m[1]] = m[2];
    if (reason) out.reason = reason[1].trim();
  }
  return out;
}
