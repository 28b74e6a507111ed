// A booted guest ready for commands: initrd assembled, backing files made,
// QEMU started, sshd answering. Shared by the run workflow, benchmarks and
// integration tests so they all boot the same way.
import { readFile, writeFile, truncate, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir } from '../host/paths.ts';
import { privateDir } from '../host/private.ts';
import { run } from '../host/proc.ts';
import { buildCached, sha256 } from '../host/fsutil.ts';
import { Machine, PortInUseError } from '../vm/machine.ts';
import { pvhKernel } from '../kernel/index.ts';
import { Guest } from '../vm/guest.ts';
import { freePort, portIsFree } from '../vm/ports.ts';
import type { MachineSpec } from '../vm/qemu-args.ts';
import type { Accel, ImageArtifact, KernelArtifact, Topology } from '../results/records.ts';
import type { ModulesArchive } from '../image/modules.ts';
import { ConsoleStream } from '../vm/console.ts';
import { ensureFreeSpace } from '../host/space.ts';

/** How far a boot got, in order: what a guest that never came up stopped after. */
export type BootPhase = 'qemu' | 'kernel' | 'init' | 'sshd' | 'ssh' | 'setup' | 'ready';

const PHASE_WORDS: Record<BootPhase, string> = {
  qemu: 'QEMU started, before the kernel printed anything',
  kernel: 'the kernel started, before it ran init',
  init: 'init ran, before sshd started',
  sshd: 'sshd started, before it answered over ssh',
  ssh: 'ssh answered, before the image finished its own setup',
  setup: 'the image setup ran, before it finished',
  ready: 'the guest was ready',
};

export class SessionError extends Error {
  override name = 'SessionError';
  constructor(
    message: string,
    /** The last boot phase reached. */
    readonly phase: BootPhase = 'qemu',
    /** The console's last lines when the boot gave up. */
    readonly tail: string[] = [],
  ) {
    super(message);
  }
}

/** The boot phase a console line shows the guest has reached, if any. */
export function phaseOfLine(line: string): BootPhase | null {
  if (/^\[\s*\d+\.\d+\] Linux version /.test(line)) return 'kernel';
  if (/Run \S+ as init process|^daxh: init started/.test(line)) return 'init';
  if (/^daxh: sshd started|Started .*(ssh|dropbear)/i.test(line)) return 'sshd';
  return null;
}

export function describePhase(p: BootPhase): string {
  return PHASE_WORDS[p];
}

export interface SessionOptions {
  kernel: KernelArtifact;
  image: ImageArtifact;
  modules: ModulesArchive | null;
  topology: Topology;
  accel: Accel;
  cpu?: string;
  sshPort?: number;
  /** Where console.log goes (the run directory). */
  runDir: string;
  /** Scratch space for backing files and sockets; removed by close(). */
  workDir: string;
  cmdlineExtra: string[];
  bootTimeoutMs: number;
  /** Upper bound on the guest's whole life. */
  lifetimeMs: number;
  progress: (msg: string) => void;
  signal?: AbortSignal;
  /** Boot the compressed bzImage even when a PVH vmlinux could be used. */
  noPvh?: boolean;
  /** Host directories to share into the guest over virtio-9p. */
  shares?: MachineSpec['shares'];
  /** The console stream to use (subscribe to it first to see every line from QEMU's start). */
  console?: ConsoleStream;
  /** Console file name in runDir (default console.log; a reboot within a run writes console.N.log). */
  consoleFile?: string;
  /** Extra cpio archives appended to the initrd (our modules for the boot-time fixture). */
  extraInitrd?: string[];
  /** console.log could not be written (a full disk): the caller ends the run. */
  onWriteError?: (e: NodeJS.ErrnoException, path: string) => void;
}

export interface Session {
  machine: Machine;
  guest: Guest;
  spec: MachineSpec;
  /** QEMU start → ssh ready, wall clock. */
  bootMs: number;
  /** The kernel's own boot → init time from its console timestamps. */
  kernelInitMs: number | null;
  close(): Promise<void>;
}

/** The image's cpio followed by the kernel's module cpio: the kernel unpacks both. */
export async function assembleInitrd(image: ImageArtifact, modules: ModulesArchive | null, extras: string[] = []): Promise<string> {
  // The image's recipe key alone is not enough: an image rebuilt from the same
  // recipe (a damaged cache entry) has new ssh keys, and an initrd assembled
  // from the old one would boot a guest whose host key no longer matches.
  const key = sha256('initrd-v2', image.key, image.hostKeyBlob, image.builtAt, modules?.key ?? 'none', ...extras).slice(0, 24);
  const dir = cacheDir('initrd', key);
  // Private: the initrd holds the guest's ssh host key.
  await buildCached(dir, async (tmp) => {
    const parts = [await readFile(image.cpio)];
    if (modules) parts.push(await readFile(modules.cpio));
    for (const x of extras) parts.push(await readFile(x));
    await writeFile(join(tmp, 'initrd.cpio'), Buffer.concat(parts));
  }, { private: true });
  return join(dir, 'initrd.cpio');
}

/** `[    4.095472] Run /init as init process` → 4095 ms. */
export function initTimeFromLine(line: string): number | null {
  const m = /^\[\s*(\d+)\.(\d+)\]\s+Run \S+ as init process/.exec(line);
  return m ? Number(m[1]) * 1000 + Math.round(Number(`0.${m[2]}`) * 1000) : null;
}

export async function startSession(o: SessionOptions): Promise<Session> {
  await mkdir(o.workDir, { recursive: true });
  const cleanupWork = () => rm(o.workDir, { recursive: true, force: true });
  try {
    if (o.sshPort !== undefined && !(await portIsFree(o.sshPort))) throw new PortInUseError(o.sshPort);
    const initrd = await assembleInitrd(o.image, o.modules, o.extraInitrd);
    const spec = await machineSpec(o, initrd, await nvdimmBackingFiles(o), await rootOverlay(o));
    const t0 = Date.now();
    const stream = o.console ?? new ConsoleStream();
    const boot = watchBoot(stream, o.progress);
    const gaveUp = (why: string) => new SessionError(`guest did not become ready: stopped after ${describePhase(boot.phase)}: ${why}`, boot.phase, stream.lastLines(12));
    let machine: Machine;
    try {
      machine = await startMachine(o, spec, stream);
    } catch (e) {
      boot.off();
      throw e;
    }
    const guest = await readyGuest(o, spec, machine, boot, gaveUp);
    const bootMs = Date.now() - t0;
    return {
      machine,
      guest,
      spec,
      bootMs,
      kernelInitMs: boot.kernelInitMs,
      async close() {
        guest.close();
        await machine.shutdown(3000);
        await cleanupWork();
      },
    };
  } catch (e) {
    await cleanupWork();
    throw e;
  }
}

/** Fresh, sparse backing files per run: no NVDIMM state leaks between runs. */
async function nvdimmBackingFiles(o: SessionOptions): Promise<string[]> {
  // The guest may fill every byte of its NVDIMMs: the disk must hold them whole.
  const nvdimmBytes = o.topology.nvdimms.reduce((n, d) => n + d.sizeMiB * 1024 * 1024, 0);
  if (nvdimmBytes > 0) await ensureFreeSpace(o.workDir, nvdimmBytes, `the ${o.topology.nvdimms.length} NVDIMM backing file${o.topology.nvdimms.length === 1 ? '' : 's'}`);
  const nvdimmFiles: string[] = [];
  for (const [i, d] of o.topology.nvdimms.entries()) {
    const f = join(o.workDir, `nvdimm${i}.img`);
    await writeFile(f, '');
    await truncate(f, d.sizeMiB * 1024 * 1024);
    nvdimmFiles.push(f);
  }
  return nvdimmFiles;
}

/** Each run writes to its own overlay; the image's disk stays pristine. */
async function rootOverlay(o: SessionOptions): Promise<NonNullable<MachineSpec['drives']>> {
  if (!o.image.disk) return [];
  const overlay = join(o.workDir, 'root.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', o.image.disk, overlay], { timeoutMs: 60000 });
  return [{ file: overlay, format: 'qcow2', backing: o.image.disk }];
}

async function machineSpec(o: SessionOptions, initrd: string, nvdimmFiles: string[], drives: NonNullable<MachineSpec['drives']>): Promise<MachineSpec> {
  return {
    accel: o.accel,
    cpu: o.cpu,
    topology: o.topology,
    kernel: (o.noPvh ? null : await pvhKernel(o.kernel)) ?? o.kernel.bzImage,
    initrd,
    cmdlineExtra: [...(o.image.cmdline ?? []), ...o.cmdlineExtra],
    nvdimmFiles,
    drives,
    shares: o.shares,
    consoleLog: join(o.runDir, o.consoleFile ?? 'console.log'),
    // QEMU binds it with the umask's mode: a 0700 directory of its own keeps it ours alone.
    qmpSocket: join(await privateDir(join(o.workDir, 'qmp')), 'qmp.sock'),
    sshPort: o.sshPort ?? (await freePort()),
  };
}

/** How far a boot got, read off the console as it streams; off() stops reading. */
interface BootWatch {
  phase: BootPhase;
  kernelInitMs: number | null;
  reach(p: BootPhase): void;
  off(): void;
}

const PHASE_ORDER: BootPhase[] = ['qemu', 'kernel', 'init', 'sshd', 'ssh', 'setup', 'ready'];

export function watchBoot(stream: ConsoleStream, progress: (msg: string) => void): BootWatch {
  const w: BootWatch = {
    phase: 'qemu',
    kernelInitMs: null,
    reach(p) {
      if (PHASE_ORDER.indexOf(p) > PHASE_ORDER.indexOf(w.phase)) w.phase = p;
    },
    off: () => {},
  };
  w.off = stream.subscribe((line) => {
    const ms = initTimeFromLine(line);
    if (ms !== null) w.kernelInitMs = ms;
    const p = phaseOfLine(line);
    if (p) w.reach(p);
    if (p === 'kernel') progress('kernel started');
    else if (ms !== null) progress(`kernel reached init at ${(ms / 1000).toFixed(2)} s of guest time`);
  });
  return w;
}

/** QEMU started; a port we chose ourselves that something else took meanwhile is chosen again. */
async function startMachine(o: SessionOptions, spec: MachineSpec, stream: ConsoleStream): Promise<Machine> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await Machine.start(spec, o.lifetimeMs, stream, { onLogError: o.onWriteError });
    } catch (e) {
      if (e instanceof PortInUseError && o.sshPort === undefined && attempt < 4) {
        spec.sshPort = await freePort();
        continue;
      }
      throw e;
    }
  }
}

/**
 * The guest's sshd answering and the image's own setup done. On failure
 * QEMU is shut down and the error says how far the boot got and why.
 */
async function readyGuest(o: SessionOptions, spec: MachineSpec, machine: Machine, boot: BootWatch, gaveUp: (why: string) => SessionError): Promise<Guest> {
  const died = new AbortController();
  void machine.exited.then((x) => died.abort(new Error(`QEMU exited during boot (${x.signal ?? `exit ${x.exitCode}`})`)));
  const onAbort = () => died.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) onAbort();
  const stopWatching = () => {
    boot.off();
    o.signal?.removeEventListener('abort', onAbort);
  };
  let guest: Guest;
  try {
    guest = await Guest.connect({
      port: spec.sshPort,
      privateKey: o.image.sshPrivateKey,
      hostKeyBlob: o.image.hostKeyBlob,
      deadlineMs: o.bootTimeoutMs,
      signal: died.signal,
      // A TCG guest that stalls (or is starved by its host) can be silent for minutes and recover.
      silenceMs: o.accel === 'tcg' ? 120000 : 30000,
    });
  } catch (e) {
    stopWatching();
    // Read why before shutting QEMU down: its exit would otherwise read as the cause.
    const why = died.signal.aborted ? String((died.signal.reason as Error)?.message ?? died.signal.reason) : (e as Error).message;
    await machine.shutdown(2000);
    throw gaveUp(why);
  }
  boot.reach('ssh');
  if (o.image.ready) {
    boot.reach('setup');
    const r = await guest.exec(o.image.ready, { timeoutMs: o.bootTimeoutMs, signal: died.signal }).catch((e: Error) => e);
    if (r instanceof Error || r.exitCode !== 0) {
      stopWatching();
      guest.close();
      await machine.shutdown(2000);
      const why = r instanceof Error ? r.message : r.timedOut ? 'timed out' : `exit ${r.exitCode}: ${r.stderr.trim()}`;
      throw gaveUp(`the image's own setup (${o.image.ready.join(' ')}) did not finish: ${why}`);
    }
  }
  stopWatching();
  return guest;
}
