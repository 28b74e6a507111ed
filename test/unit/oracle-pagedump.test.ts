import t from 'tap';
import { parsePageDump, canonicalAssertion, decodeFlags } from '../../harness/src/oracle/pagedump.js';

t.test('canonical assertion names', async (t) => {
  t.same(canonicalAssertion('VM_BUG_ON_FOLIO(((unsigned int) folio_ref_count(folio) + 127u <= 127))'), {
    macro: 'VM_BUG_ON_FOLIO',
    assertion: 'folio_ref_zero_or_close_to_overflow',
  });
  t.equal(canonicalAssertion('VM_BUG_ON_FOLIO(((unsigned int) folio_ref_count(folio) + 127u <= 127').assertion, 'folio_ref_zero_or_close_to_overflow', 'mail-truncated');
  t.equal(canonicalAssertion('VM_BUG_ON_PAGE(((unsigned int) page_ref_count(page) + 127u <= 127))').assertion, 'page_ref_zero_or_close_to_overflow');
  t.same(canonicalAssertion('VM_BUG_ON_PAGE(page_ref_count(page)   == 0)'), { macro: 'VM_BUG_ON_PAGE', assertion: 'page_ref_count(page) == 0' });
  t.same(canonicalAssertion('VM_WARN_ON_ONCE_FOLIO((folio_ref_count(folio)))'), { macro: 'VM_WARN_ON_ONCE_FOLIO', assertion: 'folio_ref_count(folio)' });
  t.same(canonicalAssertion('nonzero mapcount'), { macro: null, assertion: 'nonzero mapcount' });
});

t.test('flags decode', async (t) => {
  t.same(decodeFlags('0x4ffff800004040(reserved|head|node=0|zone=4|lastcpupid=0x1ffff)'), { raw: '0x4ffff800004040', names: ['reserved', 'head'], node: 0, zone: 4 });
  t.same(decodeFlags('0x0()').names, []);
});

const v61 = `page:000000004c1f3e2a refcount:2 mapcount:1 mapping:00000000d5a3f1b2 index:0x7 pfn:0x10a3c
head:00000000f0d1b7a2 order:2 compound_mapcount:0 compound_pincount:0
memcg:ffff888103e6c000
anon flags: 0x17ffffc0080068(uptodate|lru|active|swapbacked|node=0|zone=2) CMA
raw: 0017ffffc0080068 ffffea000428f088 ffffea000428f008 ffff888103a1c0c1
raw: 0000000000000007 0000000000000000 0000000200000000 ffff888103e6c000
page dumped because: test`;

t.test('6.1 anon compound page', async (t) => {
  const d = parsePageDump(v61.split('\n'))!;
  t.equal(d.format, '6.1');
  t.equal(d.page, '000000004c1f3e2a');
  t.equal(d.refcount, 2);
  t.equal(d.mapcount, 1);
  t.equal(d.order, 2);
  t.equal(d.compoundMapcount, 0);
  t.equal(d.kind, 'anon');
  t.equal(d.cma, true);
  t.equal(d.memcg, 'ffff888103e6c000');
  t.same(d.flags, ['uptodate', 'lru', 'active', 'swapbacked']);
  t.equal(d.raw.length, 2);
});

t.test('6.2-6.8 file folio, split and joined', async (t) => {
  const lines = [
    'page:ffffea0005f00000 refcount:0 mapcount:0 mapping:ffff8882a8a6be10 index:0x5800 pfn:0x1',
    'head:ffffea0005f00000 order:9 entire_mapcount:0 nr_pages_mapped:0 pincount:0',
    'aops:ext4_dax_aops ino:c dentry name:"image"',
    'flags: 0x4ffff800004040(reserved|head|node=0|zone=4|lastcpupid=0x1ffff)',
    'page_type: 0xffffffff()',
    'page dumped because: VM_BUG_ON_FOLIO(((unsigned int) folio_ref_count(folio) + 127u <= 127))',
  ];
  const split = parsePageDump(lines)!;
  // Joined into a single line with the page-dump line starts kept (what a mail client does before re-splitting).
  const joinedOnOne = parsePageDump([lines.slice(0, 2).join(' '), ...lines.slice(2)])!;
  for (const d of [split, joinedOnOne]) {
    t.equal(d.format, '6.2-6.8');
    t.equal(d.order, 9);
    t.equal(d.entireMapcount, 0);
    t.equal(d.nrPagesMapped, 0);
    t.equal(d.aops, 'ext4_dax_aops');
    t.equal(d.ino, 'c');
    t.equal(d.dentry, 'image');
    t.equal(d.pageType, '0xffffffff()');
    t.equal(d.assertion, 'folio_ref_zero_or_close_to_overflow');
    t.equal(d.folioMapcount, null);
  }
});

t.test('6.9+, 6.11/6.12 and later head lines', async (t) => {
  const base = ['page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x17c000'];
  const d69 = parsePageDump([...base, 'head: order:9 entire_mapcount:0 nr_pages_mapped:0 pincount:0'])!;
  t.equal(d69.format, '6.9+');
  t.equal(d69.page, null);
  t.equal(d69.refcount, 1);
  t.equal(d69.pfn, '0x17c000');
  const d611 = parsePageDump([...base, 'head: order:9 mapcount:512 entire_mapcount:0 nr_pages_mapped:512 pincount:0'])!;
  t.equal(d611.format, '6.11+');
  t.equal(d611.folioMapcount, 512);
  t.equal(d611.mapcount, 0, 'page mapcount stays the page line one');
  const later = parsePageDump([...base, 'head: order:9 mapcount:1 entire_mapcount:1 pincount:0'])!;
  t.equal(later.format, 'later');
  t.equal(later.nrPagesMapped, null);
  const typed = parsePageDump([...base, 'page_type: f5(buddy)'])!;
  t.equal(typed.format, '6.11+');
  t.equal(typed.pageType, 'f5(buddy)');
  t.equal(parsePageDump(['page:ffffea0000400000 is uninitialized and poisoned', 'raw: ffffffffffffffff ffffffffffffffff'])!.poisoned, true);
  t.equal(parsePageDump(['page does not match folio', ...base])!.pageDoesNotMatchFolio, true);
  t.equal(parsePageDump(['nothing here', 'Call Trace:']), null);
});

t.test('mapping variants', async (t) => {
  t.equal(parsePageDump(['page: refcount:1 mapcount:0 mapping:ffff8882a8a6be10 index:0x0 pfn:0x1', 'aops:xfs_dax_aops ino:83'])!.aops, 'xfs_dax_aops');
  t.equal(parsePageDump(['page:ffffea0005f00000 refcount:1 mapcount:0 mapping:ffff8882a8a6be10 index:0x0', 'mapping->aops:ext4_da_aops dentry name:"a b"'])!.dentry, 'a b');
});
