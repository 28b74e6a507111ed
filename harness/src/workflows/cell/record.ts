// The run's book: its directory and run.json, rewritten at every state change;
// the room held back for the last write; the heartbeat; and the two ways a
// run ends from outside its tests (stopped: ^C, SIGTERM or a caller's signal;
// or a file of the run that could not be written).
import { hostname } from 'node:os';
import { cacheDir } from '../../host/paths.ts';
import { harnessVersion } from '../../host/version.ts';
import { setInterruptHandler } from '../../host/proc.ts';
import { reserveSpace } from '../../host/space.ts';
import { describeWriteError } from '../../host/capped-file.ts';
import { qemuVersion } from '../../vm/accel.ts';
import { topologyHash } from '../../vm/topology.ts';
import { kernelCmdline, watchdogsFor } from '../../vm/qemu-args.ts';
import { claimRun, saveRun, startHeartbeat } from '../../results/store.ts';
import type { RunRecord } from '../../results/records.ts';
import type { CellEnv, PreparedCell } from './plan.ts';

async function newRecord(p: PreparedCell, id: string): Promise<RunRecord> {
  return {
    schema: 1,
    id,
    status: 'running',
    reason: '',
    harness: { pid: process.pid, hostname: hostname(), heartbeatAt: new Date().toISOString() },
    harnessVersion: await harnessVersion(),
    phase: 'prepare',
    plan: p.summary,
    startedAt: new Date().toISOString(),
    endedAt: null,
    host: { hostname: hostname(), qemuVersion: await qemuVersion() },
    accel: p.accel,
    kernel: p.kernel,
    image: { recipe: p.image.recipe, key: p.image.key },
    topology: p.topology,
    topologyHash: topologyHash(p.topology),
    kernelCmdline: kernelCmdline({ topology: p.topology, accel: p.accel.used, cmdlineExtra: [...(p.image.cmdline ?? []), ...p.cmdlineExtra] }),
    watchdogs: watchdogsFor(p.accel.used),
    qemuArgv: [],
    bootMs: null,
    kernelInitMs: null,
    tests: [],
    crashes: [],
  };
}

export class RunBook {
  /** Aborted when the run must stop: from outside, or a write that failed. */
  readonly stop = new AbortController();
  /** Why a file of the run could not be written, once one could not. */
  writeFailure: string | null = null;
  private unlisten: () => void = () => {};

  private constructor(
    readonly dir: string,
    readonly record: RunRecord,
    private readonly progress: CellEnv['progress'],
    private readonly releaseSpace: () => Promise<void>,
    private readonly stopHeartbeat: () => Promise<void>,
  ) {}

  /** Claim a run directory and write its first run.json. */
  static async open(p: PreparedCell, env: Pick<CellEnv, 'resultsRoot' | 'progress'>): Promise<RunBook> {
    const { id, dir } = await claimRun(env.resultsRoot, { workRoot: cacheDir('work') });
    const record = await newRecord(p, id);
    await saveRun(dir, record);
    // Room held back for the last run.json, given up when the run ends: a disk
    // the guest's output filled still gets the record that says so.
    const releaseSpace = await reserveSpace(dir);
    // A reader later tells a run whose harness died (SIGKILL, power loss) from a live one by this.
    const stopHeartbeat = startHeartbeat(dir, record);
    env.progress('run', `results in ${dir}`);
    return new RunBook(dir, record, env.progress, releaseSpace, stopHeartbeat);
  }

  readonly save = (): Promise<void> => saveRun(this.dir, this.record);

  /**
   * A run stopped from outside (^C here, or a caller's env.signal: a nightly
   * cancelling its cells) is no verdict: it is 'interrupted' and says so at
   * once, so a harness that exits right after leaves no 'running' record.
   */
  private async interrupt(why: string): Promise<void> {
    this.stop.abort(new Error(why));
    if (this.record.status !== 'running') return;
    this.record.status = 'interrupted';
    this.record.reason = why;
    this.record.endedAt = new Date().toISOString();
    await this.save();
  }

  /** Listen for the caller's signal and (unless it handles them) ^C and SIGTERM, until close(). */
  listen(env: Pick<CellEnv, 'signal' | 'handleSignals'>): void {
    const signal = env.signal;
    // A failed write here is retried by the run's last save.
    const outside = () => void this.interrupt(String((signal?.reason as Error)?.message ?? signal?.reason ?? 'stopped')).catch(() => {});
    signal?.addEventListener('abort', outside, { once: true });
    if (signal?.aborted) outside();
    if (env.handleSignals !== false) setInterruptHandler((sig) => this.interrupt(`interrupted by ${sig}`));
    this.unlisten = () => signal?.removeEventListener('abort', outside);
  }

  /**
   * A file of the run could not be written (console.log, a test's log,
   * run.json): the disk is full or failing, and the run ends as the machine's
   * problem.
   */
  readonly writeError = (e: NodeJS.ErrnoException, path: string): void => {
    if (this.writeFailure) return;
    this.writeFailure = describeWriteError(e, path);
    this.progress('run', this.writeFailure);
    this.stop.abort(new Error(this.writeFailure));
  };

  /** Stop listening and beating, give back the held room and write the verdict (unless the run was interrupted). */
  async close(ended: { status: RunRecord['status']; reason: string } | null): Promise<void> {
    const record = this.record;
    this.unlisten();
    await this.stopHeartbeat();
    record.phase = 'done';
    if (this.writeFailure && record.status === 'running') ended = { status: 'infra-error', reason: this.writeFailure };
    await this.releaseSpace();
    if (ended && record.status === 'running') await this.finish(ended.status, ended.reason);
    else if (record.status === 'running') await this.finish('infra-error', 'run ended without a verdict');
    else await this.save();
  }

  private async finish(status: RunRecord['status'], reason: string): Promise<void> {
    if (this.record.status === 'interrupted') return;
    this.record.status = status;
    this.record.reason = reason;
    this.record.endedAt = new Date().toISOString();
    await this.save();
  }
}
