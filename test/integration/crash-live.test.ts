// The crash oracle on a live guest: a kernel crash provoked through sysrq is
// detected as its lines arrive, titled, and ends the run within a second.
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../../harness/src/workflows/run.ts';
import { watchConsole } from '../../harness/src/workflows/watch.ts';
import { parseLog } from '../../harness/src/oracle/index.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { bootDefault } from './boot-default.ts';
import { loadFaults, triggerFault } from './faults.ts';
import { prepareStockKernel } from '../../harness/src/kernel/stock.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';

const quiet = () => {};

t.test('sysrq crash: reported live with its title within 1 s, guest torn down', async (t) => {
  const { s, runDir } = await bootDefault('crash');
  t.teardown(() => s.close());
  const lineAt: number[] = [];
  s.machine.console.subscribe((_l, i, at) => (lineAt[i] = at));
  let fatalAt = 0;
  let why = '';
  const stop = new AbortController();
  const watch = watchConsole(s.machine.console, s.machine.exited, (w) => {
    fatalAt = Date.now();
    why = w;
    stop.abort();
  });
  const started = Date.now();
  // With panic=-1 the guest resets right after the report, so the command may
  // end either by the abort or by the lost connection: both are fine here.
  const r = await s.guest
    .exec(['sh', '-c', 'echo c > /proc/sysrq-trigger; sleep 600'], { timeoutMs: 600000, signal: stop.signal })
    .catch((e: Error) => ({ timedOut: false, lost: e.message }));
  await Promise.race([s.machine.exited, new Promise((res) => setTimeout(res, 20000))]);
  t.ok(fatalAt > 0, `fatal report seen (${why})`);
  t.ok(Date.now() - started < 30000, 'the command ended on the report, not on its 600 s timeout');
  t.notOk(r.timedOut);
  const fatal = watch.fatal();
  t.ok(fatal, 'fatal report recorded');
  if (!fatal) return;
  t.match(fatal.title, /sysrq triggered crash/, `titled from the panic message: ${fatal.title}`);
  t.equal(fatal.type, 'panic');
  const last = lineAt[fatal.endLine];
  t.ok(last, 'the report end line has an arrival time');
  const latency = watch.recordedAt(fatal)! - last;
  t.ok(latency <= 1000, `verdict ${latency} ms after the report's last line`);
  t.equal(s.machine.running, false, 'QEMU ended by itself on the panic (panic=-1, -no-reboot)');
  watch.stop();
  const fromFile = parseLog(readFileSync(join(runDir, 'console.log'), 'utf8'));
  t.ok(fromFile.some((x) => x.title === fatal.title), 'the same title is found again in console.log');
});

t.test('a crash during a run fails the test running, attaches the crash, ends the run', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-results-'));
  const started = Date.now();
  const { record, runDir } = await runWorkflow({
    kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology, resultsRoot: results,
    filesystems: ['ext4', 'xfs'], seconds: 0, seed: 1, bootTimeoutMs: 240000, cmdlineExtra: [], progress: quiet,
    onReady: (s) => {
      // Crash the kernel from a second channel while the tests run.
      void s.guest.exec(['sh', '-c', 'sleep 1.5; echo c > /proc/sysrq-trigger'], { timeoutMs: 60000 }).catch(() => {});
    },
  });
  t.equal(record.status, 'fail', `run failed: ${record.reason}`);
  t.match(record.reason, /kernel report ended the run: .*sysrq triggered crash/);
  const crashed = record.tests.filter((x) => x.status === 'crash');
  t.equal(crashed.length, 1, 'exactly one test holds the crash');
  t.ok(crashed[0]?.crashes.length, 'the crash is attached to it');
  t.ok(record.crashes.length >= 1, 'and to the run');
  t.ok(Date.now() - started < 120000, 'no test timeout was waited out');
  const onDisk = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as RunRecord;
  t.equal(onDisk.status, 'fail');
});

t.test('a non-fatal report fails the test it lands in; the run goes on', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-results-'));
  const kernel = await prepareStockKernel(quiet);
  const { record } = await runWorkflow({
    kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology, resultsRoot: results,
    filesystems: ['ext4', 'xfs'], seconds: 0, seed: 1, bootTimeoutMs: 240000, cmdlineExtra: [], progress: quiet,
    onReady: async (s) => {
      // The kernel's own WARN path (our fault module), not text written to /dev/kmsg.
      await loadFaults(s.guest, kernel);
      const r = await triggerFault(s.guest, 'warn');
      if (r.exitCode !== 0) throw new Error(`trigger failed: ${r.stderr}`);
    },
  });
  const setup = record.tests.find((x) => x.name === 'setup.fsdax');
  t.equal(setup?.status, 'crash', 'the report fails the test that was running');
  t.equal(setup?.crashes[0]?.title, 'WARNING in daxh_fault_warn');
  t.equal(setup?.crashes[0]?.fatal, false);
  const smoke = record.tests.filter((x) => x.name === 'dax-smoke');
  t.same(smoke.map((x) => x.status), ['pass', 'pass'], 'later tests still ran and passed');
  t.equal(record.status, 'fail');
  t.equal(record.crashes.length, 1);
});

t.test('real reports of several kinds are titled live by the kernel function that made them', async (t) => {
  const { s, kernel } = await bootDefault('kinds');
  t.teardown(() => s.close());
  const watch = watchConsole(s.machine.console, s.machine.exited, () => {});
  await loadFaults(s.guest, kernel);
  // Titles follow syzkaller's rules (a refcount report skips refcount helpers;
  // "scheduling while atomic" blames the first frame past the scheduler,
  // which is msleep), so the fixture function is checked in the stack.
  for (const [action, title, fn] of [
    ['warn', /^WARNING in daxh_fault_warn$/, 'daxh_fault_warn'],
    ['refcount', /^WARNING: refcount bug in daxh_fault_underflow$/, 'daxh_fault_underflow'],
    ['atomic-sleep', /^BUG: scheduling while atomic in \w+$/, 'daxh_fault_atomic_sleep'],
  ] as const) {
    const r = await triggerFault(s.guest, action);
    t.equal(r.exitCode, 0, `${action}: the guest survives it`);
    await new Promise((res) => setTimeout(res, 1500));
    const got = watch.take();
    t.equal(got.length, 1, `${action}: one report (${got.map((x) => x.title).join('; ')})`);
    t.match(got[0]?.title ?? '', title, `${action}: ${got[0]?.title}`);
    t.ok(got[0]?.rip?.norm === fn || got[0]?.frames?.some((f) => f.norm === fn), `${action}: ${fn} is at RIP or in the parsed stack`);
    t.equal(got[0]?.fatal, false, `${action}: not fatal`);
  }
  watch.stop();
});
