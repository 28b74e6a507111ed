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
    // The guest may fill every byte of its NVDIMMs: the disk must hold them whole.
    const nvdimmBytes = o.topology.nvdimms.reduce((n, d) => n + d.sizeMiB * 1024 * 1024, 0);
    if (nvdimmBytes > 0) await ensureFreeSpace(o.workDir, nvdimmBytes, `the ${o.topology.nvdimms.length} NVDIMM backing file${o.topology.nvdimms.length === 1 ? '' : 's'}`);
    // Fresh, sparse backing files per run: no NVDIMM state leaks between runs.
    const nvdimmFiles: string[] = [];
    for (const [i, d] of o.topology.nvdimms.entries()) {
      const f = join(o.workDir, `nvdimm${i}.img`);
      await writeFile(f, '');
      await truncate(f, d.sizeMiB * 1024 * 1024);
      nvdimmFiles.push(f);
    }
    const drives: NonNullable<MachineSpec['drives']> = [];
    if (o.image.disk) {
      // Each run writes to its own overlay; the image's disk stays pristine.
      const overlay = join(o.workDir, 'root.qcow2');
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', o.image.disk, overlay], { timeoutMs: 60000 });
      drives.push({ file: overlay, format: 'qcow2', backing: o.image.disk });
    }
    const spec: MachineSpec = {
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
    const t0 = Date.now();
    const stream = o.console ?? new ConsoleStream();
    let kernelInitMs: number | null = null;
    let phase: BootPhase = 'qemu';
    const order: BootPhase[] = ['qemu', 'kernel', 'init', 'sshd', 'ssh', 'setup', 'ready'];
    const reach = (p: BootPhase) => {
      if (order.indexOf(p) > order.indexOf(phase)) phase = p;
    };
    const off = stream.subscribe((line) => {
      const ms = initTimeFromLine(line);
      if (ms !== null) kernelInitMs = ms;
      const p = phaseOfLine(line);
      if (p) reach(p);
      if (p === 'kernel') o.progress('kernel started');
      else if (ms !== null) o.progress(`kernel reached init at ${(ms / 1000).toFixed(2)} s of guest time`);
    });
    const gaveUp = (why: string) => new SessionError(`guest did not become ready: stopped after ${describePhase(phase)}: ${why}`, phase, stream.lastLines(12));
    let machine: Machine;
    for (let attempt = 1; ; attempt++) {
      try {
        machine = await Machine.start(spec, o.lifetimeMs, stream, { onLogError: o.onWriteError });
        break;
      } catch (e) {
        // A port we chose ourselves that something else took meanwhile: choose again.
        if (e instanceof PortInUseError && o.sshPort === undefined && attempt < 4) {
          spec.sshPort = await freePort();
          continue;
        }
        off();
        throw e;
      }
    }
    const died = new AbortController();
    void machine.exited.then((x) => died.abort(new Error(`QEMU exited during boot (${x.signal ?? `exit ${x.exitCode}`})`)));
    const onAbort = () => died.abort(o.signal?.reason);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) onAbort();
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
      off();
      o.signal?.removeEventListener('abort', onAbort);
      // Read why before shutting QEMU down: its exit would otherwise read as the cause.
      const why = died.signal.aborted ? String((died.signal.reason as Error)?.message ?? died.signal.reason) : (e as Error).message;
      await machine.shutdown(2000);
      throw gaveUp(why);
    }
    reach('ssh');
    if (o.image.ready) {
      reach('setup');
      const r = await guest.exec(o.image.ready, { timeoutMs: o.bootTimeoutMs, signal: died.signal }).catch((e: Error) => e);
      if (r instanceof Error || r.exitCode !== 0) {
        off();
        o.signal?.removeEventListener('abort', onAbort);
        guest.close();
        await machine.shutdown(2000);
        const why = r instanceof Error ? r.message : r.timedOut ? 'timed out' : `exit ${r.exitCode}: ${r.stderr.trim()}`;
        throw gaveUp(`the image's own setup (${o.image.ready.join(' ')}) did not finish: ${why}`);
      }
    }
    o.signal?.removeEventListener('abort', onAbort);
    off();
    const bootMs = Date.now() - t0;
    return {
      machine,
      guest,
      spec,
      bootMs,
      kernelInitMs,
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
