// The refcount census on real guests (Debian's stock 6.1 kernel, TCG):
// 1. the DAX smoke through the run workflow passes the census on ext4 and xfs;
// 2. a reference leaked on purpose (the fixture module) is caught and named
//    (pfn, refcount, idle value, the kernel's own dump of the page), and is
//    gone again once released; the watchdog reports a command stuck on the
//    leaked page with its kernel stack.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../../harness/src/workflows/run.ts';
import { watchConsole } from '../../harness/src/workflows/watch.ts';
import { prepareStockKernel } from '../../harness/src/kernel/stock.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import { bootDefault } from './boot-default.ts';
import { setupFsdax, mkfsArgv } from '../../harness/src/suites/fsdax.ts';
import { TestLog, step, type SuiteContext } from '../../harness/src/suites/context.ts';
import {
  runCensus,
  installFixture,
  holdPage,
  releaseHeld,
  watchdogExec,
  umountWithWatchdog,
  buildCensusTools,
} from '../../harness/src/suites/census.ts';
import type { CensusDetail } from '../../harness/src/suites/census.ts';

const quiet = () => {};
const verbose = process.env.DAXH_TEST_VERBOSE ? (m: string) => console.error(m) : quiet;

t.test('DAX smoke on ext4 and xfs passes the census (run workflow, census on by default)', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-census-run-'));
  const started = Date.now();
  const { record } = await runWorkflow({
    kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology, resultsRoot: results,
    filesystems: ['ext4', 'xfs'], seconds: 0, seed: 1, bootTimeoutMs: 240000, cmdlineExtra: [],
    progress: (p, m) => verbose(`[${p}] ${m}`),
  });
  t.equal(record.status, 'pass', `run passed: ${record.reason}`);
  // Only the filesystem tests unmount (the namespace setup may be a test of its own).
  const smoke = record.tests.filter((r) => r.name === 'dax-smoke');
  t.equal(smoke.length, 2, 'ext4 and xfs ran');
  for (const r of smoke) {
    t.equal(r.status, 'pass', `${r.name} ${r.params.fs}: ${r.reason}`);
    const c = (r.census ?? {}) as CensusDetail;
    t.ok(c.checked > 500000, `${r.params.fs}: census checked ${c.checked} pages (2 GiB namespace)`);
    t.equal(c.bad, 0, `${r.params.fs}: no page left referenced`);
    t.equal(c.expected?.fsdax?.value, 1, 'fsdax idles at 1 on 6.1');
    t.equal(c.range?.from, 'iomem', 'range from /proc/iomem');
  }
  t.equal(record.crashes.length, 0, 'no kernel report');
  verbose(`run with census: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

t.test('a leaked reference is caught and named; the watchdog reports the task stuck on it', async (t) => {
  const kernel = await prepareStockKernel(quiet);
  await buildCensusTools(kernel, verbose);
  const { s, runDir } = await bootDefault('census');
  t.teardown(() => s.close());
  const stop = new AbortController();
  const watch = watchConsole(s.machine.console, s.machine.exited, (why) => stop.abort(new Error(why)));
  t.teardown(() => watch.stop());
  const ctx: SuiteContext = {
    guest: s.guest, kernel, topology: defaultTopology, runDir, timeScale: 3, signal: stop.signal, seed: 1, seconds: 0,
    progress: quiet, takeCrashes: () => watch.take(), settle: async () => {},
  };
  const log = new TestLog(runDir, 'census-fixture');
  await log.ready;
  t.teardown(() => log.close());
  const MNT = '/mnt/dax';
  const dev = await setupFsdax(ctx, log);

  // A namespace nobody has used yet: every page idle.
  const fresh = await runCensus(ctx, log, { dev, mode: 'fsdax' });
  t.ok(fresh.ok, `fresh namespace is clean: ${fresh.reason}`);
  verbose(`fresh: checked ${fresh.detail.checked} in ${fresh.detail.durationMs} ms; counts ${JSON.stringify(fresh.detail.counts)}`);

  await installFixture(ctx, log);
  await step(ctx, log, 'mkfs', mkfsArgv('ext4', dev), 120000);
  await step(ctx, log, 'mkdir', ['mkdir', '-p', MNT], 10000);
  await step(ctx, log, 'mount', ['mount', '-t', 'ext4', '-o', 'dax', dev, MNT], 60000);
  const { held } = await holdPage(ctx, log, `${MNT}/leak.dat`, 0);
  t.equal(held.length, 1, `the fixture holds one page: ${JSON.stringify(held)}`);
  const pfn = held[0]!.pfn;
  t.equal(held[0]!.refcount, 2, 'idle 1 + the leaked reference');

  // umount evicts the inode with the page still referenced. On 6.1 nothing
  // waits for it (no dax_break_layout_final): umount finishes.
  const um = await umountWithWatchdog(ctx, log, MNT, 30000).catch((e: Error) => e);
  t.notOk(um instanceof Error, `umount finished on 6.1: ${um instanceof Error ? um.message : 'ok'}`);
  const leak = await runCensus(ctx, log, { dev, mode: 'fsdax' });
  t.notOk(leak.ok, 'the census fails');
  t.equal(leak.detail.bad, 1, 'exactly one page is not idle');
  const bad = leak.detail.firstBad[0];
  t.equal(bad?.pfn, pfn, `it is the page the fixture holds (${pfn})`);
  t.equal(bad?.refcount, 2, 'refcount 2');
  t.equal(bad?.expected, 1, 'idle value 1');
  t.match(leak.reason, new RegExp(`pfn ${pfn} refcount 2 \\(idle 1\\)`), `named in the reason: ${leak.reason}`);
  t.equal(bad?.dump?.refcount, 2, 'the kernel dump of the page is attached and parsed');
  t.equal(bad?.dump?.pfn, pfn, 'dump pfn matches');
  verbose(`leak: ${leak.reason}; dump ${JSON.stringify(bad?.dumpLines)}`);

  // What the oracle saw: 6.1 warns when it evicts a referenced DAX page; the
  // census dump itself must not be a report.
  const reports = watch.take();
  verbose(`reports: ${reports.map((r) => r.title).join(' | ')}`);
  t.notOk(reports.some((r) => r.type === 'page dump'), 'the census dump is not taken for a kernel report');
  t.ok(reports.some((r) => /dax_disassociate_entry/.test(r.title)), '6.1 WARNs in dax_disassociate_entry at eviction');

  await releaseHeld(ctx, log);
  const after = await runCensus(ctx, log, { dev, mode: 'fsdax' });
  t.ok(after.ok, `clean again once the fixture lets go: ${after.reason}`);

  // The watchdog: a reference held while the file is still mapped makes a
  // truncate wait for the page (6.1: ext4_break_layouts waits for refcount 1).
  await step(ctx, log, 'mount again', ['mount', '-t', 'ext4', '-o', 'dax', dev, MNT], 60000);
  const busy = `${MNT}/busy.dat`;
  const kept = await holdPage(ctx, log, busy, 0, 120);
  t.equal(kept.held.length, 1, 'second page held, file still mapped');
  const wd = await watchdogExec(ctx, log, ['truncate', '-s', '0', busy], 8000);
  t.ok(wd.stuck, 'truncate did not finish while the reference is held');
  t.match(wd.stuck?.stack.join('\n') ?? '', /ext4_break_layouts/, `stack names the layout break: ${wd.stuck?.where}`);
  t.equal(wd.stuck?.where, 'ext4_break_layouts', 'first non-scheduler frame');
  t.ok(wd.waitedMs < 30000, `verdict after ${wd.waitedMs} ms (budget 8 s)`);
  verbose(`watchdog: ${JSON.stringify(wd.stuck)}`);
  // Letting go of the page lets the truncate finish by itself.
  await releaseHeld(ctx, log);
  await step(ctx, log, 'truncate finishes', ['sh', '-c', 'i=0; while [ $i -lt 100 ]; do [ "$(stat -c %s "$1")" = 0 ] && exit 0; sleep 0.1; i=$((i + 1)); done; exit 1', 'w', busy], 30000);
  // Its mapping goes at exit, before umount can succeed.
  if (kept.pid)
    await step(ctx, log, 'stop holder', ['sh', '-c', 'kill "$1"; i=0; while [ $i -lt 50 ] && [ -d /proc/$1 ] && ! grep -q "^State:.*Z" /proc/$1/status; do sleep 0.1; i=$((i + 1)); done', 'k', String(kept.pid)], 20000);
  await umountWithWatchdog(ctx, log, MNT, 30000);
  const end = await runCensus(ctx, log, { dev, mode: 'fsdax' });
  t.ok(end.ok, `clean at the end: ${end.reason}`);
  const late = watch.take();
  t.notOk(late.some((r) => r.type === 'page dump'), 'still no report from census dumps');

  // device-dax: the same namespace as /dev/daxX.Y. A compound memmap (2 MiB
  // alignment) whose heads idle at 1; a reference on one is caught too.
  const created = await step(ctx, log, 'devdax namespace', ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax'], 120000);
  const chardev = /"chardev"\s*:\s*"([^"]+)"/.exec(created)?.[1];
  t.ok(chardev, `device-dax device: ${chardev}`);
  const ddev = `/dev/${chardev}`;
  const dd0 = await runCensus(ctx, log, { dev: ddev, mode: 'devdax' });
  t.ok(dd0.ok, `fresh device-dax is clean: ${dd0.reason}`);
  t.ok((dd0.detail.counts?.devdax ?? 0) > 500000, `device-dax pages checked: ${dd0.detail.counts?.devdax}`);
  t.ok((dd0.detail.counts?.devdax_tails ?? 0) > 0, `compound tails skipped for the count: ${dd0.detail.counts?.devdax_tails}`);
  t.equal(dd0.detail.expected.devdax.value, 1);
  const ddHeld = await holdPage(ctx, log, ddev, 0);
  t.equal(ddHeld.held.length, 1, `held ${JSON.stringify(ddHeld.held)}`);
  const dd1 = await runCensus(ctx, log, { dev: ddev, mode: 'devdax' });
  t.notOk(dd1.ok, `device-dax leak caught: ${dd1.reason}`);
  t.equal(dd1.detail.firstBad[0]?.pfn, ddHeld.held[0]?.pfn, 'the held page is named');
  t.equal(dd1.detail.firstBad[0]?.expected, 1, 'against idle 1');
  await releaseHeld(ctx, log);
  const dd2 = await runCensus(ctx, log, { dev: ddev, mode: 'devdax' });
  t.ok(dd2.ok, `device-dax clean once released (mapping left set by the driver is not a finding): ${dd2.reason}`);
  verbose(`devdax counts: ${JSON.stringify(dd2.detail.counts)}`);
  t.notOk(watch.take().some((r) => r.type === 'page dump'), 'no report from device-dax census dumps');
});
