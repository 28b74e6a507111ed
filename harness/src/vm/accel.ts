// KVM or TCG: /dev/kvm existing is not enough (here KVM guests hang in early
// boot), so KVM is chosen only after a short real boot under it reaches init.
// The verdict is cached per host kernel and QEMU version.
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

export async function chooseAccel(o: { override?: Accel; kernel: string; initrd: string; log: (m: string) => void }): Promise<AccelChoice> {
  if (o.override) return { used: o.override, why: `forced by --accel ${o.override}` };
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { used: 'tcg', why: 'no usable /dev/kvm' };
  }
  const key = sha256('accel-v1', release(), await qemuVersion()).slice(0, 16);
  const file = cacheDir('accel', `${key}.json`);
  try {
    const cached = JSON.parse(await readFile(file, 'utf8')) as AccelChoice;
    return { used: cached.used, why: `${cached.why} (cached probe)` };
  } catch {
    /* no verdict yet */
  }
  o.log(`probing KVM with a ${PROBE_MS / 1000} s test boot`);
  const failures: string[] = [];
  let verdict: AccelChoice | null = null;
  for (const cpu of KVM_CPUS) {
    const r = await probeKvm(o.kernel, o.initrd, cpu);
    if (r.ok) {
      verdict = { used: 'kvm', why: `KVM probe boot with -cpu ${cpu} reached init in ${r.ms} ms`, cpu };
      break;
    }
    failures.push(`-cpu ${cpu}: ${r.why}`);
  }
  verdict ??= { used: 'tcg', why: `KVM probe failed (${failures.join('; ')}); using TCG` };
  await writeJsonAtomic(file, verdict);
  return verdict;
}

async function probeKvm(kernel: string, initrd: string, cpu: string): Promise<{ ok: true; ms: number } | { ok: false; why: string }> {
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
