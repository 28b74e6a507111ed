// What is in the cache, and pruning it without ever taking an entry from
// under a user: an entry being built is locked, an entry in use has a live
// lease (fsutil.ts), and both are skipped.
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { basename, join, relative, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { cacheDir, cacheRoot } from './paths.ts';
import { lastUsed, liveLeases, removeGarbageIn } from './fsutil.ts';
import { isLocked, lockOwner, withLock } from './lock.ts';

export interface CacheEntry {
  path: string;
  /** Where it sits under the cache root, e.g. kernels/debian/linux-image-…. */
  name: string;
  /** The folder it belongs to (kernels/debian, images, kernel/artifacts…): --keep-last counts per kind. */
  kind: string;
  bytes: number;
  lastUsedMs: number;
  /** Why it must not be pruned now: 'building (pid N)', 'in use (pid N)'; null when free. */
  busy: string | null;
}

/**
 * Mutable build state (O= directories, worktrees, the bare repositories that
 * hold a user's tree's series commits and snapshots): busy while a kernel
 * build holds its lock.
 */
const BUILD_STATE = ['kernel/build', 'kernel/worktrees', 'kernel/mirrors'];
const MIRRORS = 'kernel/mirrors';
const buildLock = () => cacheDir('kernel', 'locks', 'build');

async function diskUsage(path: string, seen: Set<string>): Promise<number> {
  const st = await lstat(path).catch(() => null);
  if (!st) return 0;
  const id = `${st.dev}:${st.ino}`;
  // Hard links (nfit_test's tree over the stock kernel's) count once.
  if (seen.has(id)) return 0;
  seen.add(id);
  let n = st.blocks * 512;
  if (st.isDirectory()) for (const c of await readdir(path).catch(() => [] as string[])) n += await diskUsage(join(path, c), seen);
  return n;
}

const SIDE = /\.(lock|tmp-\d+-[0-9a-f]+|trash-\d+-[0-9a-f]+|stale-\d+-[0-9a-f]+)$|^\..*\.tmp$/;

/** Entries (folders with a .complete marker) down to `depth`; `folders` gets every folder looked in. */
async function findEntries(dir: string, depth: number, out: string[], folders: string[]): Promise<void> {
  folders.push(dir);
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory() || SIDE.test(e.name) || e.name === 'locks') continue;
    const p = join(dir, e.name);
    if (await lstat(join(p, '.complete')).then(() => true, () => false)) out.push(p);
    else if (depth > 1) await findEntries(p, depth - 1, out, folders);
  }
}

async function busyReason(path: string, kind: string): Promise<string | null> {
  if (BUILD_STATE.includes(kind)) {
    const o = await lockOwner(buildLock());
    return o && (await isLocked(buildLock())) ? `kernel build running (pid ${o.pid})` : null;
  }
  const o = await lockOwner(`${path}.lock`);
  if (o && (await isLocked(`${path}.lock`))) return `building (pid ${o.pid})`;
  const users = await liveLeases(path);
  return users.length ? `in use (pid ${users.map((u) => u.split('@')[0]).join(', ')})` : null;
}

/**
 * A bare repository's own top rarely changes; each checkout in one of its
 * worktrees rewrites that worktree's HEAD under worktrees/, and new commits
 * land in objects/.
 */
async function mirrorLastUsed(p: string): Promise<number> {
  const dirs = [p, join(p, 'objects'), join(p, 'worktrees')];
  for (const w of await readdir(join(p, 'worktrees')).catch(() => [] as string[])) dirs.push(join(p, 'worktrees', w));
  let last = 0;
  for (const d of dirs) last = Math.max(last, (await lstat(d).catch(() => null))?.mtimeMs ?? 0);
  return last;
}

/** Every entry under the cache root, most recently used first. */
export async function listCache(root = cacheRoot(), folders: string[] = []): Promise<CacheEntry[]> {
  const paths: string[] = [];
  await findEntries(root, 3, paths, folders);
  for (const k of BUILD_STATE) for (const n of await readdir(join(root, k)).catch(() => [] as string[])) if (!SIDE.test(n)) paths.push(join(root, k, n));
  const seen = new Set<string>();
  const out: CacheEntry[] = [];
  for (const p of [...new Set(paths)]) {
    const name = relative(root, p);
    const kind = relative(root, dirname(p));
    const st = await lstat(p).catch(() => null);
    if (!st) continue;
    out.push({
      path: p,
      name,
      kind,
      bytes: await diskUsage(p, seen),
      lastUsedMs: kind === MIRRORS ? await mirrorLastUsed(p) : BUILD_STATE.includes(kind) ? st.mtimeMs : await lastUsed(p),
      busy: await busyReason(p, kind),
    });
  }
  return out.sort((a, b) => b.lastUsedMs - a.lastUsedMs);
}

export interface PruneOptions {
  /** Only entries not used for this long. */
  olderThanMs?: number;
  /** Keep the N most recently used entries of each kind. */
  keepLast?: number;
  dryRun?: boolean;
  now?: number;
}

export interface PruneResult {
  removed: CacheEntry[];
  /** Entries the criteria chose but that were busy when their turn came. */
  skipped: Array<{ entry: CacheEntry; why: string }>;
  /** Left-over temp dirs of dead builders and discarded entries nobody uses. */
  garbage: string[];
  /** Work directories (NVDIMM files, overlays) of runs whose harness died, with their size on disk. */
  orphans: Array<{ name: string; bytes: number; why: string }>;
}

/** No guest lives longer than 6 h; a work directory from before leases that is older is nobody's. */
const UNLEASED_ORPHAN_MS = 7 * 3600_000;

/**
 * Why a run's work directory (cache/work/<run id>) is an orphan, or null while
 * its run may be alive. Runs lease their work directory (results/store.ts
 * claimRun): a directory whose every lease is dead was left by a killed
 * harness. One without any lease is judged by age.
 */
export async function orphanWhy(dir: string, now = Date.now()): Promise<string | null> {
  const leases = await readdir(join(dir, '.use')).catch(() => [] as string[]);
  if (leases.length) {
    if ((await liveLeases(dir, now)).length) return null;
    return `its harness (${leases.join(', ')}) is gone`;
  }
  const st = await lstat(dir).catch(() => null);
  if (!st || now - st.mtimeMs <= UNLEASED_ORPHAN_MS) return null;
  return `unowned for ${Math.round((now - st.mtimeMs) / 3600_000)} h`;
}

async function pruneOrphans(root: string, o: PruneOptions): Promise<PruneResult['orphans']> {
  const work = join(root, 'work');
  const out: PruneResult['orphans'] = [];
  for (const e of await readdir(work, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory() || SIDE.test(e.name)) continue;
    const dir = join(work, e.name);
    const why = await orphanWhy(dir, o.now);
    if (!why) continue;
    const bytes = await diskUsage(dir, new Set());
    if (!o.dryRun) {
      // Moved aside, then checked again: a run claiming this id right now would have leased it (claimRun creates it exclusively).
      const trash = `${dir}.trash-${process.pid}-${randomBytes(3).toString('hex')}`;
      if (!(await rename(dir, trash).then(() => true, () => false))) continue;
      if (await orphanWhy(trash, o.now)) await rm(trash, { recursive: true, force: true });
      else {
        await rename(trash, dir).catch(() => {});
        continue;
      }
    }
    out.push({ name: relative(root, dir), bytes, why });
  }
  return out;
}

/** What the criteria choose (both must hold when both are given). Pure. */
export function pruneCandidates(entries: CacheEntry[], o: PruneOptions): CacheEntry[] {
  const now = o.now ?? Date.now();
  const rank = new Map<CacheEntry, number>();
  const byKind = new Map<string, CacheEntry[]>();
  for (const e of entries) byKind.set(e.kind, [...(byKind.get(e.kind) ?? []), e]);
  for (const list of byKind.values()) [...list].sort((a, b) => b.lastUsedMs - a.lastUsedMs).forEach((e, i) => rank.set(e, i));
  return entries.filter(
    (e) => (o.olderThanMs === undefined || now - e.lastUsedMs > o.olderThanMs) && (o.keepLast === undefined || rank.get(e)! >= o.keepLast),
  );
}

/** Remove one entry unless it is busy; returns why not, or null when removed. */
async function removeEntry(e: CacheEntry): Promise<string | null> {
  const lock = BUILD_STATE.includes(e.kind) ? buildLock() : `${e.path}.lock`;
  try {
    return await withLock(
      lock,
      async () => {
        if (!BUILD_STATE.includes(e.kind) && (await liveLeases(e.path)).length) return 'in use';
        const trash = `${e.path}.trash-${process.pid}-${randomBytes(3).toString('hex')}`;
        await rename(e.path, trash);
        // A user that took its lease just before the rename keeps the entry.
        if (!BUILD_STATE.includes(e.kind) && (await liveLeases(trash)).length) {
          await rename(trash, e.path);
          return 'in use';
        }
        await rm(trash, { recursive: true, force: true });
        // A mirror's worktree (same name) points into it: without it the
        // worktree is a dead checkout of several GB, so it goes too.
        if (e.kind === MIRRORS) await rm(join(dirname(dirname(e.path)), 'worktrees', basename(e.path)), { recursive: true, force: true });
        return null;
      },
      { waitMs: 0 },
    );
  } catch {
    return 'locked (being built)';
  }
}

export async function pruneCache(o: PruneOptions, root = cacheRoot()): Promise<PruneResult> {
  const folders: string[] = [];
  const entries = await listCache(root, folders);
  const result: PruneResult = { removed: [], skipped: [], garbage: [], orphans: [] };
  for (const e of pruneCandidates(entries, o)) {
    if (e.busy) {
      result.skipped.push({ entry: e, why: e.busy });
      continue;
    }
    if (o.dryRun) {
      result.removed.push(e);
      continue;
    }
    const why = await removeEntry(e);
    if (why) result.skipped.push({ entry: e, why });
    else result.removed.push(e);
  }
  result.orphans = await pruneOrphans(root, o);
  if (!o.dryRun) {
    for (const f of folders) result.garbage.push(...(await removeGarbageIn(f)).map((n) => relative(root, join(f, n))));
  }
  return result;
}
