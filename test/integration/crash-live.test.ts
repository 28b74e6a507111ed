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
  const { record } = await runWorkflow({
    kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology, resultsRoot: results,
    filesystems: ['ext4', 'xfs'], seconds: 0, seed: 1, bootTimeoutMs: 240000, cmdlineExtra: [], progress: quiet,
    onReady: async (s) => {
      // The kernel prints this through printk like any report (ignore_loglevel puts
      // it on the console); it is a stand-in for a WARNING the stock kernel cannot
      // be made to emit from userspace without lkdtm.
      const warning = [
        '<4>------------[ cut here ]------------',
        '<4>WARNING: CPU: 0 PID: 77 at fs/dax.c:1234 dax_folio_put+0x4d/0x60',
        '<4>Call Trace:',
        '<4> <TASK>',
        '<4> dax_disassociate_entry+0x51/0x80',
        '<4> __dax_invalidate_entry+0x8c/0x130',
        '<4> </TASK>',
        '<4>---[ end trace 0000000000000000 ]---',
      ];
      for (const line of warning) await s.guest.exec(['sh', '-c', 'printf "%s\\n" "$1" > /dev/kmsg', 'kmsg', line], { timeoutMs: 20000 });
    },
  });
  const setup = record.tests.find((x) => x.name === 'setup.fsdax');
  t.equal(setup?.status, 'crash', 'the report fails the test that was running');
  t.equal(setup?.crashes[0]?.title, 'WARNING in dax_folio_put');
  t.equal(setup?.crashes[0]?.fatal, false);
  const smoke = record.tests.filter((x) => x.name === 'dax-smoke');
  t.same(smoke.map((x) => x.status), ['pass', 'pass'], 'later tests still ran and passed');
  t.equal(record.status, 'fail');
  t.equal(record.crashes.length, 1);
});
