// A cross-process lock on a cache path, shared by processes on several hosts
// (CI runners over one persisted cache) and held by a heartbeat lease.
//
// The lock is a directory of generation files g000000000001, g000000000002…;
// the highest one is the lease. Taking the lock is creating the next
// generation with link(2), which fails if the name exists: of any number of
// waiters racing for one generation exactly one wins, and nobody ever has to
// delete a stale lease before taking it over (the delete-then-create step is
// where two waiters both judging a lock stale end up both holding it).
//
// The holder touches its file every heartbeat. A waiter takes over a lease
// only when its heartbeat is older than STALE_BEATS beats, whatever host wrote
// it; on this host (same boot, same pid namespace) a lease whose pid is gone
// is stale at once, since a pid that looks alive can only make us wait longer.
// A holder that finds a newer generation above its own has lost the lease
// (it stalled past the limit) and its signal is aborted.
import { link, mkdir, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { pidAlive } from './pid.ts';

/** How often a holder refreshes its lease. */
export const LOCK_HEARTBEAT_MS = 5_000;
/** Beats a lease may miss before a waiter takes it over. */
export const STALE_BEATS = 6;

export interface LockOwner {
  pid: number;
  host: string;
  /** Kernel boot and pid namespace: a pid means this process only where both match ours. */
  bootId: string;
  pidNs: string;
  /** When the lock was taken (ISO). */
  since: string;
}

export interface LockTiming {
  heartbeatMs?: number;
  /** Age of the last heartbeat after which the lease is stale (default STALE_BEATS beats). */
  staleMs?: number;
}

const GEN = /^g(\d{12})$/;
const genName = (n: number) => `g${String(n).padStart(12, '0')}`;

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

let self: Omit<LockOwner, 'since'> | null = null;
function me(): Omit<LockOwner, 'since'> {
  if (!self) {
    let pidNs = 'unknown';
    try {
      pidNs = readlinkSync('/proc/self/ns/pid');
    } catch {
      /* no /proc: the pid shortcut is simply not used */
    }
    self = { pid: process.pid, host: hostname(), bootId: readOr('/proc/sys/kernel/random/boot_id', 'unknown'), pidNs };
  }
  return { ...self, pid: process.pid };
}

interface Top {
  gen: number;
  path: string;
  ino: number;
  mtimeMs: number;
  owner: LockOwner | null;
}

/** The current lease (highest generation), or null when there is none. */
async function top(lockDir: string): Promise<Top | null> {
  for (;;) {
    const names = await readdir(lockDir).catch(() => [] as string[]);
    let gen = 0;
    for (const n of names) {
      const m = GEN.exec(n);
      if (m) gen = Math.max(gen, Number(m[1]));
    }
    if (gen === 0) return null;
    const path = join(lockDir, genName(gen));
    const st = await stat(path).catch(() => null);
    // Pruned or the directory released between readdir and stat: look again.
    if (!st) continue;
    let owner: LockOwner | null = null;
    try {
      const o = JSON.parse(await readFile(path, 'utf8')) as LockOwner;
      if (Number.isInteger(o.pid) && o.pid > 0 && typeof o.host === 'string') owner = o;
    } catch {
      /* unreadable: judged by its heartbeat alone */
    }
    return { gen, path, ino: st.ino, mtimeMs: st.mtimeMs, owner };
  }
}

/** Why the lease is free to take over, or null while its holder may be alive. */
function staleWhy(t: Top, staleMs: number, now = Date.now()): string | null {
  const here = me();
  const o = t.owner;
  if (o && o.host === here.host && o.bootId === here.bootId && o.pidNs === here.pidNs && o.bootId !== 'unknown' && !pidAlive(o.pid)) {
    return `pid ${o.pid} is gone`;
  }
  const age = now - t.mtimeMs;
  return age > staleMs ? `no heartbeat for ${Math.round(age / 1000)} s` : null;
}

/** The holder of a live lease, or null when the lock is free or its lease stale. */
export async function lockOwner(lockDir: string, timing: LockTiming = {}): Promise<LockOwner | null> {
  const t = await top(lockDir);
  if (!t || staleWhy(t, staleOf(timing))) return null;
  return t.owner ?? { pid: 0, host: '?', bootId: '?', pidNs: '?', since: new Date(t.mtimeMs).toISOString() };
}

export async function isLocked(lockDir: string, timing: LockTiming = {}): Promise<boolean> {
  return (await lockOwner(lockDir, timing)) !== null;
}

/** One line naming a holder, for waits and refusals. */
export function describeOwner(o: LockOwner): string {
  return `pid ${o.pid} on ${o.host} since ${o.since}`;
}

const staleOf = (t: LockTiming) => t.staleMs ?? STALE_BEATS * (t.heartbeatMs ?? LOCK_HEARTBEAT_MS);

export interface HeldLock {
  readonly path: string;
  readonly gen: number;
  /** Aborted when the lease was lost (taken over after a stall, or the lock removed). */
  readonly signal: AbortSignal;
  release(): Promise<void>;
}

/**
 * One attempt: the lock if it was free (or its lease stale), else the live
 * holder. Never waits.
 */
export async function tryLock(lockDir: string, timing: LockTiming = {}): Promise<HeldLock | { holder: LockOwner }> {
  const staleMs = staleOf(timing);
  for (;;) {
    try {
      await mkdir(lockDir, { recursive: true });
    } catch (e) {
      // A release renamed it away under mkdir's feet: look again.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    const t = await top(lockDir);
    if (t && !staleWhy(t, staleMs)) {
      const o = t.owner ?? { pid: 0, host: '?', bootId: '?', pidNs: '?', since: new Date(t.mtimeMs).toISOString() };
      return { holder: o };
    }
    const gen = (t?.gen ?? 0) + 1;
    const mine = join(lockDir, genName(gen));
    const tmp = join(lockDir, `.${genName(gen)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    const owner: LockOwner = { ...me(), since: new Date().toISOString() };
    try {
      await writeFile(tmp, JSON.stringify(owner) + '\n', { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // the directory was released meanwhile
      throw e;
    }
    let won = false;
    try {
      await link(tmp, mine);
      won = true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOENT') throw e;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    if (!won) continue; // another waiter took this generation: look again
    if (!(await stillOurs(lockDir, gen, t))) {
      await unlink(mine).catch(() => {});
      continue;
    }
    // Generations below ours are history; the top one is never deleted except by its holder.
    for (const n of await readdir(lockDir).catch(() => [] as string[])) {
      const m = GEN.exec(n);
      if (m && Number(m[1]) < gen) await unlink(join(lockDir, n)).catch(() => {});
    }
    return hold(lockDir, mine, gen, timing.heartbeatMs ?? LOCK_HEARTBEAT_MS);
  }
}

/**
 * After linking generation `gen`: it counts only if nothing newer exists and
 * the lease it replaced is the very file judged stale. A waiter that read the
 * directory long ago may link a generation that was pruned since (a newer one
 * then exists), or into a new directory after the old one was released (the
 * predecessor is then missing or another file).
 */
async function stillOurs(lockDir: string, gen: number, judged: Top | null): Promise<boolean> {
  for (const n of await readdir(lockDir).catch(() => [] as string[])) {
    const m = GEN.exec(n);
    if (m && Number(m[1]) > gen) return false;
  }
  if (!judged) return true; // generation 1: link's exclusiveness alone decides
  const prev = await stat(judged.path).catch(() => null);
  return prev !== null && prev.ino === judged.ino;
}

function hold(lockDir: string, path: string, gen: number, heartbeatMs: number): HeldLock {
  const ac = new AbortController();
  let beat: Promise<void> = Promise.resolve();
  const lost = (why: string) => {
    if (!ac.signal.aborted) ac.abort(new Error(`lost lock ${lockDir}: ${why}`));
  };
  const timer = setInterval(() => {
    beat = (async () => {
      const now = new Date();
      try {
        await utimes(path, now, now);
      } catch {
        return lost('its lease file is gone');
      }
      for (const n of await readdir(lockDir).catch(() => [] as string[])) {
        const m = GEN.exec(n);
        if (m && Number(m[1]) > gen) return lost('another process took it over after this one stopped beating');
      }
    })();
  }, heartbeatMs);
  timer.unref();
  let released = false;
  return {
    path: lockDir,
    gen,
    signal: ac.signal,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await beat;
      // Someone else holds it now (we stalled past the limit): leave their lease alone.
      if (ac.signal.aborted) return;
      for (const n of await readdir(lockDir).catch(() => [] as string[])) {
        const m = GEN.exec(n);
        if (m && Number(m[1]) > gen) return;
      }
      // Moved aside first, then deleted: a waiter's link lands either in the
      // live directory (and then sees our lease) or nowhere, never in a
      // directory being emptied.
      const aside = `${lockDir}.stale-${process.pid}-${randomBytes(3).toString('hex')}`;
      try {
        await rename(lockDir, aside);
      } catch {
        return;
      }
      await rm(aside, { recursive: true, force: true });
    },
  };
}

/** Hold `lockDir` while `fn` runs; `fn` is given a signal aborted if the lease is lost. */
export async function withLock<T>(
  lockDir: string,
  fn: (held: { signal: AbortSignal }) => Promise<T>,
  opts: LockTiming & { waitMs?: number; onWait?: (holder: string) => void; pollMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.waitMs ?? 4 * 3600_000);
  let told = false;
  let held: HeldLock;
  for (;;) {
    const r = await tryLock(lockDir, opts);
    if (!('holder' in r)) {
      held = r;
      break;
    }
    if (Date.now() >= deadline) throw new Error(`timed out waiting for lock ${lockDir} held by ${describeOwner(r.holder)}`);
    if (!told) {
      opts.onWait?.(`pid ${r.holder.pid} on ${r.holder.host}`);
      told = true;
    }
    // Jittered, so waiters released together do not retry in lockstep.
    const poll = opts.pollMs ?? 200;
    await new Promise((res) => setTimeout(res, poll / 2 + Math.random() * poll));
  }
  try {
    return await fn({ signal: held.signal });
  } finally {
    await held.release();
  }
}
