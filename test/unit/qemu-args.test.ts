import t from 'tap';
import { qemuArgv, kernelCmdline, optValue, numaArgs, type MachineSpec } from '../../harness/src/vm/qemu-args.ts';
import { defaultTopology, validateTopology, topologyHash } from '../../harness/src/vm/topology.ts';
import { cliSays } from '../cli-says.ts';

const spec = (over: Partial<MachineSpec> = {}): MachineSpec => ({
  accel: 'tcg',
  topology: defaultTopology,
  kernel: '/k/bzImage',
  initrd: '/k/initrd',
  cmdlineExtra: [],
  nvdimmFiles: ['/w/nv0.img'],
  consoleLog: '/r/console.log',
  qmpSocket: '/w/qmp.sock',
  sshPort: 40022,
  ...over,
});

const after = (argv: string[], flag: string) => argv.filter((_, i) => argv[i - 1] === flag);

t.test('q35 with nvdimm=on, TCG with -cpu max', async (t) => {
  const a = qemuArgv(spec());
  t.same(after(a, '-machine'), ['q35,nvdimm=on,accel=tcg']);
  t.same(after(a, '-cpu'), ['max']);
  t.ok(a.includes('-no-reboot'), 'a panic ends QEMU instead of rebooting');
  t.ok(after(a, '-device').includes('virtio-rng-pci'), 'the guest gets entropy (sshd would wait for the crng)');
});

t.test('labelled NVDIMM: memory-backend-file + nvdimm device with label-size', async (t) => {
  const a = qemuArgv(spec());
  t.same(after(a, '-object'), ['memory-backend-file,id=nvmem0,share=on,mem-path=/w/nv0.img,size=2050M']);
  t.same(after(a, '-device').filter((d) => d.startsWith('nvdimm')), ['nvdimm,id=nvdimm0,memdev=nvmem0,label-size=2M']);
  t.match(after(a, '-m')[0], /^2048M,slots=1,maxmem=\d+M$/);
  const maxmem = Number(/maxmem=(\d+)M/.exec(after(a, '-m')[0])![1]);
  t.ok(maxmem >= 2048 + 2050, 'maxmem leaves room for the DIMM');
});

t.test('label-less NVDIMMs, two of them', async (t) => {
  const topology = { ...defaultTopology, nvdimms: [{ sizeMiB: 1024, labelSizeMiB: 0 }, { sizeMiB: 1024, labelSizeMiB: 0 }] };
  const a = qemuArgv(spec({ topology, nvdimmFiles: ['/a', '/b'] }));
  const devs = after(a, '-device').filter((d) => d.startsWith('nvdimm'));
  t.same(devs, ['nvdimm,id=nvdimm0,memdev=nvmem0', 'nvdimm,id=nvdimm1,memdev=nvmem1']);
  t.match(after(a, '-m')[0], /slots=2/);
});

t.test('memmap only: no nvdimm machine option, memmap= on the command line', async (t) => {
  const topology = { ...defaultTopology, nvdimms: [], memmap: [{ sizeMiB: 1024, startMiB: 4096 }], memMiB: 4096 };
  const a = qemuArgv(spec({ topology, nvdimmFiles: [] }));
  t.same(after(a, '-machine'), ['q35,accel=tcg']);
  t.match(after(a, '-append')[0], /(^| )memmap=1024M!4096M( |$)/);
  t.notOk(a.some((x) => x.startsWith('memory-backend-file')));
});

t.test('ssh is forwarded on loopback only, and the guest dials nothing out', async (t) => {
  const a = qemuArgv(spec());
  t.same(after(a, '-netdev'), ['user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22']);
});

t.test('QEMU confines itself: no privilege gain, no spawn, no resource control', async (t) => {
  t.same(after(qemuArgv(spec()), '-sandbox'), ['on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny']);
});

t.test('console: a stdio stream only (the harness writes the capped log); QMP on a unix socket', async (t) => {
  const a = qemuArgv(spec());
  t.same(after(a, '-chardev'), ['stdio,id=con0,signal=off']);
  t.notOk(a.some((x) => x.includes('console.log')), 'QEMU writes no console file of its own');
  t.same(after(a, '-qmp'), ['unix:/w/qmp.sock,server=on,wait=off']);
});

t.test('commas in paths are escaped for QEMU option syntax', async (t) => {
  t.equal(optValue('/a,b/c'), '/a,,b/c');
  const a = qemuArgv(spec({ nvdimmFiles: ['/w,x/nv0.img'] }));
  t.match(after(a, '-object')[0], /mem-path=\/w,,x\/nv0.img,/);
});

t.test('kernel command line: console, oops=panic, panic=-1, extras last', async (t) => {
  const c = kernelCmdline({ topology: defaultTopology, cmdlineExtra: ['foo=1'] });
  for (const w of ['console=ttyS0,115200', 'oops=panic', 'panic=-1', 'printk.time=1', 'no_hash_pointers'])
    t.ok(c.split(' ').includes(w), w);
  t.match(c, /foo=1$/);
});

t.test('KVM uses -cpu host unless a model is given', async (t) => {
  t.same(after(qemuArgv(spec({ accel: 'kvm' })), '-cpu'), ['host']);
  t.same(after(qemuArgv(spec({ accel: 'kvm', cpu: 'kvm64' })), '-cpu'), ['kvm64']);
});

t.test('NUMA: none by default; node 0 keeps the bulk, further nodes 1 GiB, vCPUs dealt round-robin', async (t) => {
  const base = { nvdimms: [], memmap: [{ sizeMiB: 1024, startMiB: 4096 }], memMiB: 12288, cpus: 2 };
  t.same(numaArgs(base), []);
  t.same(numaArgs({ ...base, numaNodes: 1 }), []);
  t.same(numaArgs({ ...base, numaNodes: 2 }), [
    '-object', 'memory-backend-ram,id=ram0,size=11264M', '-numa', 'node,nodeid=0,memdev=ram0,cpus=0',
    '-object', 'memory-backend-ram,id=ram1,size=1024M', '-numa', 'node,nodeid=1,memdev=ram1,cpus=1',
  ]);
  const three = numaArgs({ ...base, cpus: 2, numaNodes: 3 });
  t.same(three.filter((a) => a.startsWith('node,')), ['node,nodeid=0,memdev=ram0,cpus=0', 'node,nodeid=1,memdev=ram1,cpus=1', 'node,nodeid=2,memdev=ram2']);
  t.same(numaArgs({ ...base, cpus: 4, numaNodes: 2 }).filter((a) => a.startsWith('node,')), ['node,nodeid=0,memdev=ram0,cpus=0,cpus=2', 'node,nodeid=1,memdev=ram1,cpus=1,cpus=3']);
  t.throws(() => validateTopology({ ...base, memMiB: 1536, memmap: [], nvdimms: [{ sizeMiB: 2050, labelSizeMiB: 2 }], numaNodes: 2 }), /node 0 under 1 GiB/);
  t.throws(() => validateTopology({ ...base, numaNodes: 5 }), /numa 5 is out of range/);
  t.match(cliSays(() => validateTopology({ ...base, numaNodes: 5 })), /^--numa 5 is out of range/, 'the CLI spells the setting as its flag');
  t.not(topologyHash({ ...base, numaNodes: 2 }), topologyHash(base));
  t.equal(topologyHash({ ...base, numaNodes: 1 }), topologyHash(base), 'one node hashes as before');
});

t.test('NUMA guests get one socket per vCPU, so no node splits a socket (topology_sane WARNING at boot)', async (t) => {
  const { smpArg } = await import('../../harness/src/vm/qemu-args.ts');
  const base = { nvdimms: [], memmap: [], memMiB: 12288, cpus: 2 };
  t.equal(smpArg(base), '2', 'one node: QEMU default topology');
  t.equal(smpArg({ ...base, numaNodes: 2 }), '2,sockets=2,cores=1,threads=1');
  t.same(after(qemuArgv(spec({ topology: { ...base, numaNodes: 2 } })), '-smp'), ['2,sockets=2,cores=1,threads=1']);
});

t.test('stall detectors scaled to the accelerator, all-CPU backtraces on every stall', async (t) => {
  const { watchdogsFor } = await import('../../harness/src/vm/qemu-args.ts');
  const tcg = kernelCmdline({ topology: defaultTopology, cmdlineExtra: [], accel: 'tcg' }).split(' ');
  const kvm = kernelCmdline({ topology: defaultTopology, cmdlineExtra: [], accel: 'kvm' }).split(' ');
  t.same(watchdogsFor('tcg'), { softLockupS: 60, rcuStallS: 120, hungTaskS: 360 });
  t.ok(tcg.includes('watchdog_thresh=30'), 'soft lockup after 60 s under TCG');
  t.ok(kvm.includes('watchdog_thresh=10'), 'the kernel default under KVM');
  t.ok(tcg.includes('rcupdate.rcu_cpu_stall_timeout=120') && tcg.includes('hung_task_timeout_secs=360'));
  for (const w of ['softlockup_all_cpu_backtrace=1', 'hardlockup_all_cpu_backtrace=1', 'sysctl.kernel.hung_task_all_cpu_backtrace=1'])
    t.ok(tcg.includes(w) && kvm.includes(w), w);
  t.ok(qemuArgv(spec({ accel: 'tcg' })).some((a) => a.includes('watchdog_thresh=30')), 'the machine spec carries its accelerator into the command line');
});
