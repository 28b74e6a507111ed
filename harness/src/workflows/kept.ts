// A guest others can attach to: whichever process owns the QEMU (a `shell`
// session, or the keeper of `run --keep`) serves it from the run directory.
//
//   RUN/guest.json    who owns it (pid, host, boot id), ssh port, where the rest is
//   RUN/ssh/          key, known_hosts and an ssh_config: `ssh -F RUN/ssh/config ID`
//   RUN/guest/sock    unix socket: attach says hello and is told of every kernel
//                     report as it happens; stop asks the owner to end the guest
//   RUN/guest/token   what a client proves itself with (see below)
//
// Nothing outlives the owner: QEMU dies with it (pdeathsig), and guest.json
// names the owner's pid and the host's boot id, so a reader tells a guest
// that is up from one whose owner died or whose host rebooted since. A kept
// guest nobody is attached to (no attach, no ssh connection) is stopped after
// its idle limit, and no guest lives past the harness's 6 h lifetime cap.
//
// Only the user who started the guest, or root, may attach or stop it. The
// kernel enforces most of that: RUN/guest/ is 0700 (its socket 0600), so
// nobody else can connect, and every client checks that the directory is
// still private and its own before it sends anything. Node cannot read a
// unix socket's peer credentials (no SO_PEERCRED), and scanning /proc for
// the peer's inode needs root to see other users' sockets; so the owner
// checks a secret instead: a random token in RUN/guest/token (0600), which
// only the owner and root can read. A connection that does not present it
// first is refused, and is not counted as attached (the idle limit runs on).
// The owner's pid is recorded with its start time and command line, and is
// signalled only while they still match (host/pid.ts).
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { chmod, lstat, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { writeFileAtomic, writeJsonAtomic } from '../host/fsutil.ts';
import { checkProcess, procIdentity, type PidCheck } from '../host/pid.ts';
import { myUid, notPrivate, privateDir, socketPath } from '../host/private.ts';
import { ReportDetector } from '../oracle/index.ts';
import type { CrashReport, ImageArtifact } from '../results/records.ts';
import type { Session } from './session.ts';

export interface GuestInfo {
  schema: 1;
  run: string;
  runDir: string;
  /** shell: a person's session owns it; kept: left up by `run --keep`. */
  mode: 'shell' | 'kept';
  /**
   * startTime and cmdline (host/pid.ts) tell the owner from a later process
   * given its pid; a guest.json of an older harness has neither, and its
   * owner is then never signalled. uid: who started it (shown to others).
   */
  owner: { pid: number; hostname: string; bootId: string; startTime?: string; cmdline?: string[]; uid?: number };
  qemuPid: number | null;
  startedAt: string;
  ssh: { host: string; port: number; user: string; identity: string; knownHosts: string; config: string; hostKey: string };
  socket: string;
  /** A kept guest with nobody attached is stopped after this long (null: never, the owner is a person's shell). */
  idleLimitMs: number | null;
}

export const GUEST_FILE = 'guest.json';
/** The owner's private directory in RUN: socket and token. */
export const GUEST_DIR = 'guest';
const SOCKET = 'sock';
const TOKEN = 'token';
/** Longest line a client may send before it has shown its token (hello and stop are well under 200 bytes). */
const UNAUTH_LINE_MAX = 4096;

/** What a person is told of a kernel report (also what attach is sent). */
export interface CrashNote {
  title: string;
  fatal: boolean;
  /** The stack, innermost first (function names). */
  frames: string[];
  /** Where it is in console.log (zero-based lines). */
  startLine: number;
  endLine: number;
}

export function crashNote(r: CrashReport): CrashNote {
  const frames = [r.rip?.fn, ...(r.frames ?? []).map((f) => f.fn)].filter((f): f is string => Boolean(f));
  return { title: r.title, fatal: r.fatal, frames: [...new Set(frames)], startLine: r.startLine, endLine: r.endLine };
}

/** The lines a kernel report gets on the terminal while someone works in the guest. */
export function crashNotice(n: CrashNote, runDir: string, depth = 8): string[] {
  const out = [`[dax-harness] kernel report: ${n.title}${n.fatal ? ' (the guest is going down)' : ''}`];
  if (n.frames.length) out.push(`[dax-harness]   ${n.frames.slice(0, depth).join(' < ')}${n.frames.length > depth ? ' < ...' : ''}`);
  out.push(`[dax-harness]   recorded in ${runDir}/run.json; the report is console.log lines ${n.startLine + 1}-${n.endLine + 1}`);
  return out;
}


/** Messages on guest.sock, one JSON object a line. */
export type HostEvent =
  | { event: 'hello'; run: string; mode: GuestInfo['mode'] }
  | ({ event: 'crash' } & CrashNote)
  | { event: 'stopping'; why: string }
  | { event: 'refused'; why: string };

export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/**
 * Whether the guest a guest.json describes can still be up, and if not, why.
 * A pid that now names another process (same pid, other start time or
 * command line) is a dead owner, not a live one.
 */
export function guestState(g: Pick<GuestInfo, 'owner'>, here = { hostname: hostname(), bootId: bootId() }, check: (owner: GuestInfo['owner']) => PidCheck = checkProcess): { up: true } | { up: false; why: string } {
  if (g.owner.hostname !== here.hostname) return { up: false, why: `owned by pid ${g.owner.pid} on another host (${g.owner.hostname})` };
  if (g.owner.bootId !== here.bootId) return { up: false, why: 'the host rebooted since it was started: the guest is gone' };
  const c = check(g.owner);
  if (c === 'gone') return { up: false, why: `its owner (pid ${g.owner.pid}) died: the guest went with it` };
  if (c === 'other') return { up: false, why: `its owner (pid ${g.owner.pid}) died and the pid now belongs to another process: the guest went with it` };
  return { up: true };
}

function passwdText(): string {
  try {
    return readFileSync('/etc/passwd', 'utf8');
  } catch {
    return '';
  }
}

/** uid N as `uid N (name)` when /etc/passwd names it. */
export function userLabel(uid: number, passwd = passwdText()): string {
  const name = passwd.split('\n').map((l) => l.split(':')).find((f) => f[2] === String(uid))?.[0];
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

/**
 * Why this user may not attach to or stop the guest in DIR, or null if they
 * may: only whoever owns the guest's files (the user who started it) and
 * root. Said before anything is tried, in one line; the kernel (0700
 * directory) and the owner (token) refuse anyway.
 */
export async function guestRefusal(dir: string, run: string, verb: 'attach to' | 'stop', me = myUid()): Promise<string | null> {
  if (me === 0) return null;
  const st = (await lstat(join(dir, GUEST_DIR)).catch(() => null)) ?? (await lstat(join(dir, GUEST_FILE)).catch(() => null));
  if (!st || st.uid === me) return null;
  return `the guest of ${run} was started by ${userLabel(st.uid)}: only that user or root may ${verb} it`;
}

/** The ssh key type named inside a public key blob (ssh-ed25519, ssh-rsa...). */
export function keyType(blobBase64: string): string {
  const b = Buffer.from(blobBase64, 'base64');
  const n = b.length >= 4 ? b.readUInt32BE(0) : 0;
  return n > 0 && n < 64 && b.length >= 4 + n ? b.subarray(4, 4 + n).toString('latin1') : 'ssh-ed25519';
}

/**
 * Sockets in /proc/net/tcp{,6} text that are ESTABLISHED connections to
 * 127.0.0.1:port from a client (the client side's entry: remote port = port),
 * as socket inodes.
 */
export function clientInodes(procNetTcp: string, port: number): number[] {
  const out: number[] = [];
  for (const line of procNetTcp.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^[0-9A-F]+:[0-9A-F]{4}$/i.test(f[2] ?? '')) continue;
    const remotePort = parseInt(f[2]!.split(':')[1]!, 16);
    if (remotePort === port && f[3] === '01') out.push(Number(f[9]));
  }
  return out;
}

/** ssh connections to the guest from anyone but this process (attach, a plain `ssh -F`). */
async function outsideConnections(port: number): Promise<number> {
  const text = (await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((f) => readFile(f, 'utf8').catch(() => '')))).join('\n');
  const own = new Set<number>();
  for (const fd of await readdir('/proc/self/fd').catch(() => [] as string[])) {
    const l = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(l);
    if (m) own.add(Number(m[1]));
  }
  return clientInodes(text, port).filter((i) => !own.has(i)).length;
}

export interface HostOptions {
  session: Session;
  image: Pick<ImageArtifact, 'sshPrivateKey' | 'hostKeyBlob'>;
  runDir: string;
  run: string;
  mode: GuestInfo['mode'];
  idleLimitMs: number | null;
  /** Every kernel report the console shows from now on, as it happens. */
  onCrash: (r: CrashReport) => void;
  /** How often the idle check runs (tests make it short). */
  checkEveryMs?: number;
}

/** The owner's side: files, socket, live console watch, idle limit. */
export class GuestHost {
  private clients = new Set<Socket>();
  private stopWhy: string | null = null;
  private stopWaiters: Array<(why: string) => void> = [];
  private idleSince = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private offConsole: () => void = () => {};
  private detector: ReportDetector | null = null;

  private constructor(
    readonly info: GuestInfo,
    private readonly server: Server,
    private readonly o: HostOptions,
    private readonly token: Buffer,
    private readonly releaseSocket: () => void,
  ) {}

  static async start(o: HostOptions): Promise<GuestHost> {
    const sshDir = await privateDir(join(o.runDir, 'ssh'));
    const identity = join(sshDir, 'key');
    const knownHosts = join(sshDir, 'known_hosts');
    const config = join(sshDir, 'config');
    const port = o.session.spec.sshPort;
    await writeFileAtomic(identity, o.image.sshPrivateKey.endsWith('\n') ? o.image.sshPrivateKey : `${o.image.sshPrivateKey}\n`, { mode: 0o600 });
    await writeFileAtomic(knownHosts, `[127.0.0.1]:${port} ${keyType(o.image.hostKeyBlob)} ${o.image.hostKeyBlob}\n`);
    await writeFileAtomic(
      config,
      [`Host ${o.run}`, '  HostName 127.0.0.1', `  Port ${port}`, '  User root', `  IdentityFile ${identity}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${knownHosts}`, '  StrictHostKeyChecking yes', ''].join('\n'),
    );
    const ctl = await privateDir(join(o.runDir, GUEST_DIR));
    const token = randomBytes(32);
    await writeFileAtomic(join(ctl, TOKEN), `${token.toString('hex')}\n`, { mode: 0o600 });
    const socket = join(ctl, SOCKET);
    await rm(socket, { force: true });
    const me = procIdentity(process.pid);
    const info: GuestInfo = {
      schema: 1,
      run: o.run,
      runDir: o.runDir,
      mode: o.mode,
      owner: { pid: process.pid, hostname: hostname(), bootId: bootId(), startTime: me?.startTime, cmdline: me?.cmdline, uid: myUid() },
      qemuPid: o.session.machine.pid ?? null,
      startedAt: new Date().toISOString(),
      ssh: { host: '127.0.0.1', port, user: 'root', identity, knownHosts, config, hostKey: o.image.hostKeyBlob },
      socket,
      idleLimitMs: o.idleLimitMs,
    };
    let host: GuestHost | null = null;
    const server = createServer((s) => (host ? host.accept(s) : s.destroy()));
    const addr = socketPath(ctl, SOCKET);
    try {
      await new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(addr.path, () => res());
      });
      // bind() gave it the umask's mode; the 0700 directory kept it out of reach meanwhile.
      await chmod(addr.path, 0o600);
    } catch (e) {
      server.close();
      addr.release();
      throw e;
    }
    host = new GuestHost(info, server, o, Buffer.from(token.toString('hex')), addr.release);
    host.watch();
    await writeJsonAtomic(join(o.runDir, GUEST_FILE), info);
    return host;
  }

  private watch(): void {
    const det = new ReportDetector({
      onReport: (r) => {
        this.broadcast({ event: 'crash', ...crashNote(r) });
        this.o.onCrash(r);
      },
    });
    this.detector = det;
    this.offConsole = this.o.session.machine.console.subscribe((line) => det.push(line));
    void this.o.session.machine.exited.then(() => {
      det.flush();
      this.stop('the guest went down');
    });
    if (this.o.idleLimitMs !== null) {
      const limit = this.o.idleLimitMs;
      this.timer = setInterval(() => {
        void outsideConnections(this.info.ssh.port).then((n) => {
          if (this.clients.size > 0 || n > 0) this.idleSince = Date.now();
          else if (Date.now() - this.idleSince >= limit) this.stop(`nobody attached for ${Math.round(limit / 60000)} min (the idle limit)`);
        });
      }, this.o.checkEveryMs ?? 30000);
      this.timer.unref();
    }
  }

  private authentic(token: unknown): boolean {
    if (typeof token !== 'string') return false;
    const b = Buffer.from(token);
    return b.length === this.token.length && timingSafeEqual(b, this.token);
  }

  private accept(s: Socket): void {
    let authed = false;
    let refused = false;
    // Whoever connects must show the token at once; until then it holds no slot and no timer of ours.
    const deadline = setTimeout(() => s.destroy(), 10000);
    deadline.unref();
    const gone = () => {
      clearTimeout(deadline);
      if (this.clients.delete(s)) this.idleSince = Date.now();
    };
    s.on('close', gone);
    s.on('error', gone);
    onMessages<{ cmd?: string; pid?: number; token?: unknown }>(
      s,
      (msg) => {
        if (refused) return;
        if (!authed) {
          if (!this.authentic(msg.token)) {
            refused = true;
            send(s, { event: 'refused', why: 'the guest token is wrong or missing: only the user who started the guest, or root, may use it' });
            s.end();
            return;
          }
          authed = true;
          clearTimeout(deadline);
          this.clients.add(s);
          this.idleSince = Date.now();
        }
        if (msg.cmd === 'hello') send(s, { event: 'hello', run: this.info.run, mode: this.info.mode });
        else if (msg.cmd === 'stop') this.stop(`stopped by dax-harness stop${typeof msg.pid === 'number' ? ` (pid ${msg.pid})` : ''}`);
      },
      () => (authed ? CLIENT_LINE_MAX : UNAUTH_LINE_MAX),
    );
  }

  private broadcast(ev: HostEvent): void {
    for (const s of this.clients) send(s, ev);
  }

  /** Ask the owner to end the guest (idempotent): why goes to attached clients and to stopped. */
  stop(why: string): void {
    if (this.stopWhy !== null) return;
    this.stopWhy = why;
    this.broadcast({ event: 'stopping', why });
    for (const w of this.stopWaiters) w(why);
  }

  /** Resolves with why, once something asked the guest to end. */
  stopped(): Promise<string> {
    if (this.stopWhy !== null) return Promise.resolve(this.stopWhy);
    return new Promise((r) => this.stopWaiters.push(r));
  }

  attached(): number {
    return this.clients.size;
  }

  /** Stop serving: clients told, socket and files removed (run.json keeps the record). */
  async close(): Promise<void> {
    this.stop('the guest is shutting down');
    if (this.timer) clearInterval(this.timer);
    this.offConsole();
    this.detector?.flush();
    this.detector?.close();
    for (const s of this.clients) s.end();
    await new Promise<void>((r) => this.server.close(() => r()));
    this.releaseSocket();
    // Paths of our own making, not read back from guest.json.
    await rm(join(this.o.runDir, GUEST_FILE), { force: true });
    await rm(join(this.o.runDir, GUEST_DIR), { recursive: true, force: true });
    await rm(join(this.o.runDir, 'ssh'), { recursive: true, force: true });
  }
}

/** Longest line either side sends once a client is in (a crash note with a deep stack is a few KiB). */
const CLIENT_LINE_MAX = 1024 * 1024;

/**
 * One JSON object a line; a line that does not parse (cut by the other side
 * going away) is skipped. A line longer than max() ends the connection: the
 * other side is broken or hostile, and its bytes are not ours to keep.
 */
function onMessages<T>(s: Socket, fn: (msg: T) => void, max: () => number = () => CLIENT_LINE_MAX): void {
  s.setEncoding('utf8');
  let buf = '';
  s.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let msg: T;
      try {
        msg = JSON.parse(line) as T;
      } catch {
        continue;
      }
      fn(msg);
    }
    // What is left is one unfinished line: checked on every chunk, so it never grows past max() + one chunk.
    if (buf.length > max()) {
      buf = '';
      s.destroy();
    }
  });
}

function send(s: Socket, ev: HostEvent): void {
  if (!s.destroyed) s.write(`${JSON.stringify(ev)}\n`);
}

/** A guest.json read from RUN (an id under the results root, or a run directory). */
export async function readGuest(runDir: string): Promise<GuestInfo | null> {
  return readFile(join(runDir, GUEST_FILE), 'utf8')
    .then((t) => JSON.parse(t) as GuestInfo)
    .catch(() => null);
}

/** Every guest.json under a results root, with its state: what `dax-harness results` lists. */
export async function listGuests(root: string): Promise<Array<{ info: GuestInfo; state: ReturnType<typeof guestState> }>> {
  const out: Array<{ info: GuestInfo; state: ReturnType<typeof guestState> }> = [];
  for (const id of (await readdir(root).catch(() => [] as string[])).sort()) {
    const info = await readGuest(join(root, id));
    if (info) out.push({ info, state: guestState(info) });
  }
  return out;
}

/** This user may not use the guest (not theirs, or its directory is not private): one line says why. */
export class GuestRefusedError extends Error {
  override name = 'GuestRefusedError';
}

/**
 * The client side of RUN/guest/sock: checks the directory is private to its
 * owner before trusting the socket in it (the token goes to whoever listens
 * there), shows the token with a hello and waits for the owner's answer;
 * then events in, commands out.
 */
export async function connectHost(
  runDir: string,
  onEvent: (ev: HostEvent) => void,
  hello: { pid?: number } = {},
): Promise<{ send(cmd: Record<string, unknown>): void; close(): void; closed: Promise<void> }> {
  const ctl = join(runDir, GUEST_DIR);
  const loose = await notPrivate(ctl);
  if (loose) throw new GuestRefusedError(`not trusting the guest's socket: ${loose}`);
  const st = await lstat(ctl);
  if (myUid() !== 0 && st.uid !== myUid()) throw new GuestRefusedError(`the guest was started by ${userLabel(st.uid)}: only that user or root may use it`);
  const token = await readFile(join(ctl, TOKEN), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EACCES') throw new GuestRefusedError(`cannot read ${join(ctl, TOKEN)}: only the user who started the guest, or root, may use it`);
    throw e;
  });
  const addr = socketPath(ctl, SOCKET);
  const s = createConnection(addr.path);
  try {
    await new Promise<void>((res, rej) => {
      s.once('connect', () => res());
      s.once('error', rej);
    });
  } finally {
    addr.release();
  }
  const closed = new Promise<void>((r) => {
    s.on('close', () => r());
    s.on('error', () => r());
  });
  let answered: (ev: HostEvent | null) => void = () => {};
  const answer = new Promise<HostEvent | null>((r) => (answered = r));
  void closed.then(() => answered(null));
  let greeted = false;
  onMessages<HostEvent>(s, (ev) => {
    if (!greeted) {
      greeted = true;
      answered(ev);
    }
    onEvent(ev);
  });
  s.write(`${JSON.stringify({ cmd: 'hello', token: token.trim(), ...hello })}\n`);
  const timer = setTimeout(() => s.destroy(), 15000);
  const first = await answer;
  clearTimeout(timer);
  if (first?.event === 'refused') {
    s.destroy();
    throw new GuestRefusedError(first.why);
  }
  if (first?.event !== 'hello') {
    s.destroy();
    throw new Error(`the owner of the guest did not answer on ${join(ctl, SOCKET)}`);
  }
  return {
    send: (cmd) => s.write(`${JSON.stringify(cmd)}\n`),
    close: () => s.end(),
    closed,
  };
}
