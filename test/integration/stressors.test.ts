// The stressor suite on real parts: Debian's stock kernel under TCG, one
// labelled NVDIMM, every stressor across its manifest matrix (ext4, xfs,
// xfs reflink=1, device-dax 4K/2M/1G) through the run workflow, each landing
// with the status the manifest expects of this kernel, with taint verdicts
// recorded. Then, in a second guest, the data checks are shown to bite:
// every file stressor run with --self-test-corrupt must fail.
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../../harness/src/workflows/run.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { bootDefault } from './boot-default.ts';
import { loadManifest, expandMatrix, outcomeExpected } from '../../harness/src/suites/stressor-manifest.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';

const quiet = () => {};

t.test('every stressor across its matrix on the stock kernel lands as the manifest expects', async (t) => {
  const progress: string[] = [];
  const started = Date.now();
  // What the guest CPU offers, read from the guest itself (not from the results under test).
  let guestFlags = new Set<string>();
  const { record: rec, runDir } = await runWorkflow({
    onReady: async (s) => {
      const info = await s.guest.exec(['cat', '/proc/cpuinfo'], { timeoutMs: 20000 });
      guestFlags = new Set((/^flags\s*:(.*)$/m.exec(info.stdout)?.[1] ?? '').trim().split(/\s+/));
    },
    kernel: { kind: 'stock' },
    image: 'initramfs',
    topology: defaultTopology,
    resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-stressors-')),
    suite: 'stressors',
    filesystems: ['ext4', 'xfs'],
    // One second each (every stressor does at least one full round): the
    // matrix is ~50 cases and the file has to stay near 12 minutes on 2 cores.
    seconds: 1,
    seed: 11,
    bootTimeoutMs: 240000,
    cmdlineExtra: [],
    progress: (phase, msg) => progress.push(`[${phase}] ${msg}`),
  });
  t.comment(`run ${rec.id} in ${((Date.now() - started) / 1000).toFixed(0)} s, ${rec.tests.length} results, ${runDir}`);
  const manifest = await loadManifest();
  t.ok(guestFlags.size > 10, 'the guest CPU flags were read');
  const cpuinfoHas1G = guestFlags.has('pdpe1gb');
  const cases = expandMatrix(manifest, { release: rec.kernel!.release, cpuFlags: guestFlags });
  t.notOk(rec.tests.some((x) => x.name.startsWith('setup.')), `no setup failure: ${rec.tests.filter((x) => x.name.startsWith('setup.')).map((x) => x.reason).join('; ')}`);
  const boot = rec.tests.find((x) => x.name === 'boot');
  t.equal(boot?.status, 'pass', 'the boot is a clean step of its own');
  const cells = rec.tests.filter((x) => x.name !== 'boot');
  t.equal(cells.length, cases.length, 'one result per (stressor, target)');
  // The known 6.1 outcomes (vma_ops, reflink_share...) are expected failures:
  // the run passes, and each of them says XFAIL with the manifest's reason.
  t.equal(rec.status, 'pass', `the run passes on the stock kernel: ${rec.reason}`);
  t.same(cells.filter((x) => x.verdict === 'fail' || x.verdict === 'error').map((x) => `${x.name}.${x.params.target}: ${x.reason}`), [], 'no unexpected outcome');
  for (const x of cells.filter((y) => y.verdict === 'xfail')) t.ok(x.expected?.why, `${x.name}.${x.params.target}: XFAIL says why (${x.expected?.why})`);
  for (const c of cases) {
    const r = rec.tests.find((x) => x.name === c.test.name && x.params.target === c.targetName);
    t.ok(r, `${c.id} has a result`);
    if (!r) continue;
    t.ok(outcomeExpected(c.expect, r.status, r.reason), `${c.id}: ${r.status}${r.reason ? ` (${r.reason})` : ''}, expected ${[c.expect.status, ...c.expect.sometimes.map((x) => `sometimes ${x.status}`)].join(' or ')}`);
    t.equal(r.metrics.as_expected, true, `${c.id}: recorded as expected`);
    t.same(r.params.target, c.targetName);
    t.equal(r.params.mode, c.target.mode);
    if (c.target.fs) t.equal(r.params.fs, c.target.fs);
    if (c.target.align) t.equal(r.params.align, c.target.align);
    if (c.target.reflink) t.equal(r.params.reflink, c.target.reflink);
    if (r.status !== 'skip' || c.target.mode === 'fsdax') {
      // Every case that ran on a prepared target carries a taint verdict.
      if (!(c.targetName === 'devdax-1g' && !cpuinfoHas1G)) t.type(r.metrics.taint_new, 'string', `${c.id}: taint verdict recorded`);
    }
    if (c.target.mode === 'fsdax' && r.status === 'pass') {
      t.equal(r.metrics.dax_mount, 'on', `${c.id}: DAX really on`);
      t.equal(r.metrics.fsck, 'clean', `${c.id}: fsck -n clean after unmount`);
    }
  }
  const byId = (id: string) => rec.tests.find((x) => `${x.name}.${x.params.target}` === id);
  t.equal(byId('pmd_pte_mix.ext4')?.metrics.aligned_mapping, 'pmd', 'PMD faults on ext4');
  t.equal(byId('pmd_pte_mix.xfs')?.metrics.aligned_mapping, 'pmd', 'PMD faults on xfs');
  t.equal(byId('devdax_matrix.devdax-4k')?.metrics.fault_level, 'pte');
  t.equal(byId('devdax_matrix.devdax-2m')?.metrics.fault_level, 'pmd');
  if (cpuinfoHas1G) t.equal(byId('devdax_matrix.devdax-1g')?.metrics.fault_level, 'pud', 'PUD faults at 1G alignment');
  t.equal(byId('longterm_pin.ext4')?.metrics.fsdax_pmd_faulted, 'EOPNOTSUPP', 'fsdax long-term pin refused');
  t.equal(byId('teardown.devdax-2m')?.metrics.access_after_revoke, 'SIGBUS', 'revoked device-dax mapping SIGBUSes');
  const ran = new Set(rec.tests.map((x) => x.name));
  for (const x of manifest.tests.filter((y) => y.default !== false)) t.ok(ran.has(x.name), `${x.spec} ${x.name} ran`);
  const run = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as RunRecord;
  t.equal(run.tests.length, rec.tests.length, 'run.json holds every result');
});

t.test('opt-in known-bug case by name: pipe_pin_unmapped on ext4 is recorded as the 6.1 WARN it provokes', async (t) => {
  const { record: rec } = await runWorkflow({
    kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology,
    resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-stressors-')), suite: 'stressors', tests: ['pipe_pin_unmapped'],
    filesystems: ['ext4', 'xfs'], seconds: 1, seed: 3, bootTimeoutMs: 240000, cmdlineExtra: [], progress: quiet,
  });
  const [c] = expandMatrix(await loadManifest(), { tests: ['pipe_pin_unmapped'], release: rec.kernel!.release, cpuFlags: new Set() });
  t.equal(rec.tests.length, 1, 'only the named test ran');
  const r = rec.tests[0];
  t.equal(r?.status, c.expect.status, `${r?.status}: ${r?.reason}`);
  if (c.expect.status === 'crash') {
    t.ok(r.crashes.length > 0, 'the kernel report is attached to the test');
    t.match(r.reason, new RegExp(c.expect.match!));
    t.match(String(r.metrics.taint_new), /W/, 'and the W taint it left is recorded');
  }
});

t.test('the data checks bite: --self-test-corrupt makes every file stressor fail', async (t) => {
  const { s } = await bootDefault('corrupt');
  t.teardown(() => s.close());
  const sh = (argv: string[], ms = 60000) => s.guest.exec(argv, { timeoutMs: ms });
  for (const argv of [
    ['ndctl', 'disable-region', 'region0'], ['ndctl', 'init-labels', '-f', 'nmem0'], ['ndctl', 'enable-region', 'region0'],
    ['ndctl', 'create-namespace', '-r', 'region0', '-m', 'fsdax'],
    ['mkfs.ext4', '-F', '-q', '-E', 'stride=512,stripe_width=512', '/dev/pmem0'], ['mkdir', '-p', '/mnt/dax'],
    ['mount', '-o', 'dax', '/dev/pmem0', '/mnt/dax'],
  ]) {
    const r = await sh(argv);
    t.equal(r.exitCode, 0, `${argv.join(' ')}`);
  }
  const manifest = await loadManifest();
  const fileStressors = [...new Set(manifest.tests.filter((x) => x.targets.includes('ext4') && x.default !== false).map((x) => x.binary ?? x.name))];
  for (const b of fileStressors) {
    if (b === 'reflink_share') continue; // skips on ext4 before any data is written
    const argv = [b, '--file', `/mnt/dax/${b}.dat`, '--seconds', '0.2', '--self-test-corrupt', '--raw', '/dev/pmem0', '--mnt', '/mnt/dax', '--hold-ms', '100'];
    const r = await sh(argv, 120000);
    t.equal(r.exitCode, 1, `${b}: exit 1 with a corrupted byte`);
    t.match(r.stdout.trim().split('\n').pop() ?? '', /^result=fail reason=/, `${b}: the last line names the failure`);
  }
  const d = await sh(['devdax_matrix', '--dev', '/dev/nonexistent']);
  t.equal(d.exitCode, 1, 'a missing device is a failure, not a skip');
});
