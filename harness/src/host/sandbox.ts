// The one wrapper for every process that handles untrusted input: make on a
// mailed series (its Makefiles and scripts run code), git applying it, and
// QEMU running a kernel under test. Each runs in a bubblewrap sandbox that
// sees the host read-only, has no network (QEMU keeps the host's, for its
// user-mode network's forwarded ssh port, and restricts the guest itself),
// no view of the harness's other processes, and writes only the paths it is
// given. A harness started as root also hands these processes to an
// unprivileged user: root is for installing host packages, never for running
// what a patch or a guest controls.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isWithin } from './paths.ts';
import { InputError } from './errors.ts';
import { envValue, type EnvName } from './env.ts';

/** No unprivileged account to hand the work to; the message is the fix. */
export class SandboxUserError extends InputError {}

export interface SandboxSpec {
  /** Paths (directories or existing files) the command may write, bound at the same path. */
  writable?: string[];
  /** Paths it must read that may lie under directories its user cannot enter. */
  readable?: string[];
  /** Device nodes it needs (/dev/kvm). */
  devices?: string[];
  /** Stay in the host's network namespace (QEMU: hostfwd listens on the host's loopback). */
  hostNetwork?: boolean;
  /**
   * Keep the harness's own uid, without capabilities, instead of switching to
   * the sandbox user: for git writing into a repository that root owns. The
   * command still cannot write outside `writable` nor reach the network.
   */
  keepUid?: boolean;
  cwd?: string;
}

export interface SandboxUser {
  uid: number;
  gid: number;
  name: string;
}

const BWRAP = 'bwrap';
/**
 * setpriv by its path: bwrap must exec it inside the sandbox, where the
 * caller's PATH may name directories only the host sees. proc.ts's
 * pdeathsig wrapper uses the same binary.
 */
export const SETPRIV = '/usr/bin/setpriv';
export const SANDBOX_ENV = 'DAX_HARNESS_SANDBOX' satisfies EnvName;
export const SANDBOX_USER_ENV = 'DAX_HARNESS_SANDBOX_USER' satisfies EnvName;
/** The system account a root harness creates for what it runs on others' behalf. */
export const SANDBOX_ACCOUNT = 'dax-harness';

/** Off only on the user's explicit word (a host whose kernel refuses user namespaces). */
export function sandboxEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = envValue(SANDBOX_ENV, env);
  return !(v === '0' || v === 'off' || v === 'no');
}

let userMemo: SandboxUser | null | undefined;

/**
 * Whom sandboxed processes run as: null when the harness is not root (they
 * run as the user who started it). As root: $DAX_HARNESS_SANDBOX_USER (a
 * name or uid[:gid]), else the `dax-harness` system account, created on first
 * use; `nobody` only if the account cannot be made.
 */
export function sandboxUser(): SandboxUser | null {
  if (userMemo !== undefined) return userMemo;
  if (process.geteuid?.() !== 0) return (userMemo = null);
  const wanted = envValue(SANDBOX_USER_ENV);
  if (wanted) {
    const u = lookupUser(wanted);
    if (!u || u.uid === 0)
      throw new SandboxUserError(`${SANDBOX_USER_ENV}=${wanted} is not an unprivileged user on this host: name an existing non-root user, or unset it`);
    return (userMemo = u);
  }
  let u = lookupUser(SANDBOX_ACCOUNT);
  if (!u) {
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', SANDBOX_ACCOUNT], { stdio: 'ignore', timeout: 30_000 });
    } catch {
      // Another harness may have created it meanwhile; looked up again below.
    }
    u = lookupUser(SANDBOX_ACCOUNT) ?? lookupUser('nobody');
  }
  if (!u) throw new SandboxUserError(`no unprivileged account to run builds and QEMU as: create one (useradd --system ${SANDBOX_ACCOUNT}) or set ${SANDBOX_USER_ENV}`);
  return (userMemo = u);
}

/** For tests: forget the memoised user. */
export function resetSandboxUser(): void {
  userMemo = undefined;
}

function lookupUser(spec: string): SandboxUser | null {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  if (numeric) {
    const uid = Number(numeric[1]);
    const gid = numeric[2] !== undefined ? Number(numeric[2]) : uid;
    return { uid, gid, name: String(uid) };
  }
  if (!/^[a-z_][a-z0-9_-]*\$?$/i.test(spec)) return null;
  try {
    const line = execFileSync('getent', ['passwd', spec], { encoding: 'utf8', timeout: 10_000 }).trim();
    const f = line.split(':');
    return f.length >= 4 ? { uid: Number(f[2]), gid: Number(f[3]), name: f[0] } : null;
  } catch {
    return null;
  }
}

function groupId(name: string): number | null {
  try {
    const f = execFileSync('getent', ['group', name], { encoding: 'utf8', timeout: 10_000 }).trim().split(':');
    return f.length >= 3 ? Number(f[2]) : null;
  } catch {
    return null;
  }
}

/** The ancestors of a path, outermost first, the path itself excluded. */
function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let d = dirname(p); d !== dirname(d); d = dirname(d)) out.unshift(d);
  return out;
}

/** Can `who` enter directory d (search permission), by its mode bits? */
function traversable(d: string, who: SandboxUser | null): boolean {
  if (!who) return true;
  try {
    const st = statSync(d);
    if (st.mode & 0o001) return true;
    if (st.uid === who.uid) return (st.mode & 0o100) !== 0;
    if (st.gid === who.gid) return (st.mode & 0o010) !== 0;
    return false;
  } catch {
    return true;
  }
}

export interface Wrapped {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * Pure apart from stat: the bwrap command that runs `file args` in the
 * sandbox. Directories on the way to a bound path that the sandbox user may
 * not enter (root's 0700 home with the cache in it, a mkdtemp directory) are
 * covered with an empty tmpfs and the way rebuilt with plain directories, so
 * the user reaches exactly the bound paths and nothing beside them.
 */
export function sandboxCommand(file: string, args: readonly string[], spec: SandboxSpec, who: SandboxUser | null): Wrapped {
  const writable = (spec.writable ?? []).map((p) => resolve(p));
  const readable = (spec.readable ?? []).map((p) => resolve(p));
  const drop = spec.keepUid ? null : who;
  const argv: string[] = ['--die-with-parent', '--new-session', '--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup-try'];
  if (!spec.hostNetwork) argv.push('--unshare-net');
  argv.push('--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc');
  const tmpfs = ['/tmp'];
  for (const p of [...writable, ...readable]) {
    if (tmpfs.some((t) => isWithin(p, t))) continue;
    const hidden = ancestors(p).find((a) => !traversable(a, drop));
    if (hidden && !tmpfs.some((t) => isWithin(hidden, t))) {
      // A covering tmpfs replaces any narrower one chosen before it.
      for (let i = tmpfs.length - 1; i >= 0; i--) if (isWithin(tmpfs[i], hidden)) tmpfs.splice(i, 1);
      tmpfs.push(hidden);
    }
  }
  tmpfs.sort((a, b) => a.length - b.length);
  // /tmp stays a place anyone may write to (gcc's temporaries); a tmpfs that
  // only hides a private directory is root's.
  for (const t of tmpfs) argv.push('--perms', t === '/tmp' ? '1777' : '0755', '--tmpfs', t);
  const made = new Set<string>();
  const bind = (p: string, flag: string) => {
    const t = tmpfs.filter((x) => isWithin(p, x)).sort((a, b) => b.length - a.length)[0];
    if (t) {
      for (const a of ancestors(p)) {
        if (a.length <= t.length || !isWithin(a, t) || made.has(a)) continue;
        made.add(a);
        argv.push('--perms', '0755', '--dir', a);
      }
    }
    argv.push(flag, p, p);
  };
  // Read-only first: a writable path inside a readable one must win.
  for (const p of [...readable].sort((a, b) => a.length - b.length)) if (existsSync(p)) bind(p, '--ro-bind');
  for (const p of [...writable].sort((a, b) => a.length - b.length)) bind(p, '--bind');
  for (const d of spec.devices ?? []) if (existsSync(d)) argv.push('--dev-bind', d, d);
  if (spec.cwd) argv.push('--chdir', resolve(spec.cwd));
  const env: Record<string, string> = {};
  if (drop) {
    // The switch happens inside, after bwrap has mounted as root: the user
    // then holds no capability and cannot regain one (no_new_privs).
    const groups = (spec.devices ?? []).includes('/dev/kvm') ? groupId('kvm') : null;
    argv.push(
      '--', SETPRIV, `--reuid=${drop.uid}`, `--regid=${drop.gid}`,
      ...(groups !== null ? [`--groups=${groups}`] : ['--clear-groups']),
      '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--', file, ...args,
    );
    Object.assign(env, { HOME: '/tmp', USER: drop.name, LOGNAME: drop.name });
  } else {
    if (process.geteuid?.() === 0) argv.push('--cap-drop', 'ALL');
    argv.push('--', file, ...args);
  }
  return { file: BWRAP, args: argv, env };
}

/**
 * Hand the paths a sandboxed command writes to the sandbox user (a root
 * harness only): what root made there since (a .config, a fresh directory)
 * would otherwise be read-only to the build.
 */
export function giveToSandboxUser(paths: string[], who: SandboxUser | null = sandboxUser()): void {
  if (!who) return;
  for (const p of paths) chownTree(p, who);
}

function chownTree(p: string, who: SandboxUser): void {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return;
  }
  if (st.isSymbolicLink()) return;
  if (st.uid !== who.uid || st.gid !== who.gid) chownSync(p, who.uid, who.gid);
  if (st.isDirectory()) for (const e of readdirSync(p)) chownTree(`${p}/${e}`, who);
}
