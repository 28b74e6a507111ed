// The ndctl runner on real parts, with our own meson project standing in for
// ndctl (its source is not available here): the rootfs guest, the tree and
// build dir shared over 9p at the same paths, every way a test can end.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
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
  t.equal(by['pass.sh']?.status, 'pass', 'a script test sees the guest nvdimm regions');
  t.equal(by['skip.sh']?.status, 'skip');
  t.equal(by['skip.sh']?.reason, 'skip.sh: nfit_test.0 bus not found, skipping', 'a skip carries the reason it printed');
  t.equal(by['fail.sh']?.status, 'fail');
  t.match(by['fail.sh']?.reason, /expected 2 namespaces, found 1/);
  t.equal(by['timeout.sh']?.status, 'timeout');
  t.equal(by['timeout.sh']?.metrics.meson_result, 'TIMEOUT', 'meson itself timed it out');
  t.equal(by['guest-ready.sh']?.status, 'fail', "the small default guest lacks what ndctl's tests need, and the check says so");
  const ready = readFileSync(join(runDir, by['guest-ready.sh']?.log ?? 'missing'), 'utf8');
  t.match(ready, /missing: no e820 region of 3 GiB/, 'no legacy pmem without memmap=');
  t.match(ready, /ok: nfit_test\.0 bus/, 'nfit_test is built and preferred for any ndctl run');
  t.equal(by['hang.sh']?.status, 'timeout', 'a test with no meson timeout is stopped by the harness');
  t.match(by['hang.sh']?.reason, /hung/);
  t.ok((by['hang.sh']?.durationMs ?? 0) < 60000, 'after the hang limit, not 600 s');
  t.equal(by['meson-dies.sh']?.status, 'pass');
  t.equal(by['trace-hwpoison.sh']?.status, 'skip', 'no legacy pmem in the small guest: skipped with its reason');
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
  // The guest cannot write to the host: both shares are read-only, and meson's
  // logs went to the guest's own layer, not to the host's build directory.
  const virtfs = record.qemuArgv.filter((a) => a.startsWith('local,path='));
  t.equal(virtfs.length, 2);
  for (const v of virtfs) t.match(v, /readonly=on/, `shared read-only: ${v}`);
  const buildDir = /path=([^,]+),mount_tag=daxh_build/.exec(virtfs.join(' '))?.[1] ?? '';
  t.ok(buildDir.length > 0, 'the build share is found in the argv');
  const hostLogs = existsSync(join(buildDir, 'meson-logs')) ? readdirSync(join(buildDir, 'meson-logs')).filter((f) => f.startsWith('daxh-')) : [];
  t.same(hostLogs, [], "no test log of the guest's in the host's build directory");
  t.match(readFileSync(join(runDir, 'tests', 'setup.ndctl.log'), 'utf8'), /build dir: (overlay over|a copy of) the read-only share/);

  // A second run on the same tree whose meson dies before writing its log
  // must not read back the first run's PASS.
  const again = await runWorkflow({
    kernel: { kind: 'stock' }, image: 'rootfs', topology: defaultTopology, resultsRoot: results, suite: 'ndctl',
    ndctl: join(repoRoot, 'suites', 'fake-ndctl'), tests: ['meson-dies.sh'], filesystems: [], seconds: 0, seed: 1,
    bootTimeoutMs: 300000, cmdlineExtra: ['daxh.fake.kill_meson=1'], progress: () => {},
  });
  const died = again.record.tests.find((x) => x.name === 'meson-dies.sh');
  t.equal(died?.status, 'fail', `no stale verdict: ${died?.reason}`);
  t.match(died?.reason, /without a result/);
});

t.test("the ndctl suite's own guest has everything the 13 real tests look for", async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-results-'));
  const { record, runDir } = await runWorkflow({
    kernel: { kind: 'stock' },
    image: 'rootfs',
    // No topology: the workflow picks the one ndctl's tests need.
    resultsRoot: results,
    suite: 'ndctl',
    ndctl: join(repoRoot, 'suites', 'fake-ndctl'),
    tests: ['guest-ready.sh', 'pass.sh', 'trace-hwpoison.sh'],
    filesystems: [],
    seconds: 0,
    seed: 1,
    bootTimeoutMs: 300000,
    cmdlineExtra: [],
    progress: () => {},
  });
  const ready = record.tests.find((x) => x.name === 'guest-ready.sh');
  const log = ready ? readFileSync(join(runDir, ready.log), 'utf8') : '';
  t.equal(ready?.status, 'pass', `every need present${ready?.status === 'pass' ? '' : `: ${log.split('\n').filter((l) => l.startsWith('missing')).join('; ')}`}`);
  t.match(log, /ok: nd_pmem is nfit_test's wrapped copy/);
  t.match(log, /ok: e820 region of 3 GiB/);
  t.match(log, /ok: device_dax stays loaded after nfit_test's unload/);
  t.match(log, /ok: ACPI\.NFIT region with \d+ GiB free/, 'labels initialised, so the labelled region has free space');
  t.ok(record.kernel?.nfitTest?.includes('nfit_test'), 'the run record names the nfit_test modules laid over the stock kernel');
  t.equal(record.topology.memmap.length, 2);
  t.equal(record.topology.numaNodes, 2);
  t.match(log, /ok: NUMA node 1/);
  t.match(log, /ok: O_DIRECT in the build directory/, "ndctl's device-dax opens its test file with O_DIRECT in the build dir");
  t.match(record.kernelCmdline, /memmap=3072M!6144M/);
  // DAX and mm tracepoints switched on and off while DAX pages are
  // mapped and poisoned: slow under TCG, and it must still reach its verdict.
  const traced = record.tests.find((x) => x.name === 'trace-hwpoison.sh');
  t.equal(traced?.status, 'pass', `trace-cmd + DAX mmap + hwpoison under ${record.accel?.used}: ${traced?.reason}`);
  t.same(record.crashes.map((c) => c.title), [], 'no kernel report, no false stall');
  t.equal(record.status, 'pass');
  const setup = readFileSync(join(runDir, 'tests', 'setup.ndctl.log'), 'utf8');
  t.match(setup, /init-labels -f -b ACPI\.NFIT all/);
});
