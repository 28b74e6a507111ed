// ndctl JSON + /proc/iomem → the pfn range the census walks. Inputs as the
// 6.1 guest prints them.
import t from 'tap';
import { findNamespace, iomemRange, namespacePfnRange } from '../../harness/src/suites/census.ts';

const NDCTL_FSDAX = `[
  {
    "dev":"namespace0.0",
    "mode":"fsdax",
    "map":"dev",
    "size":2111832064,
    "uuid":"36671cd1-c5cb-46f0-a898-b58df2c68da9",
    "raw_uuid":"c554f83c-96d0-4637-bedf-5d5c6b348085",
    "sector_size":512,
    "align":2097152,
    "blockdev":"pmem0",
    "numa_node":0,
    "target_node":0
  }
]`;

// Two namespaces, one device-dax (ndctl's shape for devdax: chardev inside daxregion.devices).
const NDCTL_MIXED = `[
  {"dev":"namespace1.0","mode":"fsdax","map":"dev","size":1054867456,"blockdev":"pmem1"},
  {"dev":"namespace0.0","mode":"devdax","map":"dev","size":2111832064,"resource":"0x100000000","raw_size":2147483648,
   "daxregion":{"id":0,"size":2111832064,"align":2097152,"devices":[{"chardev":"dax0.0","size":2111832064,"target_node":0,"align":2097152,"mode":"devdax"}]}}
]`;

// A single namespace is printed as an object, not an array.
const NDCTL_ONE = `{"dev":"namespace0.0","mode":"fsdax","map":"mem","size":2147483648,"blockdev":"pmem0"}`;

const IOMEM = `00000000-00000fff : Reserved
00100000-7ffdefff : System RAM
  01000000-01e01d31 : Kernel code
fffc0000-ffffffff : Reserved
100000000-17fffffff : Persistent Memory
  100000000-17fffffff : namespace0.0
240000000-a3fffffff : PCI Bus 0000:00
`;

t.test('fsdax namespace by its blockdev', async (t) => {
  t.same(findNamespace(NDCTL_FSDAX, '/dev/pmem0'), { name: 'namespace0.0', mode: 'fsdax', resource: null, size: 2111832064, chardevs: [] });
  t.same(findNamespace(NDCTL_ONE, 'pmem0')?.name, 'namespace0.0', 'an object as well as an array; with or without /dev/');
  t.equal(findNamespace(NDCTL_FSDAX, '/dev/pmem1'), null);
  t.equal(findNamespace('not json', '/dev/pmem0'), null);
});

t.test('device-dax namespace by its chardev; raw_size preferred over the usable size', async (t) => {
  t.same(findNamespace(NDCTL_MIXED, '/dev/dax0.0'), { name: 'namespace0.0', mode: 'devdax', resource: 0x100000000, size: 2147483648, chardevs: ['dax0.0'] });
  t.equal(findNamespace(NDCTL_MIXED, '/dev/pmem1')?.name, 'namespace1.0');
});

t.test('iomem: nested names, end inclusive → exclusive', async (t) => {
  t.same(iomemRange(IOMEM, 'namespace0.0'), { start: 0x100000000n, end: 0x180000000n });
  t.equal(iomemRange(IOMEM, 'namespace9.9'), null);
});

// device-dax on the 6.1 guest: the namespace keeps the info block and memmap, dax0.0 the data.
const IOMEM_DEVDAX = `fffc0000-ffffffff : Reserved
100000000-17fffffff : Persistent Memory
  100000000-1021fffff : namespace0.0
  102200000-17fffffff : dax0.0
240000000-a3fffffff : PCI Bus 0000:00
`;

t.test('iomem: a device-dax namespace is the span of its namespace and dax device entries', async (t) => {
  t.same(iomemRange(IOMEM_DEVDAX, 'namespace0.0'), { start: 0x100000000n, end: 0x102200000n });
  t.same(iomemRange(IOMEM_DEVDAX, ['namespace0.0', 'dax0.0']), { start: 0x100000000n, end: 0x180000000n });
  const dd = findNamespace(NDCTL_MIXED, '/dev/dax0.0')!;
  t.same(namespacePfnRange(dd, IOMEM_DEVDAX), { start: 0x100000n, end: 0x180000n, from: 'iomem' });
});

t.test('pfn range: iomem first, ndctl resource + size as the fallback', async (t) => {
  const ns = findNamespace(NDCTL_FSDAX, '/dev/pmem0')!;
  t.same(namespacePfnRange(ns, IOMEM), { start: 0x100000n, end: 0x180000n, from: 'iomem' });
  t.equal(namespacePfnRange(ns, ''), null, 'ndctl without a resource gives nothing to go on');
  const dd = findNamespace(NDCTL_MIXED, '/dev/dax0.0')!;
  t.same(namespacePfnRange(dd, ''), { start: 0x100000n, end: 0x180000n, from: 'ndctl' });
});
