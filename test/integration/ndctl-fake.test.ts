// The ndctl runner on real parts, with our own meson project standing in for
// ndctl (its source is not available here): the rootfs guest, the tree and
// build dir shared over 9p at the same paths, every way a test can end.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../../harness/src/workflows/run.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { repoRoot } from '../../harness/src/host/paths.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';

t.test('fake ndctl dax suite: OK, SKIP with reason, FAIL, TIMEOUT, hang, kernel crash', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-results-'));
  const progress: string[] = [];
  const { record, runDir } = await runWorkflow({
    kernel: { kind: 'stock' },
    image: 'rootfs',
    topology: defaultTopology,
    resultsRoot: results,
    suite: 'ndctl',
    ndctl: join(repoRoot, 'suites', 'fake-ndctl'),
    hangMs: 20000,
    filesystems: [],
    seconds: 0,
    seed: 1,
    bootTimeoutMs: 300000,
    cmdlineExtra: [],
    progress: (p, m) => progress.push(`[${p}] ${m}`),
  });
  const by = Object.fromEntries(record.tests.map((x) => [x.name, x]));
  t.equal(by['c-ok']?.status, 'pass', 'a compiled test runs from the shared build dir');
  t.equal(by['pass.sh']?.status, 'pass', 'a script test sees the guest pmem');
  t.equal(by['skip.sh']?.status, 'skip');
  t.equal(by['skip.sh']?.reason, 'skip.sh: nfit_test.0 bus not found, skipping', 'a skip carries the reason it printed');
  t.equal(by['fail.sh']?.status, 'fail');
  t.match(by['fail.sh']?.reason, /expected 2 namespaces, found 1/);
  t.equal(by['timeout.sh']?.status, 'timeout');
  t.equal(by['timeout.sh']?.metrics.meson_result, 'TIMEOUT', 'meson itself timed it out');
  t.equal(by['hang.sh']?.status, 'timeout', 'a test with no meson timeout is stopped by the harness');
  t.match(by['hang.sh']?.reason, /hung/);
  t.ok((by['hang.sh']?.durationMs ?? 0) < 60000, 'after the hang limit, not 600 s');
  t.equal(by['oops.sh']?.status, 'crash', 'the kernel report is pinned on the test that provoked it');
  t.match(by['oops.sh']?.crashes[0]?.title, /sysrq triggered crash/);
  t.notOk(by['other-suite.sh'], 'tests of other suites are not run');
  t.equal(record.status, 'fail');
  t.match(record.reason, /kernel report ended the run/);
  const onDisk = readFileSync(join(runDir, 'run.json'), 'utf8');
  t.equal((JSON.parse(onDisk) as RunRecord).status, 'fail');
  const everything = readdirSync(join(runDir, 'tests')).map((f) => readFileSync(join(runDir, 'tests', f), 'utf8')).join('\n') + onDisk;
  t.notMatch(everything, /"env":|IS_SANDBOX|NODE_EXTRA_CA_CERTS/, "meson's environment dump is not copied into results");
  t.ok(progress.some((p) => /ndctl built in/.test(p)));
});
