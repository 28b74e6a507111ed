// Guests kept up between cells. A nightly runs many cells on one kernel, and
// cells that would boot the very same guest (kernel, image, modules, topology,
// command line, accelerator, shares) can run one after another in it instead
// of each paying the boot. Only a guest that came out of a cell clean goes
// back: no kernel report, a passing verdict, nothing stuck in the kernel.
// Anything else is shut down, so a cell never inherits a damaged guest.
import { rm } from 'node:fs/promises';
import { canonical, sha256 } from '../host/fsutil.ts';
import type { ConsoleStream } from '../vm/console.ts';
import type { Session } from './session.ts';
import type { Topology } from '../results/records.ts';

/** What goes into a guest key: everything QEMU and the kernel are started with. */
export interface GuestIdentity {
  kernel: { key: string; bzImage: string; release: string };
  image: { key: string; builtAt: string };
  modulesKey: string | null;
  extras: string[];
  topology: Topology;
  cmdline: string[];
  accel: string;
  cpu?: string;
  sshPort?: number;
  shares: Array<{ hostPath: string; tag: string; readonly?: boolean }>;
}

/** Two cells get the same key exactly when they would start the same guest. */
export function guestKey(g: GuestIdentity): string {
  // Share order is the suite's listing order, not part of the guest.
  const shares = [...g.shares].sort((a, b) => a.tag.localeCompare(b.tag)).map((s) => ({ ...s, readonly: Boolean(s.readonly) }));
  return sha256('guest-v1', canonical({ ...g, shares })).slice(0, 24);
}

export interface PooledGuest {
  key: string;
  session: Session;
  console: ConsoleStream;
  /** The run that booted it, whose console.log QEMU itself keeps writing. */
  bootedBy: { id: string; dir: string };
  /** Cells it has run, the booting one included. */
  cells: number;
  /** The booting run's scratch directory (NVDIMM backing files, QMP socket), removed at shutdown. */
  workRoot: string;
  /** What the console printed while the guest sat in the pool (set by give, ended by handOver). */
  idle?: { lines: string[]; overflow: boolean; off: () => void };
}

/** Most console lines an idle guest may print and still be reused (a quiet kernel prints none). */
const IDLE_LINES = 5000;

/**
 * The console lines printed while the guest was idle, and the end of their
 * collection: the caller subscribes its own listeners in the same tick, so no
 * line goes unseen between the pool and the next run.
 */
export function handOver(g: PooledGuest): { lines: string[]; overflow: boolean } {
  const idle = g.idle;
  g.idle = undefined;
  if (!idle) return { lines: [], overflow: false };
  idle.off();
  return { lines: idle.lines, overflow: idle.overflow };
}

export class GuestPool {
  private idle = new Map<string, PooledGuest[]>();
  private closed = false;

  /** An idle guest for this key, now owned by the caller; null if none. */
  take(key: string): PooledGuest | null {
    const list = this.idle.get(key);
    const g = list?.shift() ?? null;
    if (list && !list.length) this.idle.delete(key);
    return g;
  }

  /** Keep a clean guest for a later cell; after close() it is shut down instead. */
  async give(g: PooledGuest): Promise<void> {
    if (this.closed) return shutdown(g);
    // A report printed while no run owns the guest must still reach a run.
    // A guest taken and given back without a hand-over keeps what it collected.
    if (g.idle) return this.keep(g);
    const lines: string[] = [];
    const idle = { lines, overflow: false, off: () => {} };
    idle.off = g.console.subscribe((l) => {
      if (lines.length < IDLE_LINES) lines.push(l);
      else idle.overflow = true;
    });
    g.idle = idle;
    this.keep(g);
  }

  private keep(g: PooledGuest): void {
    const list = this.idle.get(g.key) ?? [];
    list.push(g);
    this.idle.set(g.key, list);
  }

  /**
   * Shut every idle guest down: a run about to boot a guest of another kind
   * makes room first, so kept guests never add to the memory the night's
   * running guests take. Cells in matrix order (one kernel's suite modes one
   * after another) still find theirs.
   */
  async drain(): Promise<void> {
    const all = [...this.idle.values()].flat();
    this.idle.clear();
    await Promise.all(all.map(shutdown));
  }

  idleCount(): number {
    return [...this.idle.values()].reduce((n, l) => n + l.length, 0);
  }

  /** Shut every idle guest down; guests given back later are shut down at once. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }
}

/** Shut a guest down and remove its booting run's scratch directory (its NVDIMM backing files). */
export async function shutdown(g: PooledGuest): Promise<void> {
  handOver(g);
  await g.session.close();
  await rm(g.workRoot, { recursive: true, force: true }).catch(() => {});
}
