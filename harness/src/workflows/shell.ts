// A person in the guest: `dax-harness shell` is one plan whose test is a
// person at a pty (or one command), and `run --keep` is the suite followed by
// the guest kept up for whoever attaches. Both go through the run primitive's
// pass hook, so the boot, the console log, the live oracle and run.json are
// those of any run; kernel reports met meanwhile are printed as they happen
// and recorded as steps of their own.
import { basename } from 'node:path';
import { prepareCell, executeCell, type CellPlan, type CellEnv, type PassHook, type PreparedCell } from './cell/index.ts';
import { GuestHost, crashNote, crashNotice, type GuestInfo } from './kept.ts';
import { interactiveShell, type PtyTerminal } from '../vm/pty.ts';
import { setupFsdax, mkfsArgv, daxMountState, type DaxFs } from '../suites/fsdax.ts';
import { TestLog, StepFailed, step, blankResult, judge, type SuiteContext } from '../suites/context.ts';
import type { RunRecord, TestResult } from '../results/records.ts';

export type ShellSetup = 'fsdax' | 'devdax' | 'none';
export const SHELL_SETUPS: ShellSetup[] = ['fsdax', 'devdax', 'none'];
export const MNT = '/mnt/dax';

/** How long one guest command may run (the guest's own lifetime cap is 6 h). */
const COMMAND_LIMIT_MS = 6 * 3600 * 1000;

/**
 * The namespace (and filesystem) a suite would make: fsdax with FS mounted
 * -o dax on /mnt/dax (DAX checked on), devdax with its character device, or
 * nothing. Returns one line saying where things are.
 */
export async function setupGuest(ctx: SuiteContext, setup: ShellSetup, fs: DaxFs, onResult: (r: TestResult) => Promise<void>): Promise<{ ok: boolean; where: string }> {
  if (setup === 'none') return { ok: true, where: 'nothing set up (--setup none)' };
  const log = new TestLog(ctx, `setup.${setup}`);
  const res = blankResult(`setup.${setup}`, { mode: setup, ...(setup === 'fsdax' ? { fs } : {}) }, log.rel);
  const t0 = Date.now();
  let where = '';
  try {
    const dev = await setupFsdax(ctx, log);
    if (setup === 'fsdax') {
      await step(ctx, log, `mkfs.${fs}`, mkfsArgv(fs, dev), 120000);
      await step(ctx, log, 'mkdir', ['mkdir', '-p', MNT], 10000);
      await step(ctx, log, `mount ${fs} -o dax`, ['mount', '-t', fs, '-o', 'dax', dev, MNT], 60000);
      const state = daxMountState(await step(ctx, log, 'read /proc/mounts', ['cat', '/proc/mounts'], 10000), MNT);
      if (state !== 'on') throw new StepFailed('fail', `${fs} mounted without DAX (/proc/mounts shows dax ${state})`);
      // PMD faults need 2 MiB extents (as the smoke and the stressors make them).
      if (fs === 'xfs') await step(ctx, log, 'xfs extsize 2m', ['xfs_io', '-c', 'extsize 2m', MNT], 10000);
      where = `${dev} (fsdax) with ${fs} mounted -o dax on ${MNT}`;
    } else {
      const list = await step(ctx, log, 'list namespaces', ['ndctl', 'list', '-N'], 30000);
      const ns = namespaceOf(list, dev);
      if (!ns) throw new StepFailed('fail', `no namespace lists ${dev}: ${list.slice(0, 200)}`);
      const out = await step(ctx, log, `reconfigure ${ns} to devdax`, ['ndctl', 'create-namespace', '-f', '-e', ns, '-m', 'devdax'], 120000);
      const chardev = /"chardev"\s*:\s*"([^"]+)"/.exec(out)?.[1];
      if (!chardev) throw new StepFailed('fail', `ndctl printed no chardev: ${out.slice(0, 200)}`);
      where = `/dev/${chardev} (devdax, ${ns})`;
    }
  } catch (e) {
    res.status = e instanceof StepFailed ? e.status : 'infra-error';
    res.reason = e instanceof Error ? e.message : String(e);
  }
  judge(res, ctx.takeCrashes());
  res.durationMs = Date.now() - t0;
  await log.close();
  await onResult(res);
  return res.status === 'pass' ? { ok: true, where } : { ok: false, where: `setup failed: ${res.reason}` };
}

/** The namespace whose block device is dev, from `ndctl list -N`. */
export function namespaceOf(ndctlJson: string, dev: string): string | null {
  const want = dev.replace('/dev/', '');
  for (const part of ndctlJson.split('}')) {
    if (/"blockdev"\s*:\s*"([^"]+)"/.exec(part)?.[1] === want) return /"dev"\s*:\s*"([^"]+)"/.exec(part)?.[1] ?? null;
  }
  return null;
}

/** Reports the live watch met while a person worked: a step of their own, recorded at once. */
function crashRecorder(ctx: SuiteContext, name: string, onResult: (r: TestResult) => Promise<void>): () => Promise<void> {
  let chain = Promise.resolve();
  return () => {
    chain = chain.then(async () => {
      const got = ctx.takeCrashes();
      if (!got.length) return;
      const r = blankResult(name, {}, 'console.log');
      judge(r, got);
      await onResult(r);
    });
    return chain;
  };
}

export interface ShellOptions {
  plan: CellPlan;
  setup: ShellSetup;
  fs: DaxFs;
  /** Run this in the guest and end; null: an interactive shell. */
  command: string[] | null;
  /** Host files copied to /tmp/ in the guest (executable) before the shell or the command. */
  put?: string[];
  resultsRoot: string;
  terminal: PtyTerminal;
  /** Where the harness says things (stderr); with a pty in raw mode, lines end in \r\n. */
  say: (line: string) => void;
  progress: CellEnv['progress'];
  signal?: AbortSignal;
  /** Called once attach can reach the guest. */
  onHost?: (info: GuestInfo) => void;
}

export interface ShellOutcome {
  record: RunRecord;
  runDir: string;
  /** The command's (or the login shell's) exit status; null when it did not finish. */
  status: number | null;
  setupOk: boolean;
  /** Why the session was cut short from outside (dax-harness stop, the guest going down), or null. */
  ended: string | null;
}

/** Boot run's guest, set it up, hand it to a person (or one command), record what the kernel said. */
export async function runShell(o: ShellOptions): Promise<ShellOutcome> {
  const prepared: PreparedCell = await prepareCell(o.plan, { progress: o.progress });
  let status: number | null = null;
  let setupOk = false;
  let ended: string | null = null;
  const pass = async ({ ctx, session, onResult }: PassHook): Promise<void> => {
    const s = await setupGuest(ctx, o.setup, o.fs, onResult);
    setupOk = s.ok;
    for (const f of o.put ?? []) {
      await session.guest.putFile(f, `/tmp/${basename(f)}`, '0755');
      o.say(`copied ${f} to /tmp/${basename(f)}`);
    }
    o.say(`guest ready: ${s.where}`);
    const runDir = ctx.runDir;
    const record = crashRecorder(ctx, 'shell', onResult);
    const host = await GuestHost.start({
      session,
      image: prepared.image,
      runDir,
      run: basename(runDir),
      mode: 'shell',
      idleLimitMs: null,
      onCrash: (r) => {
        for (const l of crashNotice(crashNote(r), runDir)) o.say(l);
        void record();
      },
    });
    o.onHost?.(host.info);
    const end = new AbortController();
    const onStop = () => end.abort();
    ctx.signal.addEventListener('abort', onStop, { once: true });
    void host.stopped().then((why) => {
      if (end.signal.aborted) return;
      ended = why;
      o.say(`[dax-harness] the session ends: ${why}`);
      onStop();
    });
    const res = blankResult('shell', o.command ? { command: o.command.join(' ') } : {}, 'console.log');
    const t0 = Date.now();
    try {
      if (!s.ok && o.command) {
        res.status = 'skip';
        res.reason = 'not run: the setup failed';
        return;
      }
      if (o.command) {
        const r = await session.guest.exec(o.command, {
          timeoutMs: COMMAND_LIMIT_MS,
          signal: end.signal,
          onOutput: (chunk, stream) => (stream === 'stdout' ? o.terminal.stdout : process.stderr).write(chunk),
        });
        if (!end.signal.aborted && !r.timedOut && r.signal === null) status = r.exitCode;
        if (status !== 0) {
          res.status = 'fail';
          res.reason = status === null ? `the command did not finish${r.timedOut ? ' (timed out)' : ''}` : `exit ${status}`;
        }
      } else {
        o.say(`shell in the guest (exit or Ctrl-D to end; others attach with: dax-harness attach ${host.info.run})`);
        status = await interactiveShell({ port: session.spec.sshPort, privateKey: prepared.image.sshPrivateKey, hostKeyBlob: prepared.image.hostKeyBlob }, o.terminal, end.signal);
      }
    } catch (e) {
      res.status = 'infra-error';
      res.reason = e instanceof Error ? e.message : String(e);
    } finally {
      ctx.signal.removeEventListener('abort', onStop);
      await record();
      await ctx.settle();
      judge(res, ctx.takeCrashes());
      res.durationMs = Date.now() - t0;
      await onResult(res);
      // The session is over: the host's own shutdown is no news to the person.
      end.abort();
      await host.close();
    }
  };
  const { record, runDir } = await executeCell(prepared, { resultsRoot: o.resultsRoot, progress: o.progress, pass, signal: o.signal });
  return { record, runDir, status, setupOk, ended };
}

/** The exit code of `shell -- CMD` (git bisect run reads it): see SHELL_HELP. */
export function shellExitCode(o: Pick<ShellOutcome, 'record' | 'status' | 'setupOk'>): number {
  if (o.record.status === 'interrupted') return /SIGTERM/.test(o.record.reason) ? 143 : 130;
  const crashed = o.record.crashes.length > 0;
  if (o.status !== null && o.setupOk) return o.status;
  // The command could not run or finish: the kernel's fault when it reported, else nothing is known.
  return crashed ? 1 : 125;
}

export interface KeepOptions {
  idleLimitMs: number;
  onKept: (info: GuestInfo) => void;
  say: (line: string) => void;
}

/**
 * run --keep's pass: the suite's tests, then the guest kept up until stop,
 * the idle limit, or the guest going down. A guest the tests took down is
 * not kept.
 */
export function keepAfterSuite(o: KeepOptions): NonNullable<CellEnv['pass']> {
  return async ({ ctx, session, prepared, onResult, runSuite }) => {
    await runSuite();
    if (ctx.signal.aborted || !session.machine.running) return;
    const record = crashRecorder(ctx, 'kept', onResult);
    const host = await GuestHost.start({
      session,
      image: prepared.image,
      runDir: ctx.runDir,
      run: basename(ctx.runDir),
      mode: 'kept',
      idleLimitMs: o.idleLimitMs,
      onCrash: (r) => {
        for (const l of crashNotice(crashNote(r), ctx.runDir)) o.say(l);
        void record();
      },
    });
    o.onKept(host.info);
    const aborted = new Promise<string>((r) => ctx.signal.addEventListener('abort', () => r(String((ctx.signal.reason as Error)?.message ?? 'stopped')), { once: true }));
    const why = await Promise.race([host.stopped(), aborted]);
    o.say(`kept guest ends: ${why}`);
    await record();
    await host.close();
  };
}
