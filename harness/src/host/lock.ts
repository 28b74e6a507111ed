// A cross-process lock on a cache path: a directory made atomically with its
// owner file already inside (built under a temp name, then renamed), so a lock
// is never seen without its owner. A lock whose owner died (SIGKILL, power
// loss) is taken over; a live holder is waited for.
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { pidAlive } from './pid.ts';

export interface LockOwner {
  pid: number;
  host: string;
}

export async function lockOwner(lockDir: string): Promise<LockOwner | null> {
  const text = await readFile(join(lockDir, 'owner'), 'utf8').catch(() => null);
  if (text === null) return null;
  const [pid, host] = text.trim().split(/\s+/);
  const n = Number.parseInt(pid ?? '', 10);
  return Number.isInteger(n) && n > 0 ? { pid: n, host: host ?? hostname() } : null;
}

/** Held by a live process (one on another host is taken to be alive). */
export async function isLocked(lockDir: string): Promise<boolean> {
  const o = await lockOwner(lockDir);
  if (!o) return false;
  return o.host !== hostname() || pidAlive(o.pid);
}

async function tryAcquire(lockDir: string): Promise<boolean> {
  const tmp = join(dirname(lockDir), `.${basename(lockDir)}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`);
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, 'owner'), `${process.pid} ${hostname()}\n`);
  try {
    await rename(tmp, lockDir);
    return true;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw e;
  }
}

/** Move a dead owner's lock aside; if a live process took it meanwhile, give it back. */
async function breakStale(lockDir: string, dead: LockOwner): Promise<void> {
  const aside = `${lockDir}.stale-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await rename(lockDir, aside);
  } catch {
    return; // someone else broke it first
  }
  const o = await lockOwner(aside);
  if (o && (o.pid !== dead.pid || o.host !== dead.host)) {
    await rename(aside, lockDir).catch(() => {});
    return;
  }
  await rm(aside, { recursive: true, force: true });
}

async function ownerlessFor(lockDir: string): Promise<number> {
  const st = await stat(lockDir).catch(() => null);
  return st ? Date.now() - st.mtimeMs : 0;
}

/** Hold `lockDir` while `fn` runs. */
export async function withLock<T>(
  lockDir: string,
  fn: () => Promise<T>,
  opts: { waitMs?: number; onWait?: (holder: string) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.waitMs ?? 4 * 3600_000);
  await mkdir(dirname(lockDir), { recursive: true });
  let told = false;
  for (;;) {
    if (await tryAcquire(lockDir)) break;
    const o = await lockOwner(lockDir);
    if (o && o.host === hostname() && !pidAlive(o.pid)) {
      await breakStale(lockDir, o);
      continue;
    }
    if (!o && (await ownerlessFor(lockDir)) > 10_000) {
      // Left by an older harness that died between mkdir and writing its owner.
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockDir} held by pid ${o?.pid ?? '?'}`);
    if (!told && o) {
      opts.onWait?.(`pid ${o.pid}`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}
