// A guest others can attach to: whichever process owns the QEMU (a `shell`
// session, or the keeper of `run --keep`) serves it from the run directory.
//
//   RUN/guest.json    who owns it (pid, host, boot id), ssh port, where the rest is
//   RUN/ssh/          key, known_hosts and an ssh_config: `ssh -F RUN/ssh/config ID`
//   guest.sock        unix socket (in RUN, or the temp dir when RUN's path is too
//                     long for one): attach says hello and is told of every kernel
//                     report as it happens; stop asks the owner to end the guest
//
// Nothing outlives the owner: QEMU dies with it (pdeathsig), and guest.json
// names the owner's pid and the host's boot id, so a reader tells a guest
// that is up from one whose owner died or whose host rebooted since. A kept
// guest nobody is attached to (no attach, no ssh connection) is stopped after
// its idle limit, and no guest lives past the harness's 6 h lifetime cap.
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdir, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { writeFileAtomic, writeJsonAtomic } from '../host/fsutil.ts';
import { pidAlive } from '../host/pid.ts';
import { ReportDetector } from '../oracle/index.ts';
import type { CrashReport, ImageArtifact } from '../results/records.ts';
import type { Session } from './session.ts';

export interface GuestInfo {
  schema: 1;
  run: string;
  runDir: string;
  /** shell: a person's session owns it; kept: left up by `run --keep`. */
  mode: 'shell' | 'kept';
  owner: { pid: number; hostname: string; bootId: string };
  qemuPid: number | null;
  startedAt: string;
  ssh: { host: string; port: number; user: string; identity: string; knownHosts: string; config: string; hostKey: string };
  socket: string;
  /** A kept guest with nobody attached is stopped after this long (null: never, the owner is a person's shell). */
  idleLimitMs: number | null;
}

export const GUEST_FILE = 'guest.json';

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
  | { event: 'stopping'; why: string };

export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** Whether the guest a guest.json describes can still be up, and if not, why. */
export function guestState(g: Pick<GuestInfo, 'owner'>, here = { hostname: hostname(), bootId: bootId() }, alive: (pid: number) => boolean = pidAlive): { up: true } | { up: false; why: string } {
  if (g.owner.hostname !== here.hostname) return { up: false, why: `owned by pid ${g.owner.pid} on another host (${g.owner.hostname})` };
  if (g.owner.bootId !== here.bootId) return { up: false, why: 'the host rebooted since it was started: the guest is gone' };
  if (!alive(g.owner.pid)) return { up: false, why: `its owner (pid ${g.owner.pid}) died: the guest went with it` };
  return { up: true };
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

function socketPath(runDir: string, run: string): string {
  const p = join(runDir, 'guest.sock');
  // A unix socket path must fit in sun_path (108 bytes).
  return Buffer.byteLength(p) < 100 ? p : join(tmpdir(), `daxh-${run}.sock`);
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
  ) {}

  static async start(o: HostOptions): Promise<GuestHost> {
    const sshDir = join(o.runDir, 'ssh');
    await mkdir(sshDir, { recursive: true, mode: 0o700 });
    const identity = join(sshDir, 'key');
    const knownHosts = join(sshDir, 'known_hosts');
    const config = join(sshDir, 'config');
    const port = o.session.spec.sshPort;
    await writeFile(identity, o.image.sshPrivateKey.endsWith('\n') ? o.image.sshPrivateKey : `${o.image.sshPrivateKey}\n`, { mode: 0o600 });
    await writeFileAtomic(knownHosts, `[127.0.0.1]:${port} ${keyType(o.image.hostKeyBlob)} ${o.image.hostKeyBlob}\n`);
    await writeFileAtomic(
      config,
      [`Host ${o.run}`, '  HostName 127.0.0.1', `  Port ${port}`, '  User root', `  IdentityFile ${identity}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${knownHosts}`, '  StrictHostKeyChecking yes', ''].join('\n'),
    );
    const socket = socketPath(o.runDir, o.run);
    await rm(socket, { force: true });
    const info: GuestInfo = {
      schema: 1,
      run: o.run,
      runDir: o.runDir,
      mode: o.mode,
      owner: { pid: process.pid, hostname: hostname(), bootId: bootId() },
      qemuPid: o.session.machine.pid ?? null,
      startedAt: new Date().toISOString(),
      ssh: { host: '127.0.0.1', port, user: 'root', identity, knownHosts, config, hostKey: o.image.hostKeyBlob },
      socket,
      idleLimitMs: o.idleLimitMs,
    };
    let host: GuestHost | null = null;
    const server = createServer((s) => host?.accept(s));
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(socket, () => res());
    });
    host = new GuestHost(info, server, o);
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

  private accept(s: Socket): void {
    this.clients.add(s);
    this.idleSince = Date.now();
    onMessages<{ cmd?: string; pid?: number }>(s, (msg) => {
      if (msg.cmd === 'hello') send(s, { event: 'hello', run: this.info.run, mode: this.info.mode });
      else if (msg.cmd === 'stop') this.stop(`stopped by dax-harness stop${msg.pid ? ` (pid ${msg.pid})` : ''}`);
    });
    const gone = () => {
      this.clients.delete(s);
      this.idleSince = Date.now();
    };
    s.on('close', gone);
    s.on('error', gone);
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
    await rm(this.info.socket, { force: true });
    await rm(join(this.o.runDir, GUEST_FILE), { force: true });
    await rm(join(this.o.runDir, 'ssh'), { recursive: true, force: true });
  }
}

/** One JSON object a line; a line that does not parse (cut by the other side going away) is skipped. */
function onMessages<T>(s: Socket, fn: (msg: T) => void): void {
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

/** The client side of guest.sock: events in, commands out. */
export async function connectHost(info: GuestInfo, onEvent: (ev: HostEvent) => void): Promise<{ send(cmd: Record<string, unknown>): void; close(): void; closed: Promise<void> }> {
  const s = createConnection(info.socket);
  await new Promise<void>((res, rej) => {
    s.once('connect', () => res());
    s.once('error', rej);
  });
  onMessages<HostEvent>(s, onEvent);
  const closed = new Promise<void>((r) => {
    s.on('close', () => r());
    s.on('error', () => r());
  });
  return {
    send: (cmd) => s.write(`${JSON.stringify(cmd)}\n`),
    close: () => s.end(),
    closed,
  };
}
