// Pure: a machine description → the QEMU argv. Kept free of I/O so the exact
// command line can be unit-tested and recorded in run.json.
import type { Accel, Topology } from '../results/records.ts';
import { topologyCmdline } from './topology.ts';

export interface MachineSpec {
  accel: Accel;
  /** CPU model; default: host under KVM, max under TCG. */
  cpu?: string;
  topology: Topology;
  kernel: string;
  initrd: string;
  /** Extra kernel command-line words (after the harness's own). */
  cmdlineExtra: string[];
  /** Backing file path for each NVDIMM, same order as topology.nvdimms. */
  nvdimmFiles: string[];
  /** Where the harness writes the console (not on QEMU's command line). */
  consoleLog: string;
  qmpSocket: string;
  /** Host port forwarded to the guest's sshd, bound to 127.0.0.1 only. */
  sshPort: number;
  /** virtio disks (the rootfs overlay, and the image it is an overlay of). */
  drives?: Array<{ file: string; format: 'qcow2' | 'raw'; backing?: string }>;
  /** Host directories shared over virtio-9p, mounted in the guest by tag. */
  shares?: Array<{ hostPath: string; tag: string; readonly?: boolean }>;
}

/** The kernel's own stall detectors, in seconds, as the harness sets them for an accelerator. */
export interface Watchdogs {
  /** A soft lockup is reported after twice watchdog_thresh. */
  softLockupS: number;
  rcuStallS: number;
  hungTaskS: number;
}

/**
 * Under TCG a vCPU the 2-core host does not run for a while, or live text
 * patching that waits on every vCPU to flush translated code, looks like a
 * stuck CPU to detectors tuned for hardware: every detector is scaled, not
 * only the hung-task and RCU ones. A real lockup lasts minutes and is still
 * caught.
 */
export function watchdogsFor(accel: Accel | undefined): Watchdogs {
  return accel === 'tcg' ? { softLockupS: 60, rcuStallS: 120, hungTaskS: 360 } : { softLockupS: 20, rcuStallS: 60, hungTaskS: 120 };
}

function watchdogWords(w: Watchdogs): string[] {
  return [
    `watchdog_thresh=${Math.round(w.softLockupS / 2)}`,
    `rcupdate.rcu_cpu_stall_timeout=${w.rcuStallS}`,
    `hung_task_timeout_secs=${w.hungTaskS}`,
    // A stall report carries what every CPU was doing: the one holding the
    // others up is named, not only the one that waited.
    'softlockup_all_cpu_backtrace=1',
    'hardlockup_all_cpu_backtrace=1',
    'sysctl.kernel.hung_task_all_cpu_backtrace=1',
  ];
}

/** The harness's kernel command line: console, crash behaviour, stall detectors, pmem. */
export function kernelCmdline(spec: Pick<MachineSpec, 'topology' | 'cmdlineExtra'> & { accel?: Accel }): string {
  return [
    'console=ttyS0,115200',
    'ignore_loglevel',
    'printk.time=1',
    // Test guests only: real pointers make page:/mapping: values in dumps comparable.
    'no_hash_pointers',
    // The first oops is the signature: stop there, and turn the panic into a QEMU exit.
    'oops=panic',
    'panic=-1',
    'panic_on_warn=0',
    ...watchdogWords(watchdogsFor(spec.accel)),
    'nokaslr',
    'rdinit=/init',
    ...topologyCmdline(spec.topology),
    ...spec.cmdlineExtra,
  ].join(' ');
}

export function qemuArgv(spec: MachineSpec): string[] {
  const t = spec.topology;
  const nvdimmTotal = t.nvdimms.reduce((a, d) => a + d.sizeMiB, 0);
  const slots = Math.max(1, t.nvdimms.length);
  // Each DIMM is placed at an aligned address in the device-memory window; a
  // 1 GiB margin per slot keeps QEMU from running out of room after alignment.
  const maxmem = t.memMiB + nvdimmTotal + 1024 * slots;
  const machine = ['q35', t.nvdimms.length > 0 ? 'nvdimm=on' : null, `accel=${spec.accel}`].filter(Boolean).join(',');
  const numa = numaArgs(t);
  const argv = [
    '-machine', machine,
    '-cpu', spec.cpu ?? (spec.accel === 'kvm' ? 'host' : 'max'),
    '-smp', smpArg(t),
    '-m', `${t.memMiB}M,slots=${slots},maxmem=${maxmem}M`,
    ...numa,
    '-nodefaults',
    '-display', 'none',
    // The guest runs a kernel under test: should it break out into QEMU, the
    // process may not gain privileges, start programs or change its limits.
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-no-reboot',
    '-kernel', spec.kernel,
    '-initrd', spec.initrd,
    '-append', kernelCmdline(spec),
    // The console goes to our stdout only: the harness writes console.log from
    // the stream it reads (vm/machine.ts), capped. QEMU's own logfile= has no
    // size limit, and a guest can print until the disk is full.
    '-chardev', 'stdio,id=con0,signal=off',
    '-serial', 'chardev:con0',
    '-qmp', `unix:${optValue(spec.qmpSocket)},server=on,wait=off`,
    // restrict=on: ssh is forwarded in and the guest reaches nothing out,
    // neither the host's own services on 10.0.2.2 nor any other address.
    '-netdev', `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    '-device', 'virtio-net-pci,netdev=net0',
    // Entropy for the guest's crng: without it sshd blocks in getrandom() for
    // seconds of every TCG boot ("Waiting for kernel randomness").
    '-device', 'virtio-rng-pci',
  ];
  (spec.drives ?? []).forEach((d, i) => {
    // cache=unsafe: the overlay is thrown away after the run, so flushes buy nothing.
    argv.push('-drive', `file=${optValue(d.file)},if=virtio,format=${d.format},cache=unsafe,index=${i}`);
  });
  (spec.shares ?? []).forEach((s, i) => {
    argv.push(
      '-virtfs',
      `local,path=${optValue(s.hostPath)},mount_tag=${s.tag},security_model=none,id=share${i}` + (s.readonly ? ',readonly=on' : ''),
    );
  });
  t.nvdimms.forEach((d, i) => {
    argv.push(
      '-object',
      `memory-backend-file,id=nvmem${i},share=on,mem-path=${optValue(spec.nvdimmFiles[i])},size=${d.sizeMiB}M`,
      '-device',
      `nvdimm,id=nvdimm${i},memdev=nvmem${i}` + (d.labelSizeMiB > 0 ? `,label-size=${d.labelSizeMiB}M` : ''),
    );
  });
  return argv;
}

/**
 * With NUMA nodes every vCPU is a socket of its own, so a node always holds
 * whole sockets: QEMU's default (one socket of N cores) split over nodes
 * makes the kernel warn at boot (topology_sane: an LLC sibling on another
 * node), a report of our own making.
 */
export function smpArg(t: Topology): string {
  return (t.numaNodes ?? 1) > 1 ? `${t.cpus},sockets=${t.cpus},cores=1,threads=1` : String(t.cpus);
}

/**
 * NUMA nodes as RAM backends: node 0 keeps the low RAM and the bulk (so
 * memmap= ranges stay inside one node), each further node 1 GiB; vCPUs are
 * dealt round-robin, so node 0 always has one. cxl_test puts its mock devices on node 1 and crashes
 * in the page allocator when that node does not exist.
 */
export function numaArgs(t: Topology): string[] {
  const n = t.numaNodes ?? 1;
  if (n <= 1) return [];
  const args: string[] = [];
  for (let i = 0; i < n; i++) {
    const size = i === 0 ? t.memMiB - (n - 1) * 1024 : 1024;
    const cpus = Array.from({ length: t.cpus }, (_, c) => c).filter((c) => c % n === i);
    args.push('-object', `memory-backend-ram,id=ram${i},size=${size}M`);
    args.push('-numa', [`node,nodeid=${i},memdev=ram${i}`, ...cpus.map((c) => `cpus=${c}`)].join(','));
  }
  return args;
}

/** QEMU's option parser splits on commas; a literal comma is written twice. */
export function optValue(s: string): string {
  return s.replace(/,/g, ',,');
}
