// The stressor manifest: the real file validates and covers S1–S15, version
// ranges, expectation resolution per kernel, matrix expansion and the test
// names users pass (`stressor`, `stressor.target`).
import t from 'tap';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  outcomeExpected,
  loadManifest,
  validateManifest,
  kernelVersion,
  inRange,
  resolveExpectation,
  expandMatrix,
  knownNames,
  checkStressorTestNames,
  caseArgv,
  caseParams,
  ManifestError,
  type Manifest,
} from '../../harness/src/suites/stressors/stressor-manifest.ts';
import { stressorDir } from '../../harness/src/image/initramfs.ts';

const stock = '6.1.0-56-amd64';
const withGb = new Set(['fpu', 'pdpe1gb']);
const noGb = new Set(['fpu']);

t.test('the real manifest: valid, every spec stressor, binaries exist and are in the image', async (t) => {
  const m = await loadManifest();
  const specs = new Set(m.tests.map((x) => x.spec));
  for (let i = 1; i <= 15; i++) t.ok(specs.has(`S${i}`), `S${i} is in the manifest`);
  const recipe = JSON.parse(readFileSync(join(stressorDir, '../../images/initramfs/recipe.json'), 'utf8')) as { stressors: string[] };
  for (const x of m.tests) {
    const bin = x.binary ?? x.name;
    t.ok(existsSync(join(stressorDir, `${bin}.c`)), `${bin}.c exists`);
    t.ok(recipe.stressors.includes(bin), `${bin} is built into the image`);
  }
  t.same(Object.keys(m.targets), ['ext4', 'xfs', 'xfs-reflink', 'devdax-4k', 'devdax-2m', 'devdax-1g'], 'targets in run order');
});

t.test('kernel versions and ranges', async (t) => {
  t.same(kernelVersion('6.1.0-56-amd64'), [6, 1, 0]);
  t.same(kernelVersion('6.15-rc3'), [6, 15, 0]);
  t.same(kernelVersion('6.12.7+'), [6, 12, 7]);
  t.throws(() => kernelVersion('vmlinuz'), ManifestError);
  t.ok(inRange(stock, '<6.5'));
  t.notOk(inRange(stock, '>=6.5'));
  t.ok(inRange('6.15.0', '>=6.15'));
  t.notOk(inRange('6.14.9', '>=6.15'));
  t.ok(inRange('6.10.1', '>=6.5 <6.15'), 'ranges are conjunctions');
  t.notOk(inRange('6.15.1', '>=6.5 <6.15'));
  t.ok(inRange('6.1.99', '=6.1'), '=6.1 is the series');
  t.notOk(inRange('6.10.0', '=6.1'), '6.10 is not 6.1 (numeric, not prefix)');
  t.ok(inRange('6.1.3', '<=6.1.3'));
});

t.test('expectations resolve per kernel version and target', async (t) => {
  const m = await loadManifest();
  const test = (n: string) => m.tests.find((x) => x.name === n)!;
  const lp61 = resolveExpectation(test('longterm_pin'), 'devdax-2m', stock);
  t.same(lp61.args, ['--expect', 'refused'], 'io_uring refuses device-dax before 6.5');
  t.equal(lp61.status, 'pass');
  t.ok(lp61.verified, 'observed on the stock kernel');
  const lp66 = resolveExpectation(test('longterm_pin'), 'devdax-2m', '6.6.30');
  t.same(lp66.args, ['--expect', 'pinned']);
  t.notOk(lp66.verified, 'not run here: marked unverified');
  t.same(resolveExpectation(test('longterm_pin'), 'xfs', '6.15.0').args, ['--expect', 'refused'], 'fsdax long-term pins refused on every kernel');
  t.equal(resolveExpectation(test('reflink_share'), 'ext4', stock).status, 'skip');
  t.equal(resolveExpectation(test('reflink_share'), 'xfs-reflink', stock).status, 'crash');
  t.equal(resolveExpectation(test('reflink_share'), 'xfs-reflink', '6.6.0').status, 'pass');
  t.equal(resolveExpectation(test('vma_ops'), 'devdax-4k', stock).status, 'pass', 'no PMDs at 4K alignment');
  t.equal(resolveExpectation(test('vma_ops'), 'ext4', stock).status, 'fail');
  t.equal(resolveExpectation(test('pmd_pte_mix'), 'ext4', stock).status, 'pass');
  t.same(resolveExpectation(test('teardown'), 'ext4', '6.15.0').args, ['--variant', 'lazy,pipe', '--expect', 'blocks']);
});

t.test('matrix: default set, grouping by target, opt-in tests, 1G needs pdpe1gb', async (t) => {
  const m = await loadManifest();
  const all = expandMatrix(m, { release: stock, cpuFlags: withGb });
  t.notOk(all.some((c) => c.test.default === false), 'opt-in tests are not in the default set');
  const order = [...new Set(all.map((c) => c.targetName))];
  t.same(order, ['ext4', 'xfs', 'xfs-reflink', 'devdax-4k', 'devdax-2m', 'devdax-1g'], 'one contiguous group per target');
  for (let i = 1; i < all.length; i++)
    if (all[i].targetName !== all[i - 1].targetName) t.notOk(all.slice(i).some((c) => c.targetName === all[i - 1].targetName), `${all[i - 1].targetName} does not come back`);
  const ids = all.map((c) => c.id);
  t.equal(new Set(ids).size, ids.length, 'case ids are unique');
  t.ok(ids.includes('devdax_matrix.devdax-1g'));
  t.equal(all.find((c) => c.id === 'devdax_matrix.devdax-1g')!.unavailable, null);
  t.match(expandMatrix(m, { release: stock, cpuFlags: noGb }).find((c) => c.id === 'devdax_matrix.devdax-1g')!.unavailable, /pdpe1gb/);
  const ext4 = all.filter((c) => c.targetName === 'ext4').map((c) => c.test.name);
  t.same(ext4.slice(-2), ['hwpoison', 'reflink_share'], 'what outlasts a test (poison, stale shared mappings) runs last on a target');
});

t.test('name filtering: stressor, stressor.target, opt-in by name, unknown names', async (t) => {
  const m = await loadManifest();
  const pick = (tests: string[]) => expandMatrix(m, { tests, release: stock, cpuFlags: withGb }).map((c) => c.id);
  t.same(pick(['longterm_pin']), ['longterm_pin.ext4', 'longterm_pin.xfs', 'longterm_pin.xfs-reflink', 'longterm_pin.devdax-2m']);
  t.same(pick(['longterm_pin.xfs']), ['longterm_pin.xfs']);
  t.same(pick(['longterm_pin.xfs', 'map_sync.ext4']), ['map_sync.ext4', 'longterm_pin.xfs'], 'manifest order, grouped by target');
  t.same(pick(['longterm_pin.xfs', 'longterm_pin']).length, 4, 'a whole stressor wins over one of its targets');
  t.same(pick(['pipe_pin_unmapped']), ['pipe_pin_unmapped.ext4'], 'an opt-in test runs when named');
  t.throws(() => pick(['nosuch']), /unknown stressor test "nosuch"/);
  t.throws(() => pick(['map_sync.devdax-2m']), /unknown stressor test/, 'a target the stressor does not run on is unknown');
  t.ok(knownNames(m).includes('reflink_share.xfs-reflink'));
  await t.resolves(checkStressorTestNames(['vma_ops.devdax-4k', 'teardown']));
  await t.resolves(checkStressorTestNames(undefined));
  await t.rejects(checkStressorTestNames(['vma_ops.devdax-1g']), /unknown stressor test "vma_ops.devdax-1g"/);
});

t.test('argv and params of a case', async (t) => {
  const m = await loadManifest();
  const [c] = expandMatrix(m, { tests: ['odirect_into_dax.xfs-reflink'], release: stock, cpuFlags: noGb, seconds: 1 });
  const v = { file: '/mnt/dax/x.dat', dev: '/dev/pmem0', mnt: '/mnt/dax', raw: '/dev/pmem0', holdMs: '300' };
  t.same(caseArgv(c, 7, v), ['odirect_into_dax', '--file', '/mnt/dax/x.dat', '--seconds', '1', '--seed', '7', '--raw', '/dev/pmem0']);
  t.same(caseParams(c), { fs: 'xfs', mode: 'fsdax', reflink: '1', target: 'xfs-reflink' });
  const [d] = expandMatrix(m, { tests: ['devdax_matrix.devdax-2m'], release: stock, cpuFlags: noGb });
  t.same(caseArgv(d, 1, { ...v, dev: '/dev/dax0.0' }), ['devdax_matrix', '--dev', '/dev/dax0.0', '--seconds', '2', '--seed', '1', '--size-mib', '16', '--expect', 'refused']);
  t.same(caseParams(d), { mode: 'devdax', align: '2M', target: 'devdax-2m' });
  t.equal(d.seconds, 2, 'the manifest seconds when --seconds is 0/absent');
});

t.test('validation names the problem', async (t) => {
  const good = (): Manifest => ({
    schema: 1,
    targets: { ext4: { mode: 'fsdax', fs: 'ext4' }, 'devdax-2m': { mode: 'devdax', align: '2M' } },
    tests: [{ name: 'a', spec: 'S1', seconds: 1, targets: ['ext4'], expect: [] }],
  });
  t.ok(validateManifest(good()));
  const bad = (mut: (m: Manifest) => void, re: RegExp) => {
    const m = good();
    mut(m);
    t.throws(() => validateManifest(m), re);
  };
  bad((m) => (m.schema = 2 as 1), /schema 2/);
  bad((m) => (m.tests[0].targets = ['nope']), /unknown target "nope"/);
  bad((m) => m.tests.push({ ...m.tests[0] }), /listed twice/);
  bad((m) => (m.tests[0].expect = [{ kernel: '~6.1', why: 'x' }]), /not a version comparison/);
  bad((m) => (m.tests[0].expect = [{ why: '' }]), /needs a "why"/);
  bad((m) => (m.tests[0].expect = [{ status: 'maybe' as 'pass', why: 'x' }]), /status must be/);
  bad((m) => (m.tests[0].expect = [{ targets: ['devdax-2m'], why: 'x' }]), /not one of the test's targets/);
  bad((m) => (m.tests[0].args = ['{nope}']), /unknown placeholder \{nope\}/);
  bad((m) => (m.tests[0].seconds = 0), /seconds/);
  bad((m) => (m.targets.ext4 = { mode: 'devdax' }), /align 4K, 2M or 1G/);
  bad((m) => (m.targets.ext4 = { mode: 'fsdax', fs: 'ext4', reflink: '1' }), /only for xfs/);
  bad((m) => ((m.tests[0] as { hooks?: string[] }).hooks = ['reboot']), /unknown hook/);
});

t.test('an intermittent kernel answer is expected alongside the usual one, nothing else is', async (t) => {
  const m = await loadManifest();
  const [c] = expandMatrix(m, { tests: ['gup_fast_slow_race.ext4'], release: '6.1.0-56-amd64', cpuFlags: new Set() });
  t.ok(outcomeExpected(c!.expect, 'pass', ''), 'the usual pass');
  t.ok(outcomeExpected(c!.expect, 'fail', 'kernel log: mm/pgtable-generic.c:51: bad pmd ffff8880(84000001044000a5)'), 'the race, when hit');
  t.notOk(outcomeExpected(c!.expect, 'fail', 'aligned: mapping readback mismatch at offset 4096'), 'a data failure is never expected');
  const [later] = expandMatrix(m, { tests: ['gup_fast_slow_race.ext4'], release: '6.15.0', cpuFlags: new Set() });
  t.notOk(outcomeExpected(later!.expect, 'fail', 'bad pmd'), 'not on kernels that no longer mistake devmap PMDs');
});

t.test('expectedOutcome: the manifest answer in the shape verdicts use', async (t) => {
  const { expectedOutcome } = await import('../../harness/src/suites/stressors/stressor-manifest.ts');
  const base = { args: [], why: ['w1', 'w2'], verified: true, sometimes: [] };
  t.equal(expectedOutcome({ ...base, status: 'pass' }), null, 'a plain pass needs no expectation');
  t.same(expectedOutcome({ ...base, status: 'fail', match: 'bad pmd' }), { statuses: ['fail'], match: '(?:bad pmd)', why: 'w1; w2', source: 'suites/stressors/manifest.json' });
  const race = expectedOutcome({ ...base, status: 'pass', sometimes: [{ status: 'fail', match: 'bad pmd' }] });
  t.same(race?.statuses, ['pass', 'fail'], 'a race may pass or fail');
  t.equal(race?.match, '(?:bad pmd)');
  const two = expectedOutcome({ ...base, status: 'crash', sometimes: [{ status: 'fail' }] });
  t.equal(two?.match, undefined, 'an outcome without a reason pattern accepts any reason');
});
