// Long proof (npm run test:long): a kernel the pipeline builds for ndctl's
// suite (Debian's 6.12 source with the dax, ndctl and cxl-test fragments,
// ~15 min cold here) boots the systemd rootfs, and its guest has everything
// the 13 tests look for, cxl_test included, which Debian's own kernels
// cannot take (CXL_BUS=y).
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../harness/src/workflows/run.ts';
import { repoRoot } from '../harness/src/host/paths.ts';

t.test('built 6.12 kernel with cxl_test: the ndctl guest is complete', async (t) => {
  const { record, runDir } = await runWorkflow({
    kernel: { kind: 'build', opts: { source: 'debian:6.12', config: ['dax', 'ndctl', 'cxl-test'] } },
    image: 'rootfs',
    resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-results-')),
    suite: 'ndctl',
    ndctl: join(repoRoot, 'suites', 'fake-ndctl'),
    tests: ['guest-ready.sh'],
    filesystems: [],
    seconds: 0,
    seed: 1,
    bootTimeoutMs: 300000,
    cmdlineExtra: [],
    progress: (p, m) => t.comment(`[${p}] ${m}`),
  });
  t.equal(record.kernel?.kind, 'built');
  t.ok(record.kernel?.build?.nfitModules.includes('cxl_test'), 'cxl_test was built and installed beside nfit_test');
  const ready = record.tests[0];
  const log = ready ? readFileSync(join(runDir, ready.log), 'utf8') : '';
  t.equal(ready?.status, 'pass', log.split('\n').filter((l) => l.startsWith('missing')).join('; ') || 'every need present');
  t.match(log, /ok: cxl_test loads and makes its CXL root/);
  t.match(log, /ok: NUMA node 1/);
  t.match(log, /ok: nd_pmem is nfit_test's wrapped copy/);
});
