// Every guest topology the harness generates boots with no kernel report of
// its own making (a WARNING at boot would fail every run in that guest): the
// default guest, ndctl's guest (12 GiB, two NUMA nodes, legacy and
// soft-reserved pmem), --numa, several NVDIMMs, memmap= pmem only.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../../harness/src/workflows/run.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { NDCTL_GUEST } from '../../harness/src/suites/ndctl/ndctl.ts';
import type { Topology } from '../../harness/src/results/records.ts';

const cases: Array<[string, Topology, string[]]> = [
  ['default', defaultTopology, []],
  ["ndctl's guest", NDCTL_GUEST.topology, NDCTL_GUEST.cmdline],
  ['--numa 2', { ...defaultTopology, memMiB: 3072, numaNodes: 2 }, []],
  ['two NVDIMMs', { ...defaultTopology, nvdimms: [defaultTopology.nvdimms[0], defaultTopology.nvdimms[0]] }, []],
  ['memmap= only', { nvdimms: [], memmap: [{ sizeMiB: 1024, startMiB: 4096 }], memMiB: 3072, cpus: 2 }, []],
];

for (const [name, topology, cmdlineExtra] of cases) {
  t.test(`${name}: boots with no kernel report and makes its fsdax namespace`, async (t) => {
    const { record } = await runWorkflow({
      kernel: { kind: 'stock' }, image: 'initramfs', topology, resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-topo-')),
      filesystems: [], seconds: 0, seed: 1, bootTimeoutMs: 240000, cmdlineExtra, progress: () => {},
    });
    const boot = record.tests.find((x) => x.name === 'boot');
    t.equal(boot?.status, 'pass', `boot: ${boot?.reason}`);
    t.same(record.crashes.map((c) => c.title), [], 'no kernel report anywhere in the run');
    t.equal(record.tests.find((x) => x.name === 'setup.fsdax')?.status, 'pass');
    t.equal(record.status, 'pass', record.reason);
  });
}
