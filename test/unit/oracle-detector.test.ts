// Streaming behaviour of ReportDetector: reports come out as soon as they are
// complete, fatal ones without waiting for silence, the rest after idleMs.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReportDetector, parseLog } from '../../harness/src/oracle/index.js';
import type { CrashReport } from '../../harness/src/results/records.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');
const lines = (name: string) => readFileSync(join(corpus, `${name}.log`), 'utf8').split('\n').filter((l) => l !== '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('fatal BUG is emitted synchronously on its end marker', async (t) => {
  const got: CrashReport[] = [];
  const d = new ReportDetector({ onReport: (r) => got.push(r), idleMs: 10_000 });
  const ls = lines('dax-pmd-6.6-console');
  const end = ls.findIndex((l) => l.includes('---[ end trace'));
  for (let i = 0; i < end; i++) d.push(ls[i]!);
  t.equal(got.length, 0, 'nothing before the end marker');
  d.push(ls[end]!);
  t.equal(got.length, 1, 'emitted on the end marker line');
  t.equal(got[0]!.title, 'kernel BUG in dax_insert_pfn_pmd');
  t.equal(got[0]!.fatal, true);
  for (let i = end + 1; i < ls.length; i++) d.push(ls[i]!);
  d.flush();
  t.equal(got.length, 1, 'executive summary and panic lines do not make a second report');
  d.close();
});

t.test('a panic line ends a non-fatal report at once and makes it fatal', async (t) => {
  const got: CrashReport[] = [];
  const d = new ReportDetector({ onReport: (r) => got.push(r), idleMs: 10_000 });
  const ls = lines('kasan-panic');
  const panic = ls.findIndex((l) => l.includes('Kernel panic - not syncing'));
  for (let i = 0; i <= panic; i++) d.push(ls[i]!);
  t.equal(got.length, 1);
  t.equal(got[0]!.type, 'KASAN');
  t.equal(got[0]!.fatal, true);
  d.close();
});

t.test('non-fatal report: emitted on the next unrelated line, or after idleMs', async (t) => {
  const got: CrashReport[] = [];
  const d = new ReportDetector({ onReport: (r) => got.push(r), idleMs: 60 });
  const ls = lines('warning-old');
  for (const l of ls.slice(0, -1)) d.push(l);
  t.equal(got.length, 0, 'held briefly in case a panic follows the end marker');
  d.push('[  735.000000] EXT4-fs (pmem0): unmounting filesystem.');
  t.equal(got.length, 1, 'an unrelated kernel line completes it');
  t.equal(got[0]!.fatal, false);

  const got2: CrashReport[] = [];
  const d2 = new ReportDetector({ onReport: (r) => got2.push(r), idleMs: 60 });
  const t0 = Date.now();
  for (const l of lines('lockdep-circular').slice(0, -1)) d2.push(l);
  t.equal(got2.length, 0);
  await sleep(40);
  t.equal(got2.length, 0, 'not before idleMs');
  await sleep(80);
  t.equal(got2.length, 1, 'idle flush after idleMs');
  t.ok(Date.now() - t0 < 1000, 'within a second');
  t.equal(got2[0]!.title, 'possible deadlock in dax_iomap_rw');
  d.close();
  d2.close();
});

t.test('flush() emits pending, close() stops timers', async (t) => {
  const got: CrashReport[] = [];
  const d = new ReportDetector({ onReport: (r) => got.push(r), idleMs: 30 });
  for (const l of lines('truncated')) d.push(l);
  d.flush();
  t.equal(got.length, 1);
  t.equal(got[0]!.complete, false);
  t.equal(got[0]!.fatal, true);

  const got2: CrashReport[] = [];
  const d2 = new ReportDetector({ onReport: (r) => got2.push(r), idleMs: 30 });
  for (const l of lines('warning-old').slice(0, 5)) d2.push(l);
  d2.close();
  await sleep(120);
  t.equal(got2.length, 0, 'closed detector never reports');
});

t.test('a report without a stack yet gets a longer grace period', async (t) => {
  const got: CrashReport[] = [];
  const d = new ReportDetector({ onReport: (r) => got.push(r), idleMs: 40 });
  d.push('[ 1.0] BUG: unable to handle page fault for address: ffffea0040000008');
  d.push('[ 1.0] Oops: 0000 [#1] PREEMPT SMP NOPTI');
  await sleep(80);
  t.equal(got.length, 0, 'still waiting for the rest of a slow print');
  d.push('[ 1.1] RIP: 0010:memunmap_pages+0x1a4/0x3a0');
  d.push('[ 1.1] Call Trace:');
  d.push('[ 1.1]  devm_memremap_pages_release+0x1/0x2');
  await sleep(100);
  t.equal(got.length, 1);
  t.equal(got[0]!.title, 'BUG: unable to handle kernel paging request in memunmap_pages');
  d.close();
});

t.test('the idle timer does not keep the process alive', async (t) => {
  const d = new ReportDetector({ onReport: () => {}, idleMs: 60_000 });
  d.push('[ 1.0] ------------[ cut here ]------------');
  d.push('[ 1.0] WARNING: CPU: 0 PID: 1 at fs/dax.c:1 f+0x1/0x2');
  const timer = (d as unknown as { timer: NodeJS.Timeout | null }).timer;
  t.ok(timer, 'a timer is armed');
  t.equal(timer!.hasRef(), false, 'timer is unref()ed');
  d.close();
});

t.test('lines pushed with embedded newlines or joined text still work', async (t) => {
  const got: CrashReport[] = [];
  const d = new ReportDetector({ onReport: (r) => got.push(r) });
  d.push(readFileSync(join(corpus, 'seed-000-joined.log'), 'utf8'));
  d.flush();
  t.equal(got.length, 1);
  t.equal(got[0]!.title, 'kernel BUG in dax_insert_pfn_pmd');
  d.close();
});

t.test("the refcount census's own page dumps are not reports, nor glued to a report after them", async (t) => {
  const census = [
    '[   20.100000] dax_census: dump 1 pfn=0x10a400 refcount=2 expected=1 run=3 (census finding, not a kernel report)',
    '[   20.100001] page:ffffea0004290000 refcount:2 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x10a400',
    '[   20.100002] flags: 0x2000000000001000(reserved|node=0|zone=4)',
    '[   20.100003] raw: 2000000000001000 ffffea0004290008 ffffea0004290008 0000000000000000',
    '[   20.100004] page dumped because: (null)',
    '[   20.100005] dax_census: dump end',
  ];
  t.same(parseLog(census.join('\n')), [], 'a census dump alone yields nothing');
  const bug = [
    '[   21.000000] ------------[ cut here ]------------',
    '[   21.000001] kernel BUG at mm/memory.c:2292!',
    '[   21.000002] invalid opcode: 0000 [#1] PREEMPT SMP',
    '[   21.000003] RIP: 0010:vm_mixed_ok+0x10/0x20',
    '[   21.000004] Call Trace:',
    '[   21.000005]  <TASK>',
    '[   21.000006]  vmf_insert_mixed+0x1/0x2',
    '[   21.000007]  </TASK>',
    '[   21.000008] ---[ end trace 0000000000000000 ]---',
  ];
  const r = parseLog([...census, ...bug].join('\n'));
  t.equal(r.length, 1);
  t.equal(r[0]!.title, 'kernel BUG in vm_mixed_ok');
  t.notOk(r[0]!.pageDump, 'the census dump is not taken as the BUG\'s page dump');
});

t.test('a report whose stack is interrupted by other output: held, then resumed or given up', async (t) => {
  // Resumed: the frames after a printk burst are the report's, on a live console too.
  const got: CrashReport[] = [];
  const d = new ReportDetector({ onReport: (r) => got.push(r), idleMs: 40 });
  for (const l of lines('warning-interleaved-burst')) d.push(l);
  await sleep(150);
  t.equal(got.length, 1);
  t.equal(got[0]!.title, 'WARNING in dax_delete_mapping_entry');
  t.equal(got[0]!.corrupted, false, 'the frames after the burst are in it');
  d.close();

  // Given up: a stack cut short by the console, then only other output. The held lines
  // go back to the idle state, where a page dump among them is still found.
  const ls = lines('warning-interleaved-burst');
  const cut = ls.findIndex((l) => l.includes('virtio_net'));
  const other = Array.from({ length: 40 }, (_, i) => `[  814.${String(i).padStart(6, '0')}] EXT4-fs (pmem0): mounted filesystem ${i}`);
  const dump = ['[  815.000000] page: refcount:3 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x17c000', '[  815.000001] flags: 0x4ffff800000000(node=0|zone=4|lastcpupid=0x1ffff)', '[  815.000002] page dumped because: test dump'];
  const reports = parseLog([...ls.slice(0, cut), ...other.slice(0, 10), ...dump, ...other.slice(10)].join('\n'));
  t.same(reports.map((r) => r.type), ['WARNING', 'page dump'], 'the report ends, the dump among the held lines is its own');
  t.equal(reports[0]!.corrupted, true, 'a stack with no frames after its header is corrupted');
  t.notOk(reports[0]!.lines.some((l) => l.includes('EXT4-fs')), 'no held line joined the report');
});

t.test('past its foreign-line budget a report is not continued by another of its kind', async (t) => {
  const noise = Array.from({ length: 12 }, (_, i) => `r${i} = openat$dax(0xffffffffffffff9c, &(0x7f0000000000)='./file0\\x00', 0x42, 0x0)`);
  for (const name of ['memleak-debugfs', 'netdev-unregister']) {
    const one = lines(name);
    const n = parseLog(one.join('\n')).length;
    t.equal(parseLog([...one, ...noise, ...one].join('\n')).length, 2 * n, `${name} twice, a program's output between: two reports`);
  }
});

t.test('a panic after other output ends the report before it only if it is how that report ends', async (t) => {
  const other = ['[  900.000001] nd_pmem namespace0.0: unable to guarantee persistence of writes', '[  900.000002] pmem0: detected capacity change from 0 to 4194304'];
  const titles = (...parts: string[][]) => parseLog(parts.flat().join('\n')).map((r) => r.title);
  const fatal = lines('panic-fatal-exception-only');
  t.same(titles(lines('gpf-kasan-null').filter((l) => !l.includes('Kernel panic') && !l.includes('end Kernel panic')), other, fatal), ['general protection fault in dax_lock_folio'], "die()'s panic after an oops is the oops's");
  t.same(titles(lines('panic-after-unknown'), other, fatal).length, 2, 'a kernel that panicked does not panic again: a second panic is its own report');
  t.same(titles(lines('warning-old'), other, fatal).length, 2, "die()'s panic after a WARNING is a lost oops's");
});
