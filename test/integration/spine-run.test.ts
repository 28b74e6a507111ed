// The spine end to end on real parts: Debian's stock kernel, the initramfs
// image, a QEMU q35 guest with emulated NVDIMMs, ssh, ext4/xfs -o dax.
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow, type RunOptions } from '../../harness/src/workflows/run.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import type { RunRecord, Topology } from '../../harness/src/results/records.ts';

const progress: string[] = [];
const base = (topology: Topology): RunOptions => ({
  kernel: { kind: 'stock' },
  image: 'initramfs',
  topology,
  resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-results-')),
  filesystems: ['ext4', 'xfs'],
  seconds: 0,
  seed: 7,
  bootTimeoutMs: 240000,
  cmdlineExtra: [],
  progress: (phase, msg) => progress.push(`[${phase}] ${msg}`),
});

function checkSmoke(t: Test, rec: RunRecord) {
  t.equal(rec.status, 'pass', `run passed: ${rec.reason}`);
  const byFs = Object.fromEntries(rec.tests.filter((x) => x.name === 'dax-smoke').map((x) => [x.params.fs, x]));
  for (const fs of ['ext4', 'xfs']) {
    const r = byFs[fs];
    t.ok(r, `${fs} ran`);
    if (!r) continue;
    t.equal(r.status, 'pass', `${fs}: ${r.reason}`);
    t.equal(r.metrics.dax_mount, 'on', `${fs} mounted with DAX on`);
    t.equal(r.metrics.pmd_mapped, 'yes', `${fs}: PMD faults on the aligned mapping`);
    t.ok(Number(r.metrics.skewed_faults) >= Number(r.metrics.pte_count), `${fs}: PTE faults on the skewed mapping`);
  }
}

t.test('default run: stock kernel, labelled NVDIMM, ext4 and xfs -o dax with PMD faults', async (t) => {
  const { record: rec, runDir } = await runWorkflow(base(defaultTopology));
  checkSmoke(t, rec);
  const onDisk = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as RunRecord;
  t.equal(onDisk.status, 'pass', 'run.json on disk has the final status');
  t.equal(onDisk.kernel?.kind, 'debian-stock');
  t.ok(onDisk.accel && ['kvm', 'tcg'].includes(onDisk.accel.used) && onDisk.accel.why.length > 0, 'accelerator and why recorded');
  t.ok(onDisk.qemuArgv.some((a) => a.startsWith('nvdimm,') && a.includes('label-size=2M')), 'QEMU argv recorded with the NVDIMM');
  t.match(onDisk.topologyHash, /^[0-9a-f]{16}$/);
  t.ok(onDisk.bootMs! > 0 && onDisk.kernelInitMs! > 0, 'boot times recorded');
  const console = readFileSync(join(runDir, 'console.log'), 'utf8');
  t.match(console, /Linux version/, 'console captured from the kernel banner');
  t.match(console, /Run \/init as init process/);
  for (const x of onDisk.tests) t.ok(statSync(join(runDir, x.log)).size > 0, `${x.log} written`);
  t.match(readFileSync(join(runDir, 'tests/dax-smoke.xfs.log'), 'utf8'), /mkfs\.xfs .*su=2m,sw=1/);
  t.ok(progress.some((p) => /accelerator: (TCG|KVM)/.test(p)), 'progress says which accelerator ran');
});

t.test('label-less NVDIMM: the raw namespace is reconfigured to fsdax', async (t) => {
  const { record: rec, runDir } = await runWorkflow(base({ ...defaultTopology, nvdimms: [{ sizeMiB: 2048, labelSizeMiB: 0 }] }));
  checkSmoke(t, rec);
  t.match(readFileSync(join(runDir, 'tests/setup.fsdax.log'), 'utf8'), /create-namespace -f -e namespace0.0 -m fsdax/);
});

t.test('legacy memmap= pmem only', async (t) => {
  const topo: Topology = { nvdimms: [], memmap: [{ sizeMiB: 1024, startMiB: 4096 }], memMiB: 3072, cpus: 2 };
  const { record: rec } = await runWorkflow(base(topo));
  checkSmoke(t, rec);
  t.match(rec.kernelCmdline, /memmap=1024M!4096M/);
});
