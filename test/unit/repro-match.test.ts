// "The same crash" across kernels and series revisions, and the field-by-field
// comparison, on crashes from the oracle's corpus and variants of them.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLog } from '../../harness/src/oracle/index.js';
import { matchCrash, compareCrashes } from '../../harness/src/workflows/repro/match.js';
import type { CrashReport } from '../../harness/src/results/records.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');
const log = (name: string) => readFileSync(join(corpus, `${name}.log`), 'utf8');
const one = (text: string): CrashReport => {
  const r = parseLog(text);
  if (r.length !== 1) throw new Error(`expected one report, got ${r.length}`);
  return r[0]!;
};

const reported = one(log('dax-pmd-6.6-console')); // early revision: kernel BUG in dax_insert_pfn_pmd, ext4

t.test('the same bug on the merged series (renamed and inlined guilty frame)', async (t) => {
  const merged = one(log('dump-6.12-merged')); // kernel BUG in dax_fault_iter
  t.not(merged.title, reported.title, 'titles differ');
  t.equal(matchCrash(reported, merged).verdict, 'same');
  t.equal(matchCrash(merged, reported).verdict, 'same', 'both ways');
});

t.test('offsets, line numbers, clone suffixes and the filesystem do not matter', async (t) => {
  const shifted = log('dax-pmd-6.6-console')
    .replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+/g, '+0x10/0x20')
    .replace('mm.h:1419', 'mm.h:1502')
    .replace(/dax_fault_iter\+/g, 'dax_fault_iter.isra.0+')
    .replace(/dax_iomap_pmd_fault\+/g, 'dax_iomap_pmd_fault.constprop.0+');
  t.equal(matchCrash(reported, one(shifted)).verdict, 'same', 'offsets, line, .isra/.constprop');
  const onXfs = log('dax-pmd-6.6-console')
    .replace(/ext4_dax_huge_fault\+0x1dc\/0x470/g, 'xfs_dax_fault_locked+0x49/0x90\n[  216.506149]  __xfs_filemap_fault+0x123/0x2d0')
    .replace('aops:ext4_dax_aops', 'aops:xfs_dax_aops');
  t.equal(matchCrash(reported, one(onXfs)).verdict, 'same', 'the fs frames below the DAX code differ');
});

t.test('inlining: the guilty function moves up a frame', async (t) => {
  // The RIP lands in the caller when the faulting helper is inlined.
  const inlined = log('dax-pmd-6.6-console').replace(/RIP: 0010:dax_insert_pfn_pmd\+0x41c\/0x430/g, 'RIP: 0010:dax_fault_iter+0x5d0/0x700').replace(/\? dax_insert_pfn_pmd\+0x41c\/0x430\n/g, '');
  const r = one(inlined);
  t.equal(matchCrash(reported, r).verdict, 'same');
});

t.test('a different assertion on the same path is related, not the same', async (t) => {
  const warn = one(log('warning-old')); // WARNING in dax_associate_entry under dax_fault_iter
  const m = matchCrash(reported, warn);
  t.equal(m.verdict, 'related');
  t.match(m.why.join(' '), /WARNING where the report has BUG/);
  const refAssert = log('dax-pmd-6.6-console').replace('VM_BUG_ON_FOLIO(((unsigned int) folio_ref_count(folio) + 127u <= 127))', 'VM_BUG_ON_FOLIO(folio_test_large(folio))');
  t.equal(matchCrash(reported, one(refAssert)).verdict, 'related', 'another VM_BUG_ON on the same line of code');
});

t.test('unrelated crashes are different', async (t) => {
  for (const name of ['hung-task', 'kasan-uaf', 'bad-page-map', 'rcu-stall']) t.equal(matchCrash(reported, one(log(name))).verdict, 'different', name);
});

t.test('compareCrashes: field by field, frames through aliases', async (t) => {
  const merged = one(log('dump-6.12-merged'));
  const c = compareCrashes(reported, merged);
  const row = (f: string) => c.rows.find((r) => r.field === f)!;
  t.equal(row('title').agree, true, 'titles name one bug');
  t.equal(row('assertion').agree, true);
  t.equal(row('order').reported, '9');
  t.equal(row('order').agree, true);
  t.equal(row('page dump format').agree, false, '6.2-6.8 vs 6.11+ layouts');
  t.equal(row('kernel').agree, false);
  t.notOk(c.rows.some((r) => /pfn|index|mapping|page$/.test(r.field)), 'no pointers, pfn or index (they differ every boot)');
  t.ok(c.framesAgree.some((f) => f.reported === 'dax_insert_pfn_pmd' && f.reproduced === 'dax_fault_iter'), 'the renamed step pairs up');
  t.ok(c.framesAgree.some((f) => f.reported === 'dax_iomap_pmd_fault'));
  t.same(c.framesOnlyReported, [], 'nothing of the report is missing');
});
