// Streaming behaviour of ReportDetector: reports come out as soon as they are
// complete, fatal ones without waiting for silence, the rest after idleMs.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReportDetector } from '../../harness/src/oracle/index.js';
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
