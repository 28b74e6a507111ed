// Verdicts from the first console byte, at the workflow level: a WARNING at
// boot fails the run but lets the tests run, and a known-outcome list can
// expect it. The kernel warns for real: /init loads our fault module before
// sshd (daxh.fault=warn).
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow, type RunOptions } from '../../harness/src/workflows/run.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';

const opts = (cmdlineExtra: string[], over: Partial<RunOptions> = {}): RunOptions => ({
  kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology,
  resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-bootfault-')), filesystems: ['ext4'], seconds: 0, seed: 1,
  bootTimeoutMs: 240000, cmdlineExtra, progress: () => {}, ...over,
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

// A BUG while booting and a guest that never comes up are fault-matrix cases
// (test/faults/matrix.ts), run through the CLI.
