// Logs without a kernel report must give none: boots, our suites' outputs and
// user-space noise, whole or in pieces, batch or live, and mixed together.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLog, ReportDetector } from '../../harness/src/oracle/index.js';
import type { CrashReport } from '../../harness/src/results/records.js';
import { loadCorpus } from '../../bench/oracle-corpus.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');
const clean = readdirSync(dir).filter((f) => f.startsWith('clean-') && f.endsWith('.log')).sort();
const read = (f: string) => readFileSync(join(dir, f), 'utf8');

t.ok(clean.length >= 6, `${clean.length} clean logs`);
const REAL_CLEAN_KB = 427;

for (const f of clean) {
  t.test(f, async (t) => {
    const text = read(f);
    t.same(parseLog(text).map((r) => r.title), [], 'batch: no report');
    const live: CrashReport[] = [];
    const d = new ReportDetector({ onReport: (r) => live.push(r), idleMs: 5 });
    for (const l of text.split('\n')) d.push(l);
    await new Promise((r) => setTimeout(r, 60));
    d.flush();
    d.close();
    t.same(live.map((r) => r.title), [], 'live: no report');
  });
}

t.test('all clean logs back to back, and shuffled line by line, stay clean', async (t) => {
  // A first boot's decompressor banner is only harmless first (later it is a reboot).
  const firstBoot = clean.filter((f) => f.includes('first-boot'));
  const rest = clean.filter((f) => !f.includes('first-boot'));
  const lines = rest.flatMap((f) => read(f).split('\n'));
  t.same(parseLog([...firstBoot.map(read), ...lines].join('\n')).map((r) => r.title), [], 'concatenated');
  // A fixed permutation: report words from different logs land next to each other.
  const mixed = lines.map((l, i) => [(i * 7919) % lines.length, l] as const).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
  t.same(parseLog(mixed.join('\n')).map((r) => r.title), [], 'interleaved');
});

// Consoles captured from our own guests (boots, suites, stressor runs), not written by
// hand: each names its test and kernel in its expected.json. The floor is what the
// corpus holds, so that removing any of them fails here.
t.test('real clean consoles from our own guests give no report', async (t) => {
  const real = loadCorpus().filter((l) => l.name.startsWith('clean-') && l.expected.origin === 'real');
  const bytes = real.reduce((n, l) => n + Buffer.byteLength(l.text), 0);
  const kernels = new Set(real.map((l) => l.expected.provenance?.kernel));
  t.comment(`real clean consoles: ${real.length} logs, ${(bytes / 1024).toFixed(0)} KB, ${kernels.size} kernels`);
  t.ok(bytes >= REAL_CLEAN_KB * 1024, `at least ${REAL_CLEAN_KB} KB of real clean console`);
  for (const l of real) {
    t.ok(l.expected.provenance?.source && l.expected.provenance.kernel, `${l.name} names its test and kernel`);
    t.same(parseLog(l.text).map((r) => r.title), [], `${l.name}: no report`);
  }
});

t.test('a marker inside other text is not a report unless a kernel timestamp starts it', async (t) => {
  t.same(parseLog('test: BUG: expected 1, got 2\nrunner: WARNING: CPU: 0 PID: 1 at fs/dax.c:1 f+0x1/0x2\n'), [], 'glued to user-space text');
  const r = parseLog('debian login: [   12.300000] BUG: soft lockup - CPU#0 stuck for 22s! [t:1]\n[   12.300001] RIP: 0010:f+0x1/0x2\n[   12.300002] Call Trace:\n[   12.300003]  <TASK>\n[   12.300004]  g+0x1/0x2\n[   12.300005]  do_syscall_64+0x1/0x2\n[   12.300006]  </TASK>\n');
  t.same(r.map((x) => x.title), ['BUG: soft lockup in g'], 'glued before a timestamped kernel line');
});
