// Every external process the harness starts goes through here, so that "no
// orphan process survives the harness" is enforced in one place: each child
// leads its own process group, registered until it exits, and the groups are
// ended on exit, error, timeout and signals.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError } from './errors.ts';
import { execa, type Options, type ResultPromise } from 'execa';
import { SETPRIV, giveToSandboxUser, sandboxCommand, sandboxEnabled, sandboxUser, type SandboxSpec } from './sandbox.ts';
import { timerDelay } from './limits.ts';
import { installLine } from './distro.ts';
import { envValue } from './env.ts';

type Child = ResultPromise<Options>;

// An ordinary user's PATH on Debian has no sbin directories, where depmod,
// mkfs.ext4 and mkfs.xfs live (kbuild's modules_install calls depmod by
// name too): they are tools anyone may run, so they are looked for there.
for (const d of ['/usr/local/sbin', '/usr/sbin', '/sbin']) {
  const path = envValue('PATH') ?? '';
  if (!path.split(':').includes(d)) process.env.PATH = path ? `${path}:${d}` : d;
}
/** Each live child and the process group it leads. */
const live = new Map<Child, number>();
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
  /** Run it in the sandbox: for anything that reads untrusted input (see sandbox.ts). */
  sandbox?: SandboxSpec;
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

// Every child leads a process group of its own (a session, in fact), so make
// and its compilers, mmdebstrap and its dpkg, meson and ninja all end
// together: the harness kills the group, never just the pid it started.
// The group is out of reach of the terminal's Ctrl-C on purpose: the harness
// handles the signal and ends its groups itself (make gets SIGTERM first so it
// deletes half-written targets, then SIGKILL).
//
// A JS handler cannot run when the harness is SIGKILLed, so each group's
// leader is a small sh that the kernel signals when the harness dies
// (PR_SET_PDEATHSIG via setpriv); it then ends its own group. Traps with a
// handler are reset in children, so the command never sees them; TERM/INT/HUP
// are ignored by the guard only after the command has started, and env undoes
// the INT/QUIT ignoring sh gives a background job, so the command keeps every
// default action. A command killed by a signal is re-raised on
// the guard, so callers still see the signal.
const GUARD = [
  "trap 'kill -TERM 0; sleep 1; kill -KILL 0' USR1",
  'exec 3<&0',
  'env --default-signal=INT,QUIT -- "$@" <&3 3<&- &',
  'child=$!',
  "trap '' TERM INT HUP",
  'wait "$child"',
  's=$?',
  'if [ "$s" -gt 128 ] && [ "$s" -lt 160 ]; then trap - TERM INT HUP; kill -s "$(kill -l "$s")" $$; fi',
  'exit "$s"',
].join('\n');

let setprivPresent: boolean | undefined;

function hasSetpriv(): boolean {
  setprivPresent ??= existsSync(SETPRIV);
  return setprivPresent;
}

/** The absolute path of an executable as execvp would find it, or null. */
export function whichSync(file: string, path = envValue('PATH') ?? '', cwd = process.cwd()): string | null {
  if (file.includes('/')) return isExecutable(resolve(cwd, file)) ? file : null;
  for (const dir of path.split(':')) {
    const p = join(dir || '.', file);
    if (isExecutable(p)) return p;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Start a process; the returned promise settles when it exits. */
export function spawn(file: string, args: readonly string[], opts: RunOptions): { child: Child; done: Promise<ProcResult> } {
  installHooks();
  const shown = [file, ...args].join(' ');
  let cmd = file;
  let argv = [...args];
  let env = opts.env;
  let exe = whichSync(file, opts.env?.PATH ?? envValue('PATH'), opts.cwd);
  // A host tool that is not there is the host's setup, said in one line before anything starts.
  if (!exe) throw new MissingToolError(file);
  if (opts.sandbox && sandboxEnabled()) {
    const bwrap = whichSync('bwrap', opts.env?.PATH ?? envValue('PATH'));
    if (!bwrap) throw new MissingToolError('bwrap', 'bubblewrap');
    const who = opts.sandbox.keepUid ? null : sandboxUser();
    giveToSandboxUser(opts.sandbox.writable ?? [], who);
    // The caller's PATH directories, read-only: the program and the tools it
    // calls (make's gcc) are found inside as outside, even in a directory the
    // sandbox would otherwise hide (a temp dir, a home the sandbox user cannot enter).
    const pathDirs = (opts.env?.PATH ?? envValue('PATH') ?? '').split(':').filter((d) => d.startsWith('/'));
    const spec = { cwd: opts.cwd, ...opts.sandbox, readable: [...(opts.sandbox.readable ?? []), ...pathDirs] };
    const w = sandboxCommand(exe.includes('/') ? exe : file, args, spec, who);
    file = bwrap;
    args = w.args;
    cmd = file;
    argv = [...args];
    exe = bwrap;
    env = { ...opts.env, ...w.env };
  }
  if (opts.dieWithParent) {
    // PR_SET_PDEATHSIG covers the one case no JS handler can: the harness
    // being SIGKILLed. setpriv execs the real program, so the pid stays the
    // same (QEMU is one process, and callers signal it by pid).
    argv = ['--pdeathsig', 'SIGKILL', '--', file, ...args];
    cmd = 'setpriv';
  } else if (exe && hasSetpriv()) {
    // A missing program is left to fail in execa (ENOENT), not in the guard.
    argv = ['--pdeathsig', 'SIGUSR1', '--', '/bin/sh', '-c', GUARD, 'daxh-guard', file, ...args];
    cmd = SETPRIV;
  }
  const child = execa(cmd, argv, {
    detached: true,
    cleanup: false,
    cwd: opts.cwd,
    env,
    extendEnv: true,
    input: opts.input,
    stdin: opts.input !== undefined ? undefined : (opts.stdin ?? 'ignore'),
    reject: false,
    stripFinalNewline: false,
    buffer: !opts.discardOutput && !opts.stdoutFile,
    encoding: 'utf8',
    ...(opts.stdoutFile ? { stdout: { file: opts.stdoutFile } } : {}),
  }) as Child;
  const pgid = child.pid;
  if (pgid !== undefined) live.set(child, pgid);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (pgid !== undefined) void terminateGroups([pgid], TERM_GRACE_MS);
  }, timerDelay(opts.timeoutMs));
  // The leader gone, whatever it left in its group goes too (a background
  // child would otherwise hold our pipes open and outlive the run).
  child.once('exit', () => {
    clearTimeout(timer);
    if (pgid !== undefined) signalGroup(pgid, 'SIGKILL');
  });
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
        command: shown,
        exitCode: r.exitCode,
        signal: r.signal,
        timedOut,
        stdout: typeof r.stdout === 'string' ? r.stdout : '',
        stderr: typeof r.stderr === 'string' ? r.stderr : '',
        failed: Boolean(r.failed) || timedOut,
      };
    } finally {
      clearTimeout(timer);
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

export class MissingToolError extends InputError {
  constructor(readonly tool: string, pkg?: string) {
    super(`host tool "${tool}" is not installed or not on PATH (${envValue('PATH') ?? 'no PATH'}): install it${pkg ? ` (${installLine([pkg])})` : ''} (as root, dax-harness installs what it needs) or fix PATH`);
  }
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

/** Grace between SIGTERM and SIGKILL: enough for make to delete its half-written targets. */
const TERM_GRACE_MS = 1500;

function signalGroup(pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pgid: number): boolean {
  return signalGroup(pgid, 0);
}

/** SIGTERM to each group, SIGKILL to what is left after graceMs. */
export async function terminateGroups(pgids: number[], graceMs: number): Promise<void> {
  const left = pgids.filter((g) => signalGroup(g, 'SIGTERM'));
  const deadline = Date.now() + graceMs;
  while (left.some(groupAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  for (const g of left) signalGroup(g, 'SIGKILL');
}

/** Kill every process group the harness started, at once (also usable from an 'exit' handler). */
export function killAll(): void {
  for (const pgid of live.values()) signalGroup(pgid, 'SIGKILL');
}

/** End every process group the harness started: SIGTERM, then SIGKILL after a grace period. */
export async function terminateAll(graceMs = TERM_GRACE_MS): Promise<void> {
  await terminateGroups([...live.values()], graceMs);
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
  await terminateAll();
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
      }, 5000);
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
