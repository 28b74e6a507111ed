// KVM or TCG: /dev/kvm existing is not enough (here KVM guests hang in early
// boot), so KVM is chosen only after a short real boot under it reaches init.
// The verdict, with the CPU model that worked, is cached per host kernel and
// QEMU version. The probe boots a known-good kernel (Debian's stock one): a
// kernel under test that cannot boot must not make this host a TCG host for good.
import { access, constants, readFile, mkdtemp, rm } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDir } from '../host/paths.ts';
import { sha256, writeJsonAtomic } from '../host/fsutil.ts';
import { run } from '../host/proc.ts';
import type { Accel } from '../results/records.ts';
import { Machine, QEMU } from './machine.ts';
import { freePort } from './ports.ts';

export interface AccelChoice {
  used: Accel;
  why: string;
  /** The CPU model the probe booted with, when KVM was chosen. */
  cpu?: string;
}

// `host` is what a developer wants; some hosts refuse its MSRs (seen here:
// MSR 0x10a), so a plain model gets a second chance before giving up on KVM.
const KVM_CPUS = ['host', 'kvm64'];

const PROBE_MS = 20000;

export async function qemuVersion(): Promise<string> {
  const r = await run(QEMU, ['--version'], { timeoutMs: 10000, reject: false });
  return /version\s+(\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

/** What the probe boots: a kernel and an initrd whose /init prints `daxh: probe ok` for `daxh.probe=1`. */
export interface ProbeTarget {
  kernel: string;
  initrd: string;
}

export type ProbeResult = { ok: true; ms: number } | { ok: false; why: string };
export type ProbeBoot = (target: ProbeTarget, cpu: string) => Promise<ProbeResult>;

export interface ChooseAccelOptions {
  override?: Accel;
  log: (m: string) => void;
  /**
   * The known-good kernel to probe with (Debian's stock kernel and the image's
   * base cpio), fetched only when a probe is needed. Without it the kernel and
   * initrd below are probed, and a failure is not cached.
   */
  probeTarget?: () => Promise<ProbeTarget>;
  kernel?: string;
  initrd?: string;
  /** Seams for tests: the probe boot and the /dev/kvm check. */
  boot?: ProbeBoot;
  kvmUsable?: () => Promise<boolean>;
}

async function devKvmUsable(): Promise<boolean> {
  return access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false);
}

export async function chooseAccel(o: ChooseAccelOptions): Promise<AccelChoice> {
  if (o.override) return { used: o.override, why: `forced by --accel ${o.override}` };
  if (!(await (o.kvmUsable ?? devKvmUsable)())) return { used: 'tcg', why: 'no usable /dev/kvm' };
  const key = sha256('accel-v2', release(), await qemuVersion()).slice(0, 16);
  const file = cacheDir('accel', `${key}.json`);
  try {
    const cached = JSON.parse(await readFile(file, 'utf8')) as AccelChoice;
    return { ...cached, why: `${cached.why} (cached probe)` };
  } catch {
    /* no verdict yet */
  }
  const knownGood = Boolean(o.probeTarget);
  const target = o.probeTarget ? await o.probeTarget() : o.kernel && o.initrd ? { kernel: o.kernel, initrd: o.initrd } : null;
  if (!target) throw new Error('chooseAccel needs probeTarget (or kernel and initrd) to probe KVM');
  o.log(`probing KVM with a ${PROBE_MS / 1000} s test boot${knownGood ? ' of a known-good kernel' : ''}`);
  const boot = o.boot ?? probeKvm;
  const failures: string[] = [];
  let verdict: AccelChoice | null = null;
  for (const cpu of KVM_CPUS) {
    const r = await boot(target, cpu);
    if (r.ok) {
      verdict = { used: 'kvm', why: `KVM probe boot with -cpu ${cpu} reached init in ${r.ms} ms`, cpu };
      break;
    }
    failures.push(`-cpu ${cpu}: ${r.why}`);
  }
  if (verdict) {
    await writeJsonAtomic(file, verdict);
    return verdict;
  }
  const tcg: AccelChoice = { used: 'tcg', why: `KVM probe failed (${failures.join('; ')}); using TCG` };
  // A failure with the kernel under test may be that kernel's fault, not the host's.
  if (knownGood) await writeJsonAtomic(file, tcg);
  else tcg.why += ' (not cached: the probe booted the kernel under test)';
  return tcg;
}

async function probeKvm({ kernel, initrd }: ProbeTarget, cpu: string): Promise<ProbeResult> {
  const dir = await mkdtemp(join(tmpdir(), 'daxh-probe-'));
  const t0 = Date.now();
  let m: Machine | null = null;
  try {
    m = await Machine.start(
      {
        accel: 'kvm',
        cpu,
        topology: { nvdimms: [], memmap: [], memMiB: 512, cpus: 1 },
        kernel,
        initrd,
        cmdlineExtra: ['daxh.probe=1'],
        nvdimmFiles: [],
        consoleLog: join(dir, 'console.log'),
        qmpSocket: join(dir, 'qmp.sock'),
        sshPort: await freePort(),
      },
      PROBE_MS + 10000,
    );
    const exited = m.exited.then((x) => {
      throw new Error(`QEMU exited (${x.signal ?? x.exitCode}) ${x.stderr.split('\n').pop() ?? ''}`.trim());
    });
    await Promise.race([m.console.waitFor(/daxh: probe ok/, PROBE_MS), exited]);
    return { ok: true, ms: Date.now() - t0 };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const why = /did not show/.test(msg) ? `guest hung, no init within ${PROBE_MS / 1000} s` : msg.replace(/^QEMU failed to start: /, '').slice(0, 160);
    return { ok: false, why };
  } finally {
    if (m) await m.shutdown(1000);
    await rm(dir, { recursive: true, force: true });
  }
}
