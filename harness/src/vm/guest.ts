// The command channel into a guest: ssh2 over QEMU's user-net port forward.
// Readiness is polled with p-retry under a bounded total wait; each command
// streams its output and has its own timeout, after which its whole process
// group is killed in the guest.
//
// One command per ssh connection at a time. dropbear (2022.83, the image's
// sshd) closes a session channel that is between its open and its exec
// request whenever a SIGCHLD from another channel of the same connection is
// pending: check_close() sees no child yet, takes the unset fds for closed and
// sends EOF + CLOSE, and the client reads that as "Unable to exec" (the exec
// may even start, orphaned). Any child of the connection ending in that window
// triggers it: the kill channel of a timed-out command, a watchdog's probe
// finishing beside a long command. So concurrent commands get connections of
// their own (kept for reuse), and a connection goes back to the pool only when
// every channel it carried, kill channel included, has closed.
import ssh2, { type ClientChannel } from 'ssh2';
const { Client } = ssh2;
type Client = InstanceType<typeof Client>;
import pRetry, { AbortError } from 'p-retry';
import { connect } from 'node:net';
import type { CommandResult } from '../results/records.ts';
import { timerDelay } from '../host/limits.ts';

export class GuestUnreachableError extends Error {
  override name = 'GuestUnreachableError';
}
export class GuestLostError extends Error {
  override name = 'GuestLostError';
}
/**
 * The guest's sshd refused a channel or its exec request. With one command per
 * connection that means a real refusal (no fork, no fd) and the command did not
 * start, so it is retried.
 */
class ExecRefusedError extends Error {
  override name = 'ExecRefusedError';
}

export interface GuestConnectOptions {
  port: number;
  privateKey: string;
  /** Base64 of the host key blob the image was built with. */
  hostKeyBlob: string;
  /** Total time to keep trying. */
  deadlineMs: number;
  signal?: AbortSignal;
  /**
   * How long a guest may go silent before a connection is dropped (ssh
   * keepalives), and how long a new connection may take after one dropped
   * before the guest counts as lost. A stalled TCG guest can be silent for a
   * minute and recover.
   */
  silenceMs?: number;
}

export interface ExecOptions {
  timeoutMs: number;
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Stop early (e.g. the crash oracle saw a fatal report). */
  signal?: AbortSignal;
  /** Cap on what is kept in memory per stream; the rest is only streamed. */
  keepBytes?: number;
}

/** POSIX single-quote quoting: the remote side always gets argv, never a parsed string. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

const PID_MARK = '@@daxh-pid ';
const RC_MARK = '@@daxh-rc ';
const RC_RE = /^@@daxh-rc (\d+)\n?/m;

export class Guest {
  private closed = false;
  private lostReason: string | null = null;
  private lostListeners = new Set<(why: string) => void>();
  private idle: Client[] = [];
  private clients = new Set<Client>();
  private retired = new Set<Client>();
  private connecting: Promise<Client> | null = null;
  private clientListeners = new Map<Client, Set<(why: string) => void>>();

  private constructor(
    private readonly opts: GuestConnectOptions,
    first: Client,
  ) {
    this.adopt(first);
    this.idle.push(first);
  }

  /**
   * A dropped connection fails the commands it carried; the guest itself is
   * lost only if no new connection can be made within the silence allowance
   * (a guest that stalled and recovered keeps serving the next test).
   */
  private adopt(c: Client): void {
    this.clients.add(c);
    let gone = false;
    const lose = (why: string) => {
      if (gone || this.retired.has(c)) return;
      gone = true;
      this.clients.delete(c);
      this.idle = this.idle.filter((x) => x !== c);
      for (const l of this.clientListeners.get(c) ?? []) l(why);
      this.clientListeners.delete(c);
      if (!this.closed && !this.lostReason && !this.connecting) void this.lease().then((fresh) => this.release(fresh), () => {});
    };
    c.on('error', (e) => lose(`ssh error: ${e.message}`));
    c.on('close', () => lose('ssh connection closed'));
  }

  private onClientLost(c: Client, fn: (why: string) => void): () => void {
    let set = this.clientListeners.get(c);
    if (!set) this.clientListeners.set(c, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** How many ssh connections the guest channel holds (one per concurrent command at most). */
  connections(): number {
    return this.clients.size;
  }

  /** An idle connection, or a new one when every connection carries a command. */
  private async lease(): Promise<Client> {
    if (this.lostReason) throw new GuestLostError(this.lostReason);
    const c = this.idle.pop();
    if (c) return c;
    // The guest is up, so a connection only needs the handshake; one at a time
    // keeps a burst of commands from opening a burst of connections.
    while (this.connecting) await this.connecting.catch(() => {});
    const again = this.idle.pop();
    if (again) return again;
    const grace = this.opts.silenceMs ?? 30000;
    this.connecting = connectOnce(this.opts, grace);
    try {
      const fresh = await this.connecting;
      if (this.closed || this.lostReason) {
        fresh.end();
        throw new GuestLostError(this.lostReason ?? 'guest channel closed');
      }
      this.adopt(fresh);
      return fresh;
    } catch (e) {
      if (e instanceof GuestLostError) throw e;
      const why = `no ssh connection to the guest within ${grace} ms: ${(e as Error).message}`;
      this.markLost(why);
      throw new GuestLostError(why);
    } finally {
      this.connecting = null;
    }
  }

  private release(c: Client): void {
    if (this.closed || this.lostReason || !this.clients.has(c)) return;
    this.idle.push(c);
  }

  static async connect(o: GuestConnectOptions): Promise<Guest> {
    const started = Date.now();
    let attempts = 0;
    // Before the guest's NIC is up, QEMU's user net accepts a TCP connection
    // and then sits on it, so an ssh handshake started too early waits out its
    // whole timeout. A cheap probe for sshd's banner comes first.
    await waitForBanner(o.port, o.deadlineMs, o.signal).catch((e: unknown) => {
      throw new GuestUnreachableError(`guest sshd on 127.0.0.1:${o.port} sent no banner within ${o.deadlineMs} ms: ${(e as Error).message}`);
    });
    const client = await pRetry(
      async () => {
        attempts++;
        if (o.signal?.aborted) throw new AbortError(String(o.signal.reason ?? 'aborted'));
        // A loaded TCG guest can be slow to finish the handshake: grow the patience.
        const patience = Math.min(20000, 5000 * 1.5 ** (attempts - 1));
        return connectOnce(o, Math.max(1000, Math.min(patience, o.deadlineMs - (Date.now() - started))));
      },
      {
        retries: 10000,
        minTimeout: 100,
        maxTimeout: 400,
        factor: 1.3,
        randomize: false,
        maxRetryTime: o.deadlineMs,
        signal: o.signal,
      },
    ).catch((e: unknown) => {
      const why = e instanceof Error ? e.message : String(e);
      throw new GuestUnreachableError(`guest sshd on 127.0.0.1:${o.port} not ready after ${Date.now() - started} ms (${attempts} attempts): ${why}`);
    });
    return new Guest(o, client);
  }

  onLost(fn: (why: string) => void): () => void {
    this.lostListeners.add(fn);
    return () => this.lostListeners.delete(fn);
  }

  private markLost(why: string): void {
    if (this.closed || this.lostReason) return;
    this.lostReason = why;
    for (const l of this.lostListeners) l(why);
  }

  /** Run argv in the guest. Never throws for the command's own failure; throws GuestLostError if the guest stops answering. */
  async exec(argv: string[], o: ExecOptions): Promise<CommandResult> {
    if (this.lostReason) throw new GuestLostError(this.lostReason);
    const keep = o.keepBytes ?? 4 * 1024 * 1024;
    // dropbear runs every channel's command inside the connection's own process
    // group, so setsid gives the command a group of its own (and its pid, printed
    // first, names that group) for the timeout kill. dropbear now and then closes
    // a channel without sending exit-status, so the wrapper also reports the exit
    // code on stderr as a fallback. argv travels as positional parameters.
    const wrapper = `echo "${PID_MARK}$$" >&2; "$@"; rc=$?; echo "${RC_MARK}$rc" >&2; exit $rc`;
    const cmd = ['exec', 'setsid', 'sh', '-c', wrapper, 'daxh', ...argv].map(shellQuote).join(' ');
    const started = Date.now();
    const { client, ch } = await this.openExecRetrying(cmd);
    // The connection is free again once this channel and the kill channel, if
    // one was needed, have both closed.
    let killDone: Promise<void> = Promise.resolve();
    const closed = new Promise<void>((r) => ch.once('close', () => r()));
    void closed.then(() => killDone).then(() => this.release(client));
    return new Promise<CommandResult>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      let pid: number | null = null;
      let timedOut = false;
      let exitCode: number | null = null;
      let signal: string | null = null;
      let settled = false;
      let errPending = '';
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(backstop);
        offLost();
        o.signal?.removeEventListener('abort', onAbort);
        const rc = RC_RE.exec(stderr);
        if (rc) stderr = stderr.slice(0, rc.index) + stderr.slice(rc.index + rc[0].length);
        if (exitCode === null && signal === null && rc) exitCode = Number(rc[1]);
        if (err) reject(err);
        else resolve({ argv, exitCode, signal, timedOut, durationMs: Date.now() - started, stdout, stderr });
      };
      const killGroup = () => {
        if (pid === null) {
          ch.close();
          return;
        }
        killDone = this.openExec(client, `kill -KILL -- -${pid} 2>/dev/null; kill -KILL ${pid} 2>/dev/null; true`)
          .then(
            (k) =>
              new Promise<void>((r) => {
                k.on('close', () => r());
                k.resume();
                k.stderr.resume();
              }),
          )
          .catch(() => {});
      };
      const stop = () => {
        killGroup();
        // If the channel doesn't close soon after the kill, the guest is gone.
        backstop = setTimeout(() => {
          ch.close();
          finish(new GuestLostError(`guest did not end a command within 15 s of killing it: ${argv.join(' ')}`));
        }, 15000);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        stop();
      }, timerDelay(o.timeoutMs));
      let backstop: NodeJS.Timeout | undefined;
      // Aborted (fatal kernel report, QEMU gone, ^C): end now, without waiting
      // for a guest that may never answer again.
      const onAbort = () => {
        killGroup();
        ch.close();
        finish();
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      if (o.signal?.aborted) onAbort();
      const offLost = this.onClientLost(client, (why) => finish(new GuestLostError(why)));
      ch.setEncoding('utf8');
      ch.stderr.setEncoding('utf8');
      ch.on('data', (d: string) => {
        if (stdout.length < keep) stdout += d;
        o.onOutput?.(d, 'stdout');
      });
      ch.stderr.on('data', (d: string) => {
        if (pid === null) {
          errPending += d;
          const nl = errPending.indexOf('\n');
          if (nl < 0) return;
          const first = errPending.slice(0, nl);
          if (first.startsWith(PID_MARK)) pid = Number(first.slice(PID_MARK.length));
          d = first.startsWith(PID_MARK) ? errPending.slice(nl + 1) : errPending;
          errPending = '';
          if (!d) return;
        }
        if (stderr.length < keep) stderr += d;
        const shown = d.replace(RC_RE, '');
        if (shown) o.onOutput?.(shown, 'stderr');
      });
      ch.on('exit', (code: number | null, sig?: string) => {
        exitCode = code ?? null;
        signal = sig ?? null;
      });
      ch.on('close', () => finish());
    });
  }

  /** Copy a host file into the guest (through `cat` on the far side: no sftp needed). */
  async putFile(localPath: string, remotePath: string, mode = '0644', timeoutMs = 120000): Promise<void> {
    if (this.lostReason) throw new GuestLostError(this.lostReason);
    const { createReadStream } = await import('node:fs');
    const cmd = ['sh', '-c', 'cat > "$1" && chmod "$2" "$1"', 'daxh', remotePath, mode].map(shellQuote).join(' ');
    const { client, ch } = await this.openExecRetrying(cmd);
    ch.once('close', () => this.release(client));
    await new Promise<void>((resolve, reject) => {
      let code: number | null = null;
      let err = '';
      const timer = setTimeout(() => {
        ch.close();
        reject(new Error(`copying ${localPath} to the guest timed out after ${timeoutMs} ms`));
      }, timerDelay(timeoutMs));
      const offLost = this.onClientLost(client, (why) => {
        clearTimeout(timer);
        reject(new GuestLostError(why));
      });
      ch.on('exit', (c: number | null) => (code = c));
      ch.stderr.on('data', (d: Buffer) => (err += d.toString()));
      ch.on('close', () => {
        clearTimeout(timer);
        offLost();
        if (code === 0 || (code === null && !err)) resolve();
        else reject(new Error(`copying ${localPath} to ${remotePath} in the guest failed: ${err.trim() || `exit ${code}`}`));
      });
      ch.resume();
      createReadStream(localPath).on('error', reject).pipe(ch);
    });
  }

  /** exec with a string result; throws when the command fails. For setup steps. */
  async check(argv: string[], o: ExecOptions): Promise<string> {
    const r = await this.exec(argv, o);
    if (r.timedOut) throw new Error(`guest command timed out after ${o.timeoutMs} ms: ${argv.join(' ')}`);
    if (r.exitCode !== 0)
      throw new Error(`guest command failed (${r.signal ?? r.exitCode}): ${argv.join(' ')}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    return r.stdout;
  }

  private openExec(c: Client, cmd: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      c.exec(cmd, (err, ch) => (err ? reject(new ExecRefusedError(err.message)) : resolve(ch)));
    });
  }

  /**
   * A channel refused before the command started (open failure, an exec
   * request answered with failure) is retried on a fresh lease a few times;
   * a guest that keeps refusing is lost.
   */
  private async openExecRetrying(cmd: string): Promise<{ client: Client; ch: ClientChannel }> {
    let last = '';
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, 200 * attempt));
      const client = await this.lease();
      try {
        return { client, ch: await this.openExec(client, cmd) };
      } catch (e) {
        if (!(e instanceof ExecRefusedError)) throw e;
        last = e.message;
        // The refused connection may carry a half-closed channel: do not reuse it.
        this.retire(client);
      }
    }
    throw new GuestLostError(`ssh exec failed 4 times: ${last}`);
  }

  private retire(c: Client): void {
    this.retired.add(c);
    this.clients.delete(c);
    this.idle = this.idle.filter((x) => x !== c);
    c.end();
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients) c.end();
    this.idle = [];
  }
}

function connectOnce(o: GuestConnectOptions, readyTimeout: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    let hostKeyOk = true;
    c.on('ready', () => resolve(c));
    c.on('error', (e) => {
      c.end();
      if (!hostKeyOk) reject(new AbortError(`host key of the guest does not match the image's: refusing to connect`));
      else reject(e);
    });
    c.connect({
      host: '127.0.0.1',
      port: o.port,
      username: 'root',
      privateKey: o.privateKey,
      readyTimeout,
      // Keepalives end a connection to a guest silent for the allowance.
      keepaliveInterval: 5000,
      keepaliveCountMax: Math.max(6, Math.ceil((o.silenceMs ?? 30000) / 5000)),
      hostVerifier: (key: Buffer) => {
        hostKeyOk = key.toString('base64') === o.hostKeyBlob;
        return hostKeyOk;
      },
    });
  });
}

/** Poll until something on the port speaks first with an SSH identification line. */
async function waitForBanner(port: number, deadlineMs: number, signal?: AbortSignal): Promise<void> {
  const end = Date.now() + deadlineMs;
  let last = 'no attempt';
  while (Date.now() < end) {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    const got = await new Promise<string | null>((resolve) => {
      const sock = connect({ host: '127.0.0.1', port });
      let data = '';
      const done = (v: string | null) => {
        clearTimeout(timer);
        sock.destroy();
        resolve(v);
      };
      const timer = setTimeout(() => done(null), 250);
      sock.on('data', (d: Buffer) => {
        data += d.toString('latin1');
        if (data.includes('\n') || data.length > 255) done(data);
      });
      sock.on('error', (e) => {
        last = e.message;
        done(null);
      });
      sock.on('close', () => done(data || null));
    });
    if (got?.startsWith('SSH-')) return;
    if (got) last = `unexpected greeting ${JSON.stringify(got.slice(0, 40))}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(last);
}
