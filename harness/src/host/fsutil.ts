// Files and cache entries the harness writes, written so that a crash, a
// SIGKILL or a power loss leaves the old version or the new one, never half
// of either, and so that two harness processes can share one cache.
import { chmod, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { hostname } from 'node:os';
import { randomBytes, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pidAlive } from './pid.ts';
import { withLock } from './lock.ts';

export { pidAlive };

// ------------------------------------------------------------ atomic files ---

/** `.NAME.PID-HEX.tmp`: the writer's pid tells a live writer's temp from a dead one's. */
export const TEMP_RE = /^\.(.+)\.(\d+)-[0-9a-f]+\.tmp$/;

/**
 * Write a temp file next to the target, fsync it, rename it over the target,
 * fsync the directory (the rename itself must survive a power loss). Temp
 * files of writers that died mid-write are removed on the way.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { mode?: number } = {}): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  await removeDeadTemps(dir, basename(path));
  const tmp = join(dir, `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    // open()'s mode is cut by the umask; a private file must not depend on it.
    if (opts.mode !== undefined) await chmod(tmp, opts.mode);
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dir);
}

export async function writeJsonAtomic(path: string, value: unknown, opts: { mode?: number } = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', opts);
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Remove atomic-write temp files in dir whose writer is dead (only those of `name` when given). */
export async function removeDeadTemps(dir: string, name?: string): Promise<string[]> {
  const removed: string[] = [];
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    const m = TEMP_RE.exec(n);
    if (!m || (name !== undefined && m[1] !== name) || pidAlive(Number(m[2]))) continue;
    await rm(join(dir, n), { force: true });
    removed.push(n);
  }
  return removed;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Stable JSON (sorted keys) so equal objects give equal keys whatever their key order. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export function sha256(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  return h.digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

// ------------------------------------------------------------ cache entries ---
//
// An entry is a directory built under a temp name and renamed into place with
// `.complete` (the marker) and `.manifest.json` (size, mtime and sha256 of each
// file) inside. Every use checks the manifest, so an entry truncated, overwritten
// or half-deleted behind our back is rebuilt, not read. The check on use is a
// stat of every file (a linux-source entry has 80,000 of them: hashing them all
// took 30 s); a file whose mtime moved is hashed, so a same-size overwrite is
// still caught. verifyEntry(dir, true) hashes everything. Builders of one entry
// serialise on `<entry>.lock`; users leave a lease (`.use/<pid>@<host>`) for
// their lifetime, so neither a rebuild nor `dax-harness cache prune` deletes an
// entry someone is using.

const MARKER = '.complete';
const MANIFEST = '.manifest.json';
const USE = '.use';
const FORMAT = 'v2';

interface Manifest {
  files: Record<string, [size: number, mtimeMs: number, sha256: string]>;
  links: Record<string, string>;
}

/**
 * A git repository inside an entry (an imported linux-source) is git's to
 * change: worktrees, objects, gc repacks. git checks its own store.
 */
const gitOwned = (rel: string) => rel === '.git' || rel.endsWith('/.git') || rel.startsWith('.git/') || rel.includes('/.git/');

async function walk(root: string, rel = ''): Promise<{ files: string[]; links: string[] }> {
  const out = { files: [] as string[], links: [] as string[] };
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (!rel && (e.name === MARKER || e.name === MANIFEST || e.name === USE)) continue;
    if (gitOwned(r)) continue;
    if (e.isSymbolicLink()) out.links.push(r);
    else if (e.isDirectory()) {
      const sub = await walk(root, r);
      out.files.push(...sub.files);
      out.links.push(...sub.links);
    } else if (e.isFile()) out.files.push(r);
  }
  return out;
}

/** Write the manifest and then the marker (both synced): the entry is whole from here on. */
export async function sealEntry(dir: string): Promise<void> {
  const { files, links } = await walk(dir);
  const m: Manifest = { files: {}, links: {} };
  for (const f of files.sort()) {
    const st = await stat(join(dir, f));
    m.files[f] = [st.size, st.mtimeMs, await sha256File(join(dir, f))];
  }
  for (const l of links.sort()) m.links[l] = await readlink(join(dir, l));
  const text = JSON.stringify(m);
  await writeFileAtomic(join(dir, MANIFEST), text);
  await writeFileAtomic(join(dir, MARKER), `${FORMAT} ${sha256(text)}\n`);
}

/** Why the entry cannot be used, or null when it is whole. */
export async function verifyEntry(dir: string, full = false): Promise<string | null> {
  const marker = await readFile(join(dir, MARKER), 'utf8').catch(() => null);
  if (marker === null) return `no ${MARKER} marker (half-built)`;
  if (!marker.startsWith(`${FORMAT} `)) {
    // Entries from before manifests were sealed only once whole: adopt them.
    await sealEntry(dir);
    return null;
  }
  const text = await readFile(join(dir, MANIFEST), 'utf8').catch(() => null);
  if (text === null) return `no ${MANIFEST}`;
  if (marker.trim() !== `${FORMAT} ${sha256(text)}`) return `${MANIFEST} does not match its marker`;
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    return `${MANIFEST} is not JSON`;
  }
  const check = async ([f, [size, mtimeMs, sum]]: [string, Manifest['files'][string]]): Promise<string | null> => {
    const st = await stat(join(dir, f)).catch(() => null);
    if (!st?.isFile()) return `${f} is missing`;
    if (st.size !== size) return `${f} is ${st.size} bytes, was ${size}`;
    if ((full || st.mtimeMs !== mtimeMs) && (await sha256File(join(dir, f))) !== sum) return `${f} changed (checksum mismatch)`;
    return null;
  };
  const files = Object.entries(m.files).filter(([f]) => !gitOwned(f));
  // In batches: the stats overlap in libuv's pool instead of queuing one by one.
  for (let i = 0; i < files.length; i += 256) {
    const bad = (await Promise.all(files.slice(i, i + 256).map(check))).find((x) => x !== null);
    if (bad) return bad;
  }
  for (const [l, target] of Object.entries(m.links).filter(([f]) => !gitOwned(f))) {
    if ((await readlink(join(dir, l)).catch(() => null)) !== target) return `link ${l} is missing or changed`;
  }
  return null;
}

const myLeases = new Set<string>();
const verified = new Set<string>();
let leaseHook = false;

function leaseName(): string {
  return `${process.pid}@${hostname()}`;
}

/** Mark the entry as used by this process until it exits. Fails if the entry is gone. */
export async function leaseEntry(dir: string): Promise<void> {
  const use = join(dir, USE);
  await mkdir(use).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  const f = join(use, leaseName());
  await writeFile(f, '');
  const now = new Date();
  await utimes(use, now, now);
  myLeases.add(f);
  if (!leaseHook) {
    leaseHook = true;
    // Another host cannot see our pid, only this file's heartbeat.
    setInterval(() => {
      const now = new Date();
      for (const l of myLeases) void utimes(l, now, now).catch(() => {});
    }, LEASE_HEARTBEAT_MS).unref();
    process.on('exit', () => {
      for (const l of myLeases) {
        try {
          unlinkSync(l);
        } catch {
          /* entry gone */
        }
      }
    });
  }
}

async function dropLease(dir: string): Promise<void> {
  const f = join(dir, USE, leaseName());
  myLeases.delete(f);
  await rm(f, { force: true });
}

/** How often a process refreshes the leases it holds, and when another host's lease has expired. */
export const LEASE_HEARTBEAT_MS = 60_000;
export const LEASE_STALE_MS = 6 * LEASE_HEARTBEAT_MS;

/** Leases of processes still alive: by pid on this host, by heartbeat for another host's. */
export async function liveLeases(dir: string, now = Date.now()): Promise<string[]> {
  const out: string[] = [];
  for (const n of await readdir(join(dir, USE)).catch(() => [] as string[])) {
    const [pid, host] = n.split('@');
    if (host === hostname()) {
      if (pidAlive(Number(pid))) out.push(n);
      continue;
    }
    const st = await stat(join(dir, USE, n)).catch(() => null);
    if (st && now - st.mtimeMs <= LEASE_STALE_MS) out.push(n);
  }
  return out;
}

/** When the entry was last taken into use (or built). */
export async function lastUsed(dir: string): Promise<number> {
  const times = await Promise.all([MARKER, USE].map((n) => stat(join(dir, n)).then((s) => s.mtimeMs, () => 0)));
  return Math.max(...times);
}

/**
 * Take a complete, intact entry into use (leased); false when it is absent,
 * half-built or damaged. The lease comes first, so an entry that passes the
 * check cannot be pruned between the check and its use.
 */
export async function openCached(dir: string, log?: (m: string) => void): Promise<boolean> {
  if (!(await exists(join(dir, MARKER)))) return false;
  try {
    await leaseEntry(dir);
  } catch {
    return false;
  }
  // Entries are immutable once sealed: one check per process (a bisection asks for its source at every step).
  if (verified.has(dir)) return true;
  const why = await verifyEntry(dir);
  if (why === null) {
    verified.add(dir);
    return true;
  }
  log?.(`cache entry ${dir} is damaged (${why}): rebuilding it`);
  await dropLease(dir);
  return false;
}

/** Move an entry out of the way (readers with open files keep them) and delete it once nobody uses it. */
export async function discardEntry(dir: string): Promise<void> {
  verified.delete(dir);
  const trash = `${dir}.trash-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await rename(dir, trash);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  // This process gives the entry up; only other users keep it alive.
  await dropLease(trash);
  myLeases.delete(join(dir, USE, leaseName()));
  if ((await liveLeases(trash)).length === 0) await rm(trash, { recursive: true, force: true });
}

/** `ENTRY.tmp-PID-HEX` (being built) and `ENTRY.trash-PID-HEX` (discarded, deleted once unused) beside an entry. */
export const ENTRY_TEMP_RE = /^(.+)\.(tmp|trash)-(\d+)-[0-9a-f]+$/;

/** Build temps of dead builders and discarded entries nobody uses any more are garbage. */
export async function removeGarbage(dir: string): Promise<string[]> {
  return removeGarbageIn(dirname(dir), basename(dir));
}

/** The same for every entry in a folder of entries (or only `base`'s). */
export async function removeGarbageIn(parent: string, base?: string): Promise<string[]> {
  const removed: string[] = [];
  for (const n of await readdir(parent).catch(() => [] as string[])) {
    const m = ENTRY_TEMP_RE.exec(n);
    if (!m || (base !== undefined && m[1] !== base)) continue;
    const p = join(parent, n);
    const dead = m[2] === 'tmp' ? !pidAlive(Number(m[3])) : (await liveLeases(p)).length === 0;
    if (dead) {
      await rm(p, { recursive: true, force: true });
      removed.push(n);
    }
  }
  return removed;
}

export interface BuildCachedOptions {
  /** Rebuild even when the entry is whole (the old one is discarded, not deleted under its users). */
  force?: boolean;
  /** The entry holds secrets (private keys): make it readable by its owner only. */
  private?: boolean;
  log?: (m: string) => void;
}

/**
 * The entry at `dir`, built by `build(tmpDir)` unless it exists whole. One
 * process builds; others asking meanwhile wait and reuse its result.
 * Returns true when this call built it.
 */
export async function buildCached(dir: string, build: (tmpDir: string) => Promise<void>, opts: BuildCachedOptions = {}): Promise<boolean> {
  if (!opts.force && (await openCached(dir, opts.log))) {
    // Entries made before they were private get their mode fixed on use.
    if (opts.private) await chmod(dir, 0o700);
    return false;
  }
  await mkdir(dirname(dir), { recursive: true });
  return withLock(
    `${dir}.lock`,
    async () => {
      if (!opts.force && (await openCached(dir, opts.log))) return false;
      await removeGarbage(dir);
      if (await lstat(dir).then(() => true, () => false)) await discardEntry(dir);
      const tmp = `${dir}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
      await mkdir(tmp, { recursive: true });
      if (opts.private) await chmod(tmp, 0o700);
      try {
        await build(tmp);
        await sealEntry(tmp);
        await rename(tmp, dir);
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        throw e;
      }
      await syncDir(dirname(dir));
      await leaseEntry(dir);
      return true;
    },
    { onWait: (holder) => opts.log?.(`waiting for ${holder} to finish building ${relative(dirname(dirname(dir)), dir)}`) },
  );
}
