// A matrix cell on the run primitive: the plan it becomes (the night's kernel,
// the guest's share of the cores, the passes), the guests that rerun its
// failures, and its inputs judged before the night starts. No guest.
import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cellPlan, kernelChoice, checkCellInputs } from '../../harness/src/workflows/nightly/run-cell.ts';
import { rerunSelection, NightlyInputError } from '../../harness/src/workflows/nightly/index.ts';
import { parseNightConfig, expandMatrix } from '../../harness/src/workflows/nightly/config.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { NDCTL_GUEST } from '../../harness/src/suites/ndctl/ndctl.ts';
import type { MatrixCell } from '../../harness/src/workflows/nightly/plan.ts';
import type { TestStatus, Verdict } from '../../harness/src/results/records.ts';
import { fakeArtifact } from './nightly-fake.ts';

const dir = await mkdtemp(join(tmpdir(), 'nightly-cells-'));
await writeFile(join(dir, 'known.txt'), 'smoke:dax-smoke.xfs  *  fail  our xfs is broken\n');
const config = await parseNightConfig(
  {
    kernels: [{ name: 'stock', stock: true }],
    suites: [{ name: 'smoke', modes: ['xfs'] }, { name: 'stress', suite: 'stressors', tests: ['map_sync', 'pmd_pte_mix'], modes: ['ext4'], seconds: 5 }],
    topologies: [{ name: 'default' }, { name: 'big', nvdimms: 2, cpus: 2 }],
    overrides: [{ match: { suite: 'stress' }, repeat: 3 }],
    known: ['known.txt'],
    append: 'foo=1',
  },
  join(dir, 'n.yaml'),
  'h',
);
const cells = await expandMatrix(config);
const cell = (key: string) => cells.find((c) => c.key === key)!;

t.test('a cell becomes the primitive\'s plan: its key, the night\'s kernel, its passes, its share of the cores', async (t) => {
  const art = fakeArtifact('k1');
  const p = cellPlan(cell('stock.smoke.xfs.default'), { kind: 'artifact', artifact: art }, 1);
  t.equal(p.cellKey, 'stock.smoke.xfs.default', 'history follows the matrix key');
  t.same(p.kernel, { kind: 'artifact', artifact: art }, 'the kernel the night prepared once');
  t.same(p.filesystems, ['xfs']);
  t.same(p.topology, { ...defaultTopology, cpus: 1 }, "the suite's own guest, with the scheduler's vCPUs");
  t.same(p.known, [join(dir, 'known.txt')]);
  t.same(p.cmdlineExtra, ['foo=1']);
  t.equal(p.repeat, 1);
  const s = cellPlan(cell('stock.stress.ext4.default'), { kind: 'artifact', artifact: art }, 2);
  t.equal(s.repeat, 3, "the cell's repeat is the primitive's passes in one guest");
  t.same([...s.tests!].sort(), ['map_sync.ext4', 'pmd_pte_mix.ext4']);
  t.equal(s.topology!.cpus, 2);
  const big = cellPlan(cell('stock.smoke.xfs.big'), { kind: 'artifact', artifact: art }, 1);
  t.equal(big.topology!.cpus, 2, 'a topology that sets cpus keeps them');
  t.equal(big.topology!.nvdimms.length, 2);
  const nd: MatrixCell = { ...cell('stock.smoke.xfs.default'), suite: 'ndctl', fs: [], ndctl: dir, image: 'rootfs' };
  t.same(cellPlan(nd, { kind: 'stock' }, 1).topology, { ...NDCTL_GUEST.topology, cpus: 1 }, "ndctl's own guest, resized");
  const before = structuredClone(defaultTopology);
  cellPlan(cell('stock.smoke.xfs.default'), { kind: 'stock' }, 7).topology!.nvdimms.push({ sizeMiB: 1, labelSizeMiB: 0 });
  t.same(defaultTopology, before, "the suite's default guest is copied, not changed in place");
});

t.test("each kernel spec is the kernel pipeline's choice", async (t) => {
  t.same(kernelChoice({ kind: 'stock' }), { kind: 'stock', pkg: undefined });
  t.same(kernelChoice({ kind: 'stock', pkg: 'linux-image-6.1.0-9-amd64' }), { kind: 'stock', pkg: 'linux-image-6.1.0-9-amd64' });
  t.same(kernelChoice({ kind: 'debian', version: '6.12', config: ['dax'] }), { kind: 'build', opts: { source: 'debian:6.12', ref: undefined, series: undefined, config: ['dax'], configBase: undefined } });
  t.same(kernelChoice({ kind: 'git', tree: '/src/linux', ref: 'v6.12', series: 'a..b' }), { kind: 'build', opts: { source: '/src/linux', ref: 'v6.12', series: 'a..b', config: undefined, configBase: undefined } });
});

type T = { name: string; params: Record<string, string>; status: TestStatus; verdict?: Verdict };
const r = (name: string, verdict: Verdict, params: Record<string, string> = {}): T => ({ name, params, status: verdict === 'pass' ? 'pass' : 'fail', verdict });

t.test('reruns: failing tests as passes in one guest, a failing boot as guests of their own', async (t) => {
  const smoke = cell('stock.smoke.xfs.default');
  const base = new Map<string, Verdict[]>([['boot', ['pass']], ['setup.fsdax[mode=fsdax]', ['pass']], ['dax-smoke[fs=xfs,mode=fsdax]', ['pass']]]);
  const tests = [r('boot', 'pass'), r('setup.fsdax', 'fail', { mode: 'fsdax' }), r('dax-smoke', 'pass', { fs: 'xfs', mode: 'fsdax', dev: '/dev/pmem0' })];
  const a = rerunSelection(smoke, tests, base, 4)!;
  t.same(a.keys, ['setup.fsdax[mode=fsdax]']);
  t.same(a.cells.map((c) => [c.key, c.repeat, c.tests]), [['stock.smoke.xfs.default', 4, undefined]], 'the smoke reruns its cell: one guest, four passes');

  const boot = rerunSelection(smoke, [{ ...r('boot', 'fail'), status: 'crash' }, ...tests.slice(1)], base, 3)!;
  t.same(boot.keys, ['boot', 'setup.fsdax[mode=fsdax]']);
  t.same(boot.cells.map((c) => c.repeat), [1, 1, 1], 'a boot is rerun by booting: three guests of one pass');

  const stress = cell('stock.stress.ext4.default');
  const sBase = new Map<string, Verdict[]>([['boot', ['pass']], ['map_sync[mode=ext4]', ['pass']], ['pmd_pte_mix[mode=ext4]', ['pass']]]);
  const passes = (v: Verdict[], name: string) => v.map((x, i) => r(name, x, { mode: 'ext4', target: 'ext4', pass: String(i + 1) }));
  const sTests = [r('boot', 'pass'), ...passes(['pass', 'fail', 'pass'], 'map_sync'), ...passes(['pass', 'pass', 'pass'], 'pmd_pte_mix')];
  sBase.set('map_sync[mode=ext4,target=ext4]', ['pass']);
  sBase.set('pmd_pte_mix[mode=ext4,target=ext4]', ['pass']);
  const s = rerunSelection(stress, sTests, sBase, 4)!;
  t.same(s.keys, ['map_sync[mode=ext4,target=ext4]'], 'passes of one test are one test');
  t.same(s.cells.map((c) => [c.tests, c.repeat]), [[['map_sync.ext4'], 4]], 'only the failing stressor, four passes');

  const sBoot = rerunSelection(stress, [r('boot', 'fail'), ...passes(['pass'], 'map_sync')], sBase, 2)!;
  t.same(sBoot.cells.map((c) => [c.tests, c.repeat]), [[stress.tests, 1], [stress.tests, 1]], 'a failing boot alone reruns the cell\'s own tests behind each boot');

  t.equal(rerunSelection(smoke, [r('setup.fsdax', 'fail', { mode: 'fsdax' })], new Map([['setup.fsdax[mode=fsdax]', ['fail' as Verdict]]]), 4), null, 'failing on the baseline too: no rerun');
  t.equal(rerunSelection(smoke, [r('setup.fsdax', 'fail', { mode: 'fsdax' })], new Map(), 4), null, 'not on the baseline: no rerun');
});

t.test("a cell's inputs are judged before the night: one line naming the cell", async (t) => {
  await checkCellInputs(cell('stock.smoke.xfs.default'));
  const bad = { ...cell('stock.smoke.xfs.default'), image: 'no-such-image' };
  const e = await checkCellInputs(bad).then(() => null, (x: Error) => x);
  t.ok(e instanceof NightlyInputError, String(e));
  t.match(e?.message, /^cell stock\.smoke\.xfs\.default: image recipe "no-such-image" not found/);
  const e2 = await checkCellInputs({ ...cell('stock.smoke.xfs.default'), suite: 'ndctl' }).then(() => null, (x: Error) => x);
  t.match(e2?.message, /^cell stock\.smoke\.xfs\.default: .*ndctl/, 'the ndctl suite without a tree');
});
