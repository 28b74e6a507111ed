// Verdicts from the first console byte: a kernel that breaks while it boots
// is a titled crash on the 'boot' step, a WARNING at boot fails the run but
// lets the tests run, and a guest that never comes up without a report is an
// infrastructure error that names the phase it stopped after. The kernels
// break for real: /init loads our fault module before sshd (daxh.fault=).
import t from 'tap';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow, type RunOptions } from '../../harness/src/workflows/run.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { cacheDir } from '../../harness/src/host/paths.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';

const opts = (cmdlineExtra: string[], over: Partial<RunOptions> = {}): RunOptions => ({
  kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology,
  resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-bootfault-')), filesystems: ['ext4'], seconds: 0, seed: 1,
  bootTimeoutMs: 240000, cmdlineExtra, progress: () => {}, ...over,
});

t.test('a BUG while booting: crash verdict on the boot step, titled, the run fails, console kept', async (t) => {
  const started = Date.now();
  const { record, runDir } = await runWorkflow(opts(['daxh.fault=bug']));
  t.equal(record.status, 'fail', `fail, not infra-error: ${record.reason}`);
  t.match(record.reason, /kernel report during boot: kernel BUG in daxh_fault_bug/);
  t.equal(record.tests.length, 1, 'nothing ran after the boot');
  const boot = record.tests[0];
  t.equal(boot.name, 'boot');
  t.equal(boot.status, 'crash');
  t.equal(boot.verdict, 'fail');
  t.equal(boot.crashes[0]?.title, 'kernel BUG in daxh_fault_bug');
  t.equal(boot.crashes[0]?.fatal, true);
  t.same(record.crashes.map((c) => c.title), ['kernel BUG in daxh_fault_bug'], 'the run holds the same report');
  t.ok(Date.now() - started < 120000, 'the verdict came from the report, not the 240 s boot timeout');
  const disk = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as RunRecord;
  t.equal(disk.status, 'fail');
  t.equal(disk.phase, 'done');
  t.match(readFileSync(join(runDir, 'console.log'), 'utf8'), /kernel BUG at .*daxh_fault/, 'the console log holds the report');
  t.notOk(existsSync(cacheDir('work', record.id)), 'scratch files removed');
});

t.test('a WARNING while booting: the boot step fails with it, the tests still run', async (t) => {
  const { record } = await runWorkflow(opts(['daxh.fault=warn']));
  const boot = record.tests.find((x) => x.name === 'boot');
  t.equal(boot?.status, 'crash');
  t.equal(boot?.crashes[0]?.title, 'WARNING in daxh_fault_warn');
  t.equal(boot?.crashes[0]?.fatal, false);
  const rest = record.tests.filter((x) => x.name !== 'boot');
  t.same(rest.map((x) => `${x.name}:${x.status}`), ['setup.fsdax:pass', 'dax-smoke:pass'], 'the tests ran and passed after it');
  t.equal(record.status, 'fail', 'the WARNING makes the run fail');
});

t.test('a WARNING at boot that a known-outcome list expects is XFAIL, and the run passes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-known-'));
  const list = join(dir, 'known.txt');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(list, 'boot:boot  *  crash  /daxh_fault_warn/  our fixture warns at boot on purpose\n');
  const { record } = await runWorkflow(opts(['daxh.fault=warn'], { known: [list], filesystems: ['xfs'] }));
  const boot = record.tests.find((x) => x.name === 'boot');
  t.equal(boot?.verdict, 'xfail', `verdict ${boot?.verdict}`);
  t.equal(boot?.expected?.why, 'our fixture warns at boot on purpose');
  t.equal(record.status, 'pass', `the run passes: ${record.reason}`);
  t.match(record.reason, /1 expected failure/);
});

t.test('a guest that never comes up without a report: infra-error naming the phase, console tail shown', async (t) => {
  const { record, runDir } = await runWorkflow(opts(['daxh.stall=1'], { bootTimeoutMs: 25000 }));
  t.equal(record.status, 'infra-error');
  const boot = record.tests[0];
  t.equal(boot?.name, 'boot');
  t.equal(boot?.status, 'infra-error');
  t.equal(boot?.metrics.boot_phase, 'init', 'it stopped after init, before sshd');
  t.match(record.reason, /stopped after init ran, before sshd started/);
  t.notMatch(record.reason, /QEMU exited/, 'the cause is the missing sshd, not the shutdown that followed');
  t.match(String(boot?.metrics.console_tail), /stalling before sshd/, 'the last console lines are kept with it');
  t.same(record.crashes, [], 'no report invented');
  t.ok(existsSync(join(runDir, 'console.log')));
});
