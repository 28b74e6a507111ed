// Every external process the harness starts goes through here, so that "no
// orphan process survives the harness" is enforced in one place: each child is
// registered until it exits, and killAll() runs on exit, error and signals.
import { execa, type Options, type ResultPromise } from 'execa';

type Child = ResultPromise<Options>;
const live = new Set<Child>();
let hooked = false;

export interface RunOptions {
  /** Kill the process after this many milliseconds (required: nothing runs unbounded). */
  timeoutMs: number;
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  /** Stream stdout/stderr chunks as they arrive. */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Do not throw on a non-zero exit; the caller inspects the result. */
  reject?: boolean;
  /** Ask the kernel to SIGKILL the child if the harness itself dies (even by SIGKILL). */
  dieWithParent?: boolean;
  stdin?: 'ignore' | 'pipe';
  /** Keep stdout/stderr out of memory (the caller only streams them). */
  discardOutput?: boolean;
  /** Send stdout to this file (binary-safe) instead of memory. */
  stdoutFile?: string;
}

export interface ProcResult {
  command: string;
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  failed: boolean;
}

/** Start a process; the returned promise settles when it exits. */
export function spawn(file: string, args: readonly string[], opts: RunOptions): { child: Child; done: Promise<ProcResult> } {
  installHooks();
  let cmd = file;
  let argv = [...args];
  if (opts.dieWithParent) {
    // PR_SET_PDEATHSIG covers the one case no JS handler can: the harness
    // being SIGKILLed. setpriv execs the real program, so the pid stays the same.
    argv = ['--pdeathsig', 'SIGKILL', '--', file, ...args];
    cmd = 'setpriv';
  }
  const child = execa(cmd, argv, {
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: true,
    input: opts.input,
    stdin: opts.input !== undefined ? undefined : (opts.stdin ?? 'ignore'),
    reject: false,
    stripFinalNewline: false,
    buffer: !opts.discardOutput && !opts.stdoutFile,
    encoding: 'utf8',
    ...(opts.stdoutFile ? { stdout: { file: opts.stdoutFile } } : {}),
  }) as Child;
  live.add(child);
  if (opts.onOutput) {
    const cb = opts.onOutput;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => cb(d, 'stdout'));
    child.stderr?.on('data', (d: string) => cb(d, 'stderr'));
  }
  const done = (async (): Promise<ProcResult> => {
    try {
      const r = await child;
      return {
        command: [file, ...args].join(' '),
        exitCode: r.exitCode,
        signal: r.signal,
        timedOut: Boolean(r.timedOut),
        stdout: typeof r.stdout === 'string' ? r.stdout : '',
        stderr: typeof r.stderr === 'string' ? r.stderr : '',
        failed: Boolean(r.failed),
      };
    } finally {
      live.delete(child);
    }
  })();
  return { child, done };
}

/** Run a process to completion. Throws ProcError on failure unless reject:false. */
export async function run(file: string, args: readonly string[], opts: RunOptions): Promise<ProcResult> {
  const r = await spawn(file, args, opts).done;
  if (r.failed && opts.reject !== false) throw new ProcError(r);
  return r;
}

export class ProcError extends Error {
  constructor(readonly result: ProcResult) {
    const why = result.timedOut
      ? 'timed out'
      : result.signal
        ? `killed by ${result.signal}`
        : `exit code ${result.exitCode}`;
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ');
    super(`${result.command.slice(0, 200)}: ${why}${tail ? `: ${tail}` : ''}`);
  }
}

/** Kill every process the harness started that is still running. */
export function killAll(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export function liveCount(): number {
  return live.size;
}

const cleanups = new Set<() => Promise<void> | void>();

/** Register async cleanup (e.g. QMP quit) to run before processes are killed on a signal. */
export function onCleanup(fn: () => Promise<void> | void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export async function runCleanups(): Promise<void> {
  const fns = [...cleanups];
  cleanups.clear();
  await Promise.allSettled(fns.map(async (f) => f()));
  killAll();
}

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      // Cleanups get a bounded grace period; then everything is killed regardless.
      const hard = setTimeout(() => {
        killAll();
        process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
      }, 3000);
      hard.unref();
      void interruptHandler(sig).finally(() => {
        killAll();
        process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
      });
    });
  }
}

let interruptHandler: (sig: string) => Promise<void> = async () => {
  await runCleanups();
};

/** Workflows replace this to record an interrupted run before cleanup. */
export function setInterruptHandler(fn: (sig: string) => Promise<void>): void {
  installHooks();
  interruptHandler = async (sig) => {
    try {
      await fn(sig);
    } finally {
      await runCleanups();
    }
  };
}
