// The stressor matrix through the run workflow on Debian's stock kernel under
// TCG, checked case by case against the manifest: shared by the integration
// test (a representative subset) and test-long (the whole matrix).
import type { Test } from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../harness/src/workflows/run.ts';
import { defaultTopology } from '../harness/src/vm/topology.ts';
import { loadManifest, expandMatrix, outcomeExpected } from '../harness/src/suites/stressors/stressor-manifest.ts';
import type { RunRecord } from '../harness/src/results/records.ts';

export async function checkMatrix(t: Test, tests?: string[]): Promise<RunRecord> {
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
    tests,
    filesystems: ['ext4', 'xfs'],
    // One second each (every stressor does at least one full round): the
    // matrix is ~50 cases and the file has to stay near 12 minutes on 2 cores.
    seconds: 1,
    seed: 11,
    bootTimeoutMs: 240000,
    cmdlineExtra: [],
    progress: () => {},
  });
  t.comment(`run ${rec.id} in ${((Date.now() - started) / 1000).toFixed(0)} s, ${rec.tests.length} results, ${runDir}`);
  const manifest = await loadManifest();
  t.ok(guestFlags.size > 10, 'the guest CPU flags were read');
  const cpuinfoHas1G = guestFlags.has('pdpe1gb');
  const cases = expandMatrix(manifest, { tests, release: rec.kernel!.release, cpuFlags: guestFlags });
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
  const ran = (id: string) => cases.some((c) => c.id === id);
  if (ran('pmd_pte_mix.ext4')) t.equal(byId('pmd_pte_mix.ext4')?.metrics.aligned_mapping, 'pmd', 'PMD faults on ext4');
  if (ran('pmd_pte_mix.xfs')) t.equal(byId('pmd_pte_mix.xfs')?.metrics.aligned_mapping, 'pmd', 'PMD faults on xfs');
  if (ran('devdax_matrix.devdax-4k')) t.equal(byId('devdax_matrix.devdax-4k')?.metrics.fault_level, 'pte');
  if (ran('devdax_matrix.devdax-2m')) t.equal(byId('devdax_matrix.devdax-2m')?.metrics.fault_level, 'pmd');
  if (cpuinfoHas1G && ran('devdax_matrix.devdax-1g')) t.equal(byId('devdax_matrix.devdax-1g')?.metrics.fault_level, 'pud', 'PUD faults at 1G alignment');
  if (ran('longterm_pin.ext4')) t.equal(byId('longterm_pin.ext4')?.metrics.fsdax_pmd_faulted, 'EOPNOTSUPP', 'fsdax long-term pin refused');
  if (ran('teardown.devdax-2m')) t.equal(byId('teardown.devdax-2m')?.metrics.access_after_revoke, 'SIGBUS', 'revoked device-dax mapping SIGBUSes');
  const names = new Set(rec.tests.map((x) => x.name));
  for (const x of manifest.tests.filter((y) => y.default !== false && (!tests || tests.some((w) => w.split('.')[0] === y.name)))) t.ok(names.has(x.name), `${x.spec} ${x.name} ran`);
  const run = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as RunRecord;
  t.equal(run.tests.length, rec.tests.length, 'run.json holds every result');
  return rec;
}
