import t from 'tap';
import { validateTopology, defaultTopology, parseSizeMiB, parseMemmap, ramRanges, topologyHash, topologyCmdline, TopologyError, nvdimmRanges, cmdlineMemmaps } from '../../harness/src/vm/topology.ts';
import { InputError } from '../../harness/src/host/errors.ts';
import { messageOf } from '../../harness/src/cli/exit.ts';
import type { Topology } from '../../harness/src/results/records.ts';

const topo = (over: Partial<Topology>): Topology => ({ ...defaultTopology, ...over });

t.test('the default topology is valid', async (t) => {
  t.doesNotThrow(() => validateTopology(defaultTopology));
});

t.test('sizes parse in MiB', async (t) => {
  t.equal(parseSizeMiB('2G', 'x'), 2048);
  t.equal(parseSizeMiB('2050M', 'x'), 2050);
  t.equal(parseSizeMiB('512', 'x'), 512);
  t.throws(() => parseSizeMiB('2.5G', '--mem'), /--mem "2.5G" is not a size/);
  t.same(parseMemmap('1G!5G'), { sizeMiB: 1024, startMiB: 5120 });
  t.throws(() => parseMemmap('1G'), /SIZE!START/);
});

t.test('label area must leave a 16 MiB-aligned region, and the error names the fix', async (t) => {
  t.throws(() => validateTopology(topo({ nvdimms: [{ sizeMiB: 2048, labelSizeMiB: 2 }] })), /use nvdimmSize 2050M/);
  t.doesNotThrow(() => validateTopology(topo({ nvdimms: [{ sizeMiB: 2048, labelSizeMiB: 0 }] })));
  t.throws(() => validateTopology(topo({ nvdimms: [{ sizeMiB: 64, labelSizeMiB: 0 }] })), /too small/);
  t.throws(() => validateTopology(topo({ nvdimms: [{ sizeMiB: 2050, labelSizeMiB: 100 }] })), /label size/);
});

t.test('no pmem at all is refused', async (t) => {
  t.throws(() => validateTopology(topo({ nvdimms: [], memmap: [] })), TopologyError);
});

t.test('q35 RAM layout splits around the PCI hole', async (t) => {
  t.same(ramRanges(2048), [{ startMiB: 0, endMiB: 2048 }]);
  t.same(ramRanges(4096), [
    { startMiB: 0, endMiB: 2048 },
    { startMiB: 4096, endMiB: 6144 },
  ]);
});

t.test('memmap ranges must sit inside guest RAM, aligned, without overlap', async (t) => {
  t.doesNotThrow(() => validateTopology(topo({ memMiB: 4096, memmap: [{ sizeMiB: 1024, startMiB: 4096 }] })));
  t.throws(() => validateTopology(topo({ nvdimms: [], memMiB: 2048, memmap: [{ sizeMiB: 1024, startMiB: 4096 }] })), /outside guest RAM/);
  t.throws(() => validateTopology(topo({ memMiB: 4096, memmap: [{ sizeMiB: 1024, startMiB: 4100 }] })), /128 MiB aligned/);
  t.throws(() => validateTopology(topo({ memMiB: 4096, memmap: [{ sizeMiB: 256, startMiB: 512 }] })), /below 1G/);
  t.throws(
    () => validateTopology(topo({ memMiB: 8192, memmap: [{ sizeMiB: 1024, startMiB: 4096 }, { sizeMiB: 1024, startMiB: 4608 }] })),
    /overlap/,
  );
  t.throws(() => validateTopology(topo({ memMiB: 1536, memmap: [{ sizeMiB: 1024, startMiB: 1024 }] })), /outside guest RAM|too little/);
  t.same(topologyCmdline(topo({ memmap: [{ sizeMiB: 1024, startMiB: 4096 }] })), ['memmap=1024M!4096M']);
});

t.test('topology hash is stable and sensitive', async (t) => {
  t.equal(topologyHash(defaultTopology), topologyHash(JSON.parse(JSON.stringify(defaultTopology))));
  t.not(topologyHash(defaultTopology), topologyHash(topo({ nvdimms: [{ sizeMiB: 2050, labelSizeMiB: 0 }] })));
});

t.test('memmap may not cover where QEMU loads the initramfs (top of RAM below 4G)', async (t) => {
  t.throws(() => validateTopology(topo({ memMiB: 2048, memmap: [{ sizeMiB: 1024, startMiB: 1024 }] })), /overlaps where QEMU loads the initramfs.*1792M-2048M/, '--memmap 1G!1G with 2G');
  t.throws(() => validateTopology(topo({ memMiB: 4096, memmap: [{ sizeMiB: 1024, startMiB: 1024 }] })), /initramfs/, 'low RAM ends at 2G from 2816M up');
  t.doesNotThrow(() => validateTopology(topo({ memMiB: 2048, memmap: [{ sizeMiB: 512, startMiB: 1024 }] })), 'below the band');
});

t.test('memmap may not overlap an NVDIMM or a memmap= word on the command line', async (t) => {
  t.same(nvdimmRanges(topo({ memMiB: 2048 })), [{ name: 'NVDIMM 0', startMiB: 4096, endMiB: 6146 }]);
  t.same(nvdimmRanges(topo({ memMiB: 12288, nvdimms: [{ sizeMiB: 6146, labelSizeMiB: 2 }, { sizeMiB: 130, labelSizeMiB: 0 }] })).map((r) => r.startMiB), [14336, 20482]);
  t.throws(() => validateTopology(topo({ memMiB: 2048, memmap: [{ sizeMiB: 1024, startMiB: 4096 }] })), /overlaps NVDIMM 0 \(4096M-6146M\)/);
  t.same(cmdlineMemmaps(['quiet', 'memmap=1G%10G-1+0xefffffff', 'memmap=512M$0x140000000,2G@0']), [
    { name: 'memmap=1G%10G-1+0xefffffff', startMiB: 10240, endMiB: 11264 },
    { name: 'memmap=512M$0x140000000', startMiB: 5120, endMiB: 5632 },
  ]);
  const big = topo({ memMiB: 12288 });
  t.throws(() => validateTopology({ ...big, memmap: [{ sizeMiB: 1024, startMiB: 9728 }] }, { cmdline: ['memmap=1G%10G-1+0xefffffff'] }), /overlaps memmap=1G%10G/);
  t.doesNotThrow(() => validateTopology({ ...big, memmap: [{ sizeMiB: 3072, startMiB: 6144 }, { sizeMiB: 1024, startMiB: 9216 }] }, { cmdline: ['memmap=1G%10G-1+0xefffffff'] }), "ndctl's guest");
  t.throws(() => validateTopology(big, { cmdline: ['memmap=lots!4G'] }), /memmap=lots!4G is not SIZE!START/);
});

t.test('a topology error is an input error (exit 2 in every CLI)', async (t) => {
  t.ok(new TopologyError(['x']) instanceof InputError);
});

const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return null;
};

t.test('a topology error names settings by key; the CLI says them as its flags', async (t) => {
  const numa = thrown(() => validateTopology(topo({ numaNodes: 2, memMiB: 1536 })));
  t.equal((numa as Error).message, 'numa 2 with mem 1536M leaves node 0 under 1 GiB (each further node takes 1 GiB): raise mem', 'below the CLI: the bare keys');
  t.equal(messageOf(numa), '--numa 2 with --mem 1536M leaves node 0 under 1 GiB (each further node takes 1 GiB): raise --mem', 'the CLI: its flags');
  const label = thrown(() => validateTopology(topo({ nvdimms: [{ sizeMiB: 2048, labelSizeMiB: 2 }] })));
  t.match(messageOf(label), /: use --nvdimm-size 2050M$/);
  // A memmap range named in one message and overlapped in a later one keeps its setting.
  const twice = thrown(() => validateTopology(topo({ memMiB: 8192, memmap: [{ sizeMiB: 1024, startMiB: 5120 }, { sizeMiB: 1024, startMiB: 5632 }] })));
  t.match(messageOf(twice), /^--memmap 1024M!5632M overlaps --memmap 1024M!5120M \(5120M-6144M\)/);
  t.match(messageOf(thrown(() => parseMemmap('1G'))), /^--memmap "1G" must be SIZE!START/);
  t.match(messageOf(thrown(() => validateTopology(defaultTopology, { cmdline: ['memmap=lots!4G'] }))), /^--append memmap=lots!4G is not SIZE!START/);
  // User text that looks like a setting stays text.
  t.match(messageOf(thrown(() => parseSizeMiB('{mem}', 'nvdimmSize'))), /^nvdimmSize "\{mem\}" is not a size/);
});
