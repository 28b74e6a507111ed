// Private places on a shared host: directories only their owner can enter
// (the sockets in them are then out of everyone else's reach, whatever mode
// bind() gave them under the umask), unix socket paths of any length, and
// removals that stay inside the directory they were meant for.
import { closeSync, openSync } from 'node:fs';
import { chmod, lstat, mkdir, realpath, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';

export function myUid(): number {
  return process.getuid?.() ?? 0;
}

/**
 * DIR as a directory of this user's, mode 0700, created if missing. One that
 * is there already must be a real directory (not a symlink) and this user's:
 * anything else is refused rather than used, since whoever owns it could
 * read or replace what goes in.
 */
export async function privateDir(path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  try {
    await mkdir(path, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = await lstat(path);
  if (!st.isDirectory()) throw new Error(`${path} is not a directory (a symlink or a file is in its place): remove it and run again`);
  if (st.uid !== myUid()) throw new Error(`${path} belongs to uid ${st.uid}, not to this user (uid ${myUid()}): remove it and run again`);
  // mkdir's mode is cut by the umask (never widened), and a directory that was there keeps its own mode.
  if ((st.mode & 0o777) !== 0o700) await chmod(path, 0o700);
  return path;
}

/** Why DIR is not private to its owner (a symlink, not a directory, group/other bits), or null if it is. */
export async function notPrivate(path: string): Promise<string | null> {
  const st = await lstat(path).catch(() => null);
  if (!st) return `${path} is missing`;
  if (st.isSymbolicLink()) return `${path} is a symlink`;
  if (!st.isDirectory()) return `${path} is not a directory`;
  if (st.mode & 0o077) return `${path} has mode ${(st.mode & 0o777).toString(8)}, not 700`;
  return null;
}

/** sun_path is 108 bytes with its NUL. */
const SUN_PATH_MAX = 107;

/**
 * A path that reaches the unix socket NAME in DIR. DIR/NAME when it fits in
 * sun_path; else the same file through /proc/self/fd/N of an open handle on
 * DIR, which always fits and never leaves DIR (the tmpdir fallback it
 * replaces put sockets in a world-writable directory). release() closes the
 * handle: a server keeps it until it stops listening (the socket file is
 * unlinked by that path on close).
 */
export function socketPath(dir: string, name: string): { path: string; release: () => void } {
  const direct = join(dir, name);
  if (Buffer.byteLength(direct) <= SUN_PATH_MAX) return { path: direct, release: () => {} };
  const fd = openSync(dir, 'r');
  let open = true;
  return {
    path: `/proc/self/fd/${fd}/${name}`,
    release: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/**
 * P as a path inside ROOT that removing cannot take outside it, or null.
 * Every directory on the way must resolve (symlinks followed) inside ROOT;
 * the last component itself is left as it is, since rm removes a symlink,
 * not what it points at. ROOT itself is never "inside".
 *
 * Used for every path a file in a run directory names (guest.json and the
 * like): such a file may be stale, forged by whoever could write there, or
 * copied from another host, and its word alone must not delete anything else.
 */
export async function resolveInside(root: string, p: string): Promise<string | null> {
  const top = await realpath(root).catch(() => null);
  if (!top) return null;
  const abs = resolve(root, p);
  const name = basename(abs);
  if (!name || name === '.' || name === '..') return null;
  const parent = await realpath(dirname(abs)).catch(() => null);
  if (!parent) return null;
  const full = join(parent, name);
  return full.startsWith(top + sep) ? full : null;
}

/**
 * rm -rf P if it is inside ROOT (see resolveInside); false when refused.
 * Whoever can write inside ROOT could still swap a directory for a symlink
 * between the check and the removal; only ROOT's owner (or root) can, and
 * they can delete what they like anyway.
 */
export async function removeInside(root: string, p: string): Promise<boolean> {
  const full = await resolveInside(root, p);
  if (!full) return false;
  await rm(full, { recursive: true, force: true });
  return true;
}
