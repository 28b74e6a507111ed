// One QEMU process: start it, stream its console, control it over QMP, and
// make sure it is gone when we are done (or when anything goes wrong).
import { chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { spawn, onCleanup, type ProcResult } from '../host/proc.ts';
import type { SandboxSpec } from '../host/sandbox.ts';
import { ConsoleStream } from './console.ts';
import { SettingError } from '../host/errors.ts';
import { QmpClient } from './qmp.ts';
import { qemuArgv, type MachineSpec } from './qemu-args.ts';
import { CappedFile, logCaps } from '../host/capped-file.ts';
import { guestStarted } from '../host/cores.ts';

export const QEMU = 'qemu-system-x86_64';

export interface MachineExit {
  exitCode: number | null;
  signal: string | null;
  /** Set when the harness asked QEMU to stop (as opposed to a crash or a kill from outside). */
  requested: boolean;
  stderr: string;
}

/** The ssh port was taken between the check and QEMU binding it (the CLI names it by its flag). */
export class PortInUseError extends SettingError {
  constructor(port: number | undefined) {
    super('sshPort', 'the ssh port', port, 'is taken on 127.0.0.1: pick another or leave it out to get a free one');
  }
}
export class QemuStartError extends Error {
  override name = 'QemuStartError';
}

/**
 * QEMU sees the host read-only apart from its own run files, runs as the
 * sandbox user when the harness is root, and keeps the host's network
 * namespace only because the forwarded ssh port listens there.
 */
export function machineSandbox(spec: MachineSpec): SandboxSpec {
  // console.log is the harness's to write (below), not QEMU's.
  const writable = [dirname(spec.qmpSocket), ...spec.nvdimmFiles, ...(spec.drives ?? []).map((d) => d.file)];
  for (const s of spec.shares ?? []) if (!s.readonly) writable.push(s.hostPath);
  const readable = [spec.kernel, spec.initrd, ...(spec.drives ?? []).flatMap((d) => (d.backing ? [d.backing] : [])), ...(spec.shares ?? []).filter((s) => s.readonly).map((s) => s.hostPath)];
  return { writable: [...new Set(writable)], readable, hostNetwork: true, devices: spec.accel === 'kvm' ? ['/dev/kvm'] : [] };
}

export interface MachineOptions {
  /** console.log's cap in bytes (default: logCaps()). */
  consoleCapBytes?: number;
  /** console.log could not be written (a full disk): the run should end; the guest is not stopped here. */
  onLogError?: (e: NodeJS.ErrnoException, path: string) => void;
}

export class Machine {
  readonly console: ConsoleStream;
  readonly argv: string[];
  readonly startedAt = Date.now();
  readonly exited: Promise<MachineExit>;
  qmp: QmpClient | null = null;
  private stderr = '';
  private requested = false;
  private isUp = true;
  private pidValue: number | undefined;
  private killFn: () => void;
  private dropCleanup: () => void;

  private constructor(spec: MachineSpec, lifetimeMs: number, console?: ConsoleStream, opts: MachineOptions = {}) {
    // A caller that hands in the console has subscribed before QEMU prints its first byte.
    this.console = console ?? new ConsoleStream();
    this.argv = qemuArgv(spec);
    // console.log is the console stream's lines, as the oracle saw them (line
    // numbers agree), each line capped by the stream and the file by its cap.
    // Written synchronously per chunk QEMU hands us, so it survives a killed
    // harness as QEMU's own logfile did, and it lasts the guest's whole life
    // (a guest kept for later cells goes on writing the run that booted it).
    const log = new CappedFile(spec.consoleLog, {
      capBytes: opts.consoleCapBytes ?? logCaps().consoleBytes,
      what: 'console.log',
      batch: true,
      onError: (e) => opts.onLogError?.(e, spec.consoleLog),
    });
    const offLog = this.console.subscribe((line) => log.write(`${line}\n`));
    const { child, done } = spawn(QEMU, this.argv, {
      sandbox: machineSandbox(spec),
      timeoutMs: lifetimeMs,
      dieWithParent: true,
      stdin: 'pipe',
      discardOutput: true,
      onOutput: (chunk, stream) => {
        if (stream === 'stdout') this.console.write(chunk);
        else if (this.stderr.length < 64 * 1024) this.stderr += chunk;
      },
    });
    this.pidValue = child.pid;
    // A build started while this guest runs leaves its vCPUs to it (host/cores.ts).
    const offCores = guestStarted(spec.topology.cpus);
    this.killFn = () => child.kill('SIGKILL');
    this.dropCleanup = onCleanup(() => this.shutdown(2000).then(() => undefined));
    this.exited = done.then((r: ProcResult) => {
      this.isUp = false;
      offCores();
      this.console.end();
      offLog();
      log.close();
      this.qmp?.close();
      this.dropCleanup();
      return {
        exitCode: r.exitCode ?? null,
        signal: r.signal ?? null,
        requested: this.requested,
        stderr: this.stderr.trim(),
      };
    });
  }

  /** Start QEMU and wait until its QMP socket answers. */
  static async start(spec: MachineSpec, lifetimeMs: number, console?: ConsoleStream, opts?: MachineOptions): Promise<Machine> {
    const m = new Machine(spec, lifetimeMs, console, opts);
    const early = m.exited.then((x) => {
      const msg = x.stderr || `QEMU exited with ${x.signal ?? x.exitCode} before it was up`;
      if (/Could not set up host forwarding rule|hostfwd.*(in use|failed)/i.test(msg))
        throw new PortInUseError(spec.sshPort);
      throw new QemuStartError(`QEMU failed to start: ${msg.split('\n').slice(-3).join(' | ')}`);
    });
    try {
      m.qmp = await Promise.race([QmpClient.connect(spec.qmpSocket, 15000), early]);
      // QEMU bound it with the umask's mode (0755 under the usual 022); its
      // directory keeps others out, and the socket itself is made 0600 too.
      // Not ours to change when QEMU runs as a user of its own (EPERM): then
      // the directory is what guards it.
      await chmod(spec.qmpSocket, 0o600).catch(() => {});
    } catch (e) {
      m.kill();
      await m.exited;
      throw e;
    }
    early.catch(() => {});
    return m;
  }

  get pid(): number | undefined {
    return this.pidValue;
  }

  get running(): boolean {
    return this.isUp;
  }

  qemuStderr(): string {
    return this.stderr.trim();
  }

  /** QMP quit, then SIGKILL if QEMU has not gone within graceMs. */
  async shutdown(graceMs = 5000): Promise<MachineExit> {
    if (!this.isUp) return this.exited;
    this.requested = true;
    try {
      await Promise.race([this.qmp?.execute('quit'), new Promise((r) => setTimeout(r, graceMs))]);
    } catch {
      // QMP may already be gone; the kill below settles it.
    }
    const t = setTimeout(() => this.kill(), graceMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }

  kill(): void {
    if (!this.isUp) return;
    this.requested = true;
    try {
      this.killFn();
    } catch {
      /* gone */
    }
  }
}
