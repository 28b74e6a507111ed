// Guest keeping: the guest a run is in now (booted by it, or adopted from the
// pool of guests an earlier cell left up), and where it goes when the run is
// done with it: back to the pool when clean and asked to keep it, else shut
// down.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir } from '../../host/paths.ts';
import { CappedFile, logCaps } from '../../host/capped-file.ts';
import type { CrashReport } from '../../results/records.ts';
import { blankResult } from '../../suites/context.ts';
import { parseLog } from '../../oracle/index.ts';
import type { Session } from '../session.ts';
import { watchConsole, type ConsoleWatch } from '../watch.ts';
import { guestKey, handOver, shutdown, type GuestPool, type PooledGuest } from '../guest-pool.ts';
import { bootOnce, judgeBoot, type BootOutcome, type BootRun } from './boot.ts';
import { guestIsClean } from './stall.ts';
import type { PreparedCell } from './plan.ts';

interface Adopted {
  boot: BootOutcome;
  closeConsole: () => Promise<void>;
  idleReports: CrashReport[];
}

/** Who booted a guest, and how many cells it has run. */
type Origin = Pick<PooledGuest, 'bootedBy' | 'cells' | 'workRoot'>;

/** The pool key of the guest a prepared cell boots: everything QEMU and the kernel start with. */
export function guestKeyOf(p: PreparedCell): string {
  return guestKey({
    kernel: { key: p.kernel.key, bzImage: p.kernel.bzImage, release: p.kernel.release },
    image: { key: p.image.key, builtAt: p.image.builtAt },
    modulesKey: p.modules?.key ?? null,
    extras: p.extras,
    topology: p.topology,
    cmdline: p.cmdlineExtra,
    accel: p.accel.used,
    cpu: p.accel.cpu,
    sshPort: p.plan.sshPort,
    shares: p.prepared.shares ?? [],
  });
}

/**
 * Start a run in a guest an earlier cell left in the pool: no boot. The run's
 * console.log is written from the hand-over on, beginning with what the guest
 * printed while idle, and that goes through the oracle like a boot's console:
 * a report there lands on this run's boot step. Null (the guest shut down)
 * when it no longer answers cleanly; the caller then boots a fresh one.
 */
async function adoptGuest(g: PooledGuest, b: BootRun): Promise<Adopted | null> {
  const { env, runDir, record, signal, sink } = b;
  const s = g.session;
  const idle = handOver(g);
  if (!s.machine.running || idle.overflow) {
    env.progress('boot', `the guest kept from run ${g.bootedBy.id} ${idle.overflow ? 'printed too much while idle' : 'is gone'}: booting a fresh one`);
    await shutdown(g);
    return null;
  }
  // Subscribed in the same tick as the hand-over: no line is missed.
  const logPath = join(runDir, 'console.log');
  const out = new CappedFile(logPath, { capBytes: logCaps().consoleBytes, what: 'console.log', batch: true, onError: (e) => sink.writeError(e, logPath) });
  for (const l of idle.lines) out.write(`${l}\n`);
  const off = g.console.subscribe((l) => out.write(`${l}\n`));
  const closeConsole = () => {
    off();
    out.close();
    return Promise.resolve();
  };
  const watch = watchConsole(g.console, s.machine.exited, (why) => sink.fatal(why), (r) => sink.stall(r), idle.lines.length);
  const idleReports = parseLog(idle.lines.join('\n'));
  if (signal.aborted || !(await guestIsClean(s))) {
    const late = [...idleReports, ...watch.take()];
    watch.stop();
    await closeConsole();
    await shutdown(g);
    if (!late.length) {
      env.progress('boot', `the guest kept from run ${g.bootedBy.id} did not answer cleanly: booting a fresh one`);
      await rm(join(runDir, 'console.log'), { force: true });
      return null;
    }
    // What it printed is this run's first evidence: judged on its boot step, and the guest is not used.
    const result = blankResult('boot', {}, 'console.log');
    judgeBoot(result, late);
    return {
      boot: { session: null, watch, result, ended: { status: 'fail', reason: `kernel report in the guest kept from run ${g.bootedBy.id}: ${late[0].title}` } },
      closeConsole: async () => {},
      idleReports,
    };
  }
  const result = blankResult('boot', {}, 'console.log');
  result.metrics.reused_from = g.bootedBy.id;
  result.metrics.cells_before = g.cells;
  judgeBoot(result, [...idleReports, ...watch.take()]);
  record.qemuArgv = s.machine.argv;
  record.bootMs = 0;
  record.kernelInitMs = s.kernelInitMs;
  record.guest = { reusedFrom: g.bootedBy.id, reusedFromDir: g.bootedBy.dir, cellsBefore: g.cells };
  env.progress('boot', `no boot: the guest run ${g.bootedBy.id} booted is kept up and clean (${g.cells} cell${g.cells === 1 ? '' : 's'} before this one)`);
  if (env.onReady) await env.onReady(s, runDir);
  return { boot: { session: s, watch, result, ended: null }, closeConsole, idleReports };
}

/** The guest a run is in now, from its boot (or adoption) to its release. */
export class GuestSlot {
  session: Session | null = null;
  watch: ConsoleWatch | null = null;
  /** Whether the guest this run booted went to the pool: its scratch directory then stays. */
  keptOwnGuest = false;
  private closeConsole: (() => Promise<void>) | null = null;
  private readonly poolKey: string | null;
  private readonly booted: Origin;
  private origin: Origin;
  private boots = 0;

  constructor(
    private readonly b: BootRun,
    private readonly guests: GuestPool | undefined,
  ) {
    this.poolKey = guests ? guestKeyOf(b.p) : null;
    this.booted = { bootedBy: { id: b.record.id, dir: b.runDir }, cells: 0, workRoot: cacheDir('work', b.record.id) };
    this.origin = this.booted;
  }

  /**
   * A guest for the next pass: on the run's first, an idle one from the pool
   * when it has one that would have been booted the same way; else a fresh
   * boot. What an adopted guest printed while idle goes to `idleReports`.
   */
  async obtain(idleReports: CrashReport[]): Promise<BootOutcome> {
    const pooled = this.boots === 0 && this.poolKey ? this.guests!.take(this.poolKey) : null;
    const adopted = pooled ? await adoptGuest(pooled, this.b) : null;
    if (adopted) {
      this.origin = { bootedBy: pooled!.bootedBy, cells: pooled!.cells, workRoot: pooled!.workRoot };
      this.closeConsole = adopted.closeConsole;
      idleReports.push(...adopted.idleReports);
      this.boots++;
    } else {
      this.origin = this.booted;
      await this.guests?.drain();
    }
    const boot = adopted?.boot ?? (await bootOnce(this.b, this.boots++));
    this.watch = boot.watch;
    this.session = boot.session;
    return boot;
  }

  /** Back to the pool when clean and asked to keep it, else shut down. */
  async release(keep: boolean): Promise<void> {
    const s = this.session!;
    this.session = null;
    const close = this.closeConsole;
    this.closeConsole = null;
    const o = this.origin;
    const g: PooledGuest = { key: this.poolKey ?? '', session: s, console: s.machine.console, bootedBy: o.bootedBy, workRoot: o.workRoot, cells: o.cells + 1 };
    if (keep && this.guests) {
      this.keptOwnGuest = o.bootedBy.id === this.b.record.id;
      // give() starts collecting the console before its first await and this
      // run's writer stops in the same tick: every line lands in one place.
      const given = this.guests.give(g);
      await close?.();
      await given;
    } else {
      await shutdown(g);
      await close?.();
    }
  }
}
