// Bad input must neither crash the parser nor make it slow.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { parseLog } from '../../harness/src/oracle/index.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');
const gpf = readFileSync(join(corpus, 'gpf-kasan-null.log'), 'utf8');
const title = 'general protection fault in dax_lock_folio';

t.test('binary garbage around a report', async (t) => {
  const junk = randomBytes(256 * 1024).toString('latin1');
  const r = parseLog(junk + '\n' + gpf + junk.slice(0, 1000) + '\n');
  t.ok(r.some((x) => x.title === title), 'report still found');
  t.doesNotThrow(() => parseLog(randomBytes(1 << 20).toString('utf8')), 'pure garbage (invalid UTF-8) is fine');
  t.doesNotThrow(() => parseLog('\u0000'.repeat(10000)));
});

t.test('CRLF and ANSI colours', async (t) => {
  const crlf = gpf.replace(/\n/g, '\r\n');
  t.equal(parseLog(crlf)[0]?.title, title);
  const ansi = gpf
    .split('\n')
    .map((l, i) => (i % 3 === 0 ? `\x1b[0;3${i % 7}m${l}\x1b[0m` : l))
    .join('\n');
  const r = parseLog(ansi)[0]!;
  t.equal(r.title, title);
  t.notOk(r.lines.some((l) => l.includes('\x1b')), 'escapes removed from display lines');
});

t.test('every timestamp flavour gives the same report', async (t) => {
  const bare = gpf.split('\n').filter(Boolean).map((l) => l.replace(/^\[[^\]]*\] /, ''));
  const flavours: Record<string, (l: string, i: number) => string> = {
    none: (l) => l,
    printk: (l, i) => `[${(10 + i / 1000).toFixed(6).padStart(12)}] ${l}`,
    caller: (l, i) => `[${(10 + i / 1000).toFixed(6).padStart(12)}][  T733] ${l}`,
    syslog: (l, i) => `<4>[${(10 + i / 1000).toFixed(6).padStart(12)}] ${l}`,
    kmsg: (l, i) => `4,${100 + i},${10000000 + i},-;${l}`,
    reltime: (l) => `[  +0.000012] ${l}`,
    ctime: (l) => `[Sat Nov 21 08:00:01 2026] ${l}`,
    dmesgx: (l) => `kern  :warn  : [Sat Nov 21 08:00:01 2026] ${l}`,
    journal: (l) => `Nov 21 08:00:01 guest kernel: ${l}`,
    iso: (l) => `2026-11-21T08:00:01.123456+00:00 guest kernel: ${l}`,
    quoted: (l) => `> ${l}`,
  };
  for (const [name, f] of Object.entries(flavours)) {
    const r = parseLog(bare.map(f).join('\n'));
    t.equal(r.length, 1, `${name}: one report`);
    t.equal(r[0]?.title, title, `${name}: title`);
    t.equal(r[0]?.fatal, true, `${name}: fatal`);
  }
});

t.test('a very long line', async (t) => {
  const long = 'x'.repeat(8 << 20);
  // No timed bound here: a scan quadratic in a line's length would take some 10^13 steps on
  // these 8 MB and 1 MB lines, hours, so the file would run into tap's timeout. The time, at
  // this size and an eighth of it with the ratio, is bench:hostile's parse section.
  t.same(parseLog(long + '\n' + 'BUG: '.repeat(200000) + '\n'), parseLog(long), 'no report from a long junk line');
  const r = parseLog(long + '\n' + gpf);
  t.equal(r[0]?.title, title);
});

t.test('20 MB of console noise with reports: each report found once', async (t) => {
  const noise = [
    '[  100.000001] EXT4-fs (pmem0): mounted filesystem 2adea02a r/w with ordered data mode. Quota mode: none.',
    '[  100.000002] nd_pmem namespace0.0: unable to guarantee persistence of writes',
    'pmd_pte_mix: iteration 1234 ok (8 threads, 512 faults)',
    '[  100.000003] rcu: Hierarchical RCU implementation.',
  ].join('\n');
  const chunks: string[] = [];
  let size = 0;
  let i = 0;
  while (size < 20e6) {
    const c = i % 5000 === 2500 ? gpf : noise + '\n';
    chunks.push(c);
    size += c.length;
    i++;
  }
  const text = chunks.join('');
  // Every report is found, each once. How fast, at 20 MB and at an eighth of it with the
  // ratio (near 8 when linear), is bench:hostile's parse section, not a wall-clock bound here.
  const r = parseLog(text);
  const inserted = chunks.filter((c) => c === gpf).length;
  t.equal(r.length, inserted, `${r.length} reports found of ${inserted}`);
  t.ok(r.every((x) => x.title === title));
});
