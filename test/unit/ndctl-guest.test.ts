import t from 'tap';
import { NDCTL_GUEST } from '../../harness/src/suites/ndctl/ndctl.ts';
import { suiteKernelChoice } from '../../harness/src/workflows/cell/index.ts';
import { suiteByName } from '../../harness/src/suites/index.ts';

const ndctlKernelChoice = (k: Parameters<typeof suiteKernelChoice>[0]) => suiteKernelChoice(k, suiteByName('ndctl').needs({}).kernelFragments);
import { validateTopology, topologyCmdline, ramRanges } from '../../harness/src/vm/topology.ts';
import { sourceSeries } from '../../harness/src/kernel/nfit-stock.ts';
import { depmodOverrides } from '../../harness/src/kernel/test-modules.ts';
import { wantsCxlTest } from '../../harness/src/kernel/build.ts';
import { loadProfile } from '../../harness/src/kernel/config.ts';

t.test("ndctl's guest: legacy pmem where q35 has RAM, room for the tests' namespaces", async (t) => {
  const g = NDCTL_GUEST.topology;
  t.doesNotThrow(() => validateTopology(g));
  t.same(topologyCmdline(g), ['memmap=3072M!6144M', 'memmap=1024M!9216M'], 'the first e820 region (dax-dev picks the lowest id) is the 3 GiB one');
  const high = ramRanges(g.memMiB).at(-1)!;
  // The soft-reserved GiB for dax_hmem sits in RAM too, past the legacy pmem.
  const hmem = /^memmap=1G%10G-1\+0xefffffff$/.exec(NDCTL_GUEST.cmdline[0] ?? '');
  t.ok(hmem, 'soft-reserved memory by retyping RAM (E820 type 1 to 0xefffffff)');
  t.ok(high.endMiB >= 11 * 1024, 'RAM reaches past 11 GiB, so 10G-11G is RAM to retype');
  const data = g.nvdimms[0]!.sizeMiB - g.nvdimms[0]!.labelSizeMiB;
  t.ok(g.nvdimms[0]!.labelSizeMiB > 0, 'labelled: namespaces can be created and destroyed');
  t.ok(data >= 4096 + 1024, "daxctl-devices' 4 GiB devdax fits with alignment to spare");
  t.ok(NDCTL_GUEST.modules.includes('nfit_test'));
});

t.test('a kernel built for the ndctl suite gets the ndctl fragment unless fragments were chosen', async (t) => {
  t.same(ndctlKernelChoice({ kind: 'build', opts: { source: 'debian:6.12' } }), { kind: 'build', opts: { source: 'debian:6.12', config: ['dax', 'ndctl'] } });
  const mine = { kind: 'build' as const, opts: { config: ['dax', 'lockdep'] } };
  t.equal(ndctlKernelChoice(mine), mine);
  const stock = { kind: 'stock' as const };
  t.equal(ndctlKernelChoice(stock), stock);
  const p = await loadProfile(['dax', 'ndctl', 'cxl-test']);
  for (const n of ['ndctl', 'cxl-test']) t.ok(p.fragments.some((f) => f.name === n && f.options.size > 5), `the shipped ${n} fragment parses`);
});

t.test('cxl_test only where its config_check passes', async (t) => {
  t.ok(wantsCxlTest('CONFIG_CXL_BUS=m\nCONFIG_CXL_ACPI=m\nCONFIG_CXL_PMEM=m\n'));
  t.notOk(wantsCxlTest('CONFIG_CXL_BUS=y\nCONFIG_CXL_ACPI=m\nCONFIG_CXL_PMEM=m\n'), "Debian's CXL_BUS=y");
  t.notOk(wantsCxlTest('# CONFIG_CXL_BUS is not set\n'));
});

t.test('stock nfit_test helpers', async (t) => {
  t.equal(sourceSeries('6.1.0-56-amd64'), '6.1');
  t.equal(sourceSeries('6.12.57+deb13-amd64'), '6.12');
  t.equal(sourceSeries('weird'), null);
  t.equal(depmodOverrides(['libnvdimm', 'nd_pmem']), 'override libnvdimm * extra\noverride nd_pmem * extra\n');
});
