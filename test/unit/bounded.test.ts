// Everything the guest controls is bounded: a console line that never ends,
// a report that never ends, the files the guest's output goes to, and what a
// full disk does to a run and to a night.
import t from 'tap';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleStream, MAX_LINE_CHARS, droppedMarker } from '../../harness/src/vm/console.ts';
import { ReportDetector, parseLog } from '../../harness/src/oracle/index.ts';
import { MAX_REPORT_BYTES, MAX_REPORT_LINES } from '../../harness/src/oracle/detect.ts';
import { CappedFile, logCaps } from '../../harness/src/host/capped-file.ts';
import { ensureFreeSpace, NoSpaceError, reserveSpace, RESERVE_FILE } from '../../harness/src/host/space.ts';
import { TestLog } from '../../harness/src/suites/context.ts';
import { InputError } from '../../harness/src/host/errors.ts';
import type { CrashReport } from '../../harness/src/results/records.ts';
import { runNight } from '../../harness/src/workflows/nightly/index.ts';
import { loadNight } from '../../harness/src/results/nights.ts';
import { FakeLab, fakeConfig, tmp } from './nightly-fake.ts';

const MB = 1000 * 1000;
const CHUNK = 64 * 1024;

/** Feed `total` characters of `unit` to the stream in QEMU-sized chunks. */
function feed(s: ConsoleStream, unit: string, total: number): void {
  const chunk = unit.repeat(Math.ceil(CHUNK / unit.length));
  for (let sent = 0; sent < total; sent += chunk.length) s.write(sent + chunk.length <= total ? chunk : chunk.slice(0, total - sent));
}

t.test('a 50 MB console line without a newline: capped, counted, never held whole', async (t) => {
  const s = new ConsoleStream();
  const got: string[] = [];
  s.subscribe((l) => got.push(l));
  s.write('before\n');
  // Half-way and at the end of the line, only its capped head is held: re-concatenating
  // the growing line (7.4 s for 32 MiB, quadratic) held all of it. The time, and its
  // ratio at 8x the bytes, is bench:hostile's console section.
  feed(s, 'x', 25 * MB);
  t.equal(s.held, MAX_LINE_CHARS, 'half-way: only the head is held');
  feed(s, 'x', 25 * MB);
  t.equal(s.held, MAX_LINE_CHARS, 'at the end: still only the head');
  s.write('\nafter\n');
  t.equal(s.held, 0);
  t.same(got.length, 3);
  t.equal(got[0], 'before');
  t.equal(got[1], 'x'.repeat(MAX_LINE_CHARS) + droppedMarker(50 * MB - MAX_LINE_CHARS), 'the line keeps its head and says how much was dropped');
  t.equal(got[2], 'after', 'the next line is whole');
  t.equal(s.capped, 1);
});

t.test('capped lines: bytes (not characters) counted, CR kept out, partial line flushed', async (t) => {
  const s = new ConsoleStream(400, 10);
  const got: string[] = [];
  s.subscribe((l) => got.push(l));
  s.write('0123456789é');
  s.write('é\r\nshort\r\n');
  s.write('abcdefghijKL');
  s.end();
  t.same(got, [`0123456789${droppedMarker(5)}`, 'short', `abcdefghij${droppedMarker(2)}`]);
  const s2 = new ConsoleStream(400, 10);
  const got2: string[] = [];
  s2.subscribe((l) => got2.push(l));
  for (const c of 'exactly10!\n') s2.write(c);
  t.same(got2, ['exactly10!'], 'a line of exactly the cap is not marked');
  const s3 = new ConsoleStream(3);
  s3.write('l1\nl2\nl3\nl4\nl5\n');
  t.same(s3.lastLines(2), ['l4', 'l5'], 'the tail is the newest lines, in order');
  t.same(s3.lastLines(10), ['l3', 'l4', 'l5']);
});

const head = [
  '[   10.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008',
  '[   10.000001] #PF: supervisor write access in kernel mode',
  '[   10.000002] Oops: 0002 [#1] PREEMPT SMP NOPTI',
  '[   10.000003] CPU: 0 PID: 77 Comm: t Not tainted 6.1.0 #1',
  '[   10.000004] RIP: 0010:dax_endless+0x10/0x20',
  '[   10.000005] Call Trace:',
  '[   10.000006]  <TASK>',
];
const frame = (i: number) => `[   10.${String(100000 + (i % 800000)).padStart(6, '0')}]  recurse_${i % 7}+0x1${i % 10}/0x40`;

t.test('an endless stack is one report, capped in lines, titled from its head', async (t) => {
  const lines = [...head];
  for (let i = 0; i < 50000; i++) lines.push(frame(i));
  const r = parseLog(lines.join('\n') + '\n');
  t.equal(r.length, 1, 'one report, not thousands');
  t.match(r[0]!.title, /NULL pointer dereference in dax_endless/);
  t.equal(r[0]!.lines.length, MAX_REPORT_LINES);
  t.same(r[0]!.truncated?.lines, head.length + 50000 - MAX_REPORT_LINES, 'the dropped lines are counted');
  // What follows the endless stack is still seen: its end, and the next report.
  const next = ['[   11.000000]  </TASK>', '[   11.000001] ---[ end trace 0000000000000000 ]---', '[   12.000000] WARNING: CPU: 0 PID: 1 at mm/memory.c:10 zap_pte_range+0x1/0x2', '[   12.000001] Call Trace:', '[   12.000002]  zap_pte_range+0x1/0x2', '[   12.000003] ---[ end trace 0000000000000000 ]---'];
  const r2 = parseLog([...lines, ...next].join('\n') + '\n');
  t.equal(r2.length, 2);
  t.equal(r2[0]!.complete, true, 'the capped report still ends on its end marker');
  t.match(r2[1]!.title, /WARNING in zap_pte_range/);
});

t.test('a report of long lines is capped in bytes', async (t) => {
  const lines = [...head];
  for (let i = 0; i < 400; i++) lines.push(`[   10.500000]  ${'R'.repeat(3000)}: ${i}`);
  lines.push('[   10.600000]  </TASK>');
  const r = parseLog(lines.join('\n') + '\n');
  const kept = r[0]!.lines.join('').length;
  t.ok(r[0]!.truncated && r[0]!.truncated.bytes > 0, 'marked truncated');
  t.ok(kept <= MAX_REPORT_BYTES + r[0]!.lines.length * 20, `${kept} characters kept`);
  t.ok(r[0]!.lines.length < 100);
});

t.test('live: a 50 MB endless stack through the console stream and the detector, capped', async (t) => {
  const s = new ConsoleStream();
  const reports: CrashReport[] = [];
  const det = new ReportDetector({ onReport: (r) => reports.push(r) });
  s.subscribe((l) => det.push(l));
  s.write(head.join('\n') + '\n');
  let sent = 0;
  let frames = 0;
  for (let i = 0; sent < 50 * MB; ) {
    let chunk = '';
    while (chunk.length < CHUNK) {
      chunk += frame(i++) + '\n';
      frames++;
    }
    s.write(chunk);
    sent += chunk.length;
  }
  s.end();
  det.flush();
  det.close();
  t.equal(reports.length, 1);
  t.match(reports[0]!.title, /dax_endless/);
  t.equal(reports[0]!.lines.length, MAX_REPORT_LINES);
  t.ok(JSON.stringify(reports[0]).length < 2 * MAX_REPORT_BYTES, 'the record (and --json) stays small');
  // Every line was seen and counted, and only the capped head kept: what is held does not
  // grow with the stack. The time, and its ratio at 8x the bytes, is bench:hostile's stack section.
  t.equal(s.lines(), head.length + frames, 'every line reached the detector');
  t.equal(reports[0]!.truncated?.lines, head.length + frames - MAX_REPORT_LINES, 'the rest counted, not kept');
});

t.test('capped file: a marker line at the cap, the rest counted, nothing thrown', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'capped-'));
  const f = new CappedFile(join(d, 'a.log'), { capBytes: 100, what: 'a.log', batch: true });
  for (let i = 0; i < 30; i++) f.write(`line ${String(i).padStart(3, '0')}\n`);
  f.close();
  const text = await readFile(join(d, 'a.log'), 'utf8');
  t.equal(text.slice(0, 100), Array.from({ length: 30 }, (_, i) => `line ${String(i).padStart(3, '0')}\n`).join('').slice(0, 100));
  t.match(text.slice(100), /^\n\[dax-harness: a\.log reached its cap of 100 bytes; the rest is not kept\]\n$/);
  t.equal(f.dropped, 30 * 9 - 100);
  // Batched lines are on disk before the next I/O callback: a killed harness loses none of them.
  const g = new CappedFile(join(d, 'b.log'), { capBytes: 1000, what: 'b.log', batch: true });
  g.write('one\n');
  g.write('two\n');
  await new Promise((r) => setImmediate(r));
  t.equal(await readFile(join(d, 'b.log'), 'utf8'), 'one\ntwo\n');
  g.close();
});

t.test('capped file on a full disk: ENOSPC reported once, never thrown', async (t) => {
  const errors: NodeJS.ErrnoException[] = [];
  // /dev/full answers every write with ENOSPC, as a full filesystem does.
  const f = new CappedFile('/dev/full', { capBytes: 1 << 20, what: 'console.log', onError: (e) => errors.push(e) });
  t.doesNotThrow(() => {
    f.write('a line\n');
    f.write('another\n');
  });
  await new Promise((r) => setImmediate(r));
  t.equal(errors.length, 1);
  t.equal(errors[0]!.code, 'ENOSPC');
  t.equal(f.error?.code, 'ENOSPC');
  f.close();
  // A test log says so to its run the same way.
  const d = await mkdtemp(join(tmpdir(), 'testlog-'));
  const seen: string[] = [];
  const log = new TestLog({ runDir: d, onWriteError: (e, p) => seen.push(`${e.code} ${p}`) }, 'x');
  log.line('fine');
  await log.close();
  t.same(seen, []);
  t.equal(await readFile(join(d, 'tests', 'x.log'), 'utf8'), 'fine\n');
});

t.test('log caps: defaults, the environment, bad values are input errors', async (t) => {
  const keep = { ...process.env };
  t.teardown(() => {
    process.env = keep;
  });
  delete process.env.DAX_HARNESS_CONSOLE_LOG_MIB;
  delete process.env.DAX_HARNESS_TEST_LOG_MIB;
  t.same(logCaps(), { consoleBytes: 256 << 20, testLogBytes: 64 << 20 });
  process.env.DAX_HARNESS_TEST_LOG_MIB = '2';
  t.equal(logCaps().testLogBytes, 2 << 20);
  process.env.DAX_HARNESS_CONSOLE_LOG_MIB = '0';
  t.throws(() => logCaps(), InputError);
  process.env.DAX_HARNESS_CONSOLE_LOG_MIB = '12x';
  t.throws(() => logCaps(), /DAX_HARNESS_CONSOLE_LOG_MIB=12x is not a size in MiB/);
});

t.test('NVDIMM free-space check names the directory and the sizes', async (t) => {
  await t.resolves(ensureFreeSpace(tmpdir(), 1, 'a file'), 'a byte fits');
  const e = await ensureFreeSpace('/w/work', 2050 * 2 ** 20, 'the 1 NVDIMM backing file', 256 * 2 ** 20, 1000 * 2 ** 20).catch((x: unknown) => x);
  t.type(e, NoSpaceError);
  t.equal((e as Error).message, 'not enough free space in /w/work for the 1 NVDIMM backing file: they may grow to 2050 MiB and 256 MiB more is kept free, but 1000 MiB is free; free some space or set DAX_HARNESS_CACHE to a larger disk');
});

t.test('space reserve: real blocks held, given back', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'reserve-'));
  const release = await reserveSpace(d, 64 * 1024);
  t.ok(statSync(join(d, RESERVE_FILE)).blocks * 512 >= 64 * 1024, 'not sparse');
  await release();
  t.notOk(existsSync(join(d, RESERVE_FILE)));
  const none = await reserveSpace('/nonexistent/dir');
  await t.resolves(none(), 'a reserve that could not be made releases as a no-op');
});

t.test('a full disk stops a night cleanly: unfinished, resumable, never running', async (t) => {
  const root = await tmp('nightly-full-');
  const lab = new FakeLab(() => [{ name: 'a', status: 'pass' }]);
  const config = await fakeConfig({ kernels: [{ name: 'stock', stock: true }], suites: [{ name: 'smoke' }], modes: ['ext4', 'xfs'] });
  let n = 0;
  const full = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC', path: join(root, 'x', 'run.json') });
  const runCell: typeof lab.runCell = (plan, hooks) => (++n === 2 ? Promise.reject(full) : lab.runCell(plan, hooks));
  const opts = { config, resultsRoot: root, jobs: 1, shard: null, nightId: 'n1', progress: () => {}, now: lab.now, cores: 2 };
  const out = await runNight(opts, { runCell, prepareKernel: lab.prepareKernel });
  t.match(out.diskFull, /no space left on the device holding .*run\.json/);
  t.equal(out.interrupted, true);
  t.equal(out.ran.length, 1, 'the cell before the full disk is kept, no cell after it starts');
  const night = await loadNight(out.dir);
  t.equal(night?.status, 'interrupted');
  t.notOk((await readdir(out.dir)).includes(RESERVE_FILE), 'the reserve is given back');
  const again = await runNight(opts, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  t.equal(again.ran.length, 1, 'the resumed night runs the cell the full disk stopped');
  t.equal((await loadNight(again.dir))?.status, 'done');
});
