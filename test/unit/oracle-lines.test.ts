import t from 'tap';
import { normaliseLine, splitJoined, splitLines, cleanControl } from '../../harness/src/oracle/lines.js';

t.test('printk timestamp flavours', async (t) => {
  const cases: Array<[string, string, number | null, string | null]> = [
    ['[   12.345678] kernel BUG at mm/x.c:1!', 'kernel BUG at mm/x.c:1!', 12.345678, null],
    ['[    5.000000][ T1822] WARNING: x', 'WARNING: x', 5, 'T1822'],
    ['[    5.000000] [T1822] WARNING: x', 'WARNING: x', 5, 'T1822'],
    ['[  +0.000123] Call Trace:', 'Call Trace:', 0.000123, null],
    ['[<    0.000123>] Call Trace:', 'Call Trace:', 0.000123, null],
    ['<4>[   1.5] Oops: 0000 [#1]', 'Oops: 0000 [#1]', 1.5, null],
    ['4,1234,5678901,-;BUG: Bad page state', 'BUG: Bad page state', 5.678901, null],
    ['6,1234,5678901,-,caller=T12;hello', 'hello', 5.678901, 'T12'],
    ['[Sat Nov 21 08:00:01 2026] WARNING: y', 'WARNING: y', null, null],
    ['kern  :warn  : [Sat Nov 21 08:00:01 2026] WARNING: y', 'WARNING: y', null, null],
    ['Nov 21 08:01:00 guest kernel: WARNING: z', 'WARNING: z', null, null],
    ['Nov  1 08:01:00 guest kernel: [  3.1] WARNING: z', 'WARNING: z', 3.1, null],
    ['2026-11-21T08:01:00.123456+00:00 guest kernel: WARNING: z', 'WARNING: z', null, null],
    ['2026-11-21T08:01:00,123456+00:00 WARNING: iso', 'WARNING: iso', null, null],
    ['> > kernel BUG at fs/dax.c:1!', 'kernel BUG at fs/dax.c:1!', null, null],
    ['[   1.000000]  dax_fault_iter+0x5d0/0x700', ' dax_fault_iter+0x5d0/0x700', 1, null],
    ['>ffff88810e3c4a00: fb fb', '>ffff88810e3c4a00: fb fb', null, null],
    ['plain userspace line', 'plain userspace line', null, null],
  ];
  for (const [raw, text, ts, caller] of cases) {
    const n = normaliseLine(raw);
    t.equal(n.text, text, raw);
    t.equal(n.ts, ts, `${raw} ts`);
    t.equal(n.caller, caller, `${raw} caller`);
  }
  t.equal(normaliseLine('<4>x').level, 4);
});

t.test('control characters, CR and ANSI', async (t) => {
  t.equal(cleanControl('\x1b[1;31mBUG: x\x1b[0m\r'), 'BUG: x');
  t.equal(cleanControl('a\x00b\x07c\x7fd\ufffde'), 'abcde');
  t.equal(cleanControl('tab\tkept'), 'tab\tkept');
  t.equal(normaliseLine('\x1b]0;title\x07[  1.0] WARNING: a').text, 'WARNING: a');
  t.equal(normaliseLine('[  1.0] Call Trace:   ').display, '[  1.0] Call Trace:');
});

t.test('joined lines are split at kernel line starts', async (t) => {
  const joined =
    'crashed with: page:ffffea0005f00000 refcount:0 mapcount:0 mapping:ffff8882a8a6be10 index:0x5800 pfn:0x1 ' +
    'head:ffffea0005f00000 order:9 entire_mapcount:0 nr_pages_mapped:0 pincount:0 flags: 0x4(head|node=0|zone=4) ' +
    'page dumped because: VM_BUG_ON_FOLIO(x) ------------[ cut here ]------------ kernel BUG at include/linux/mm.h:1419! ' +
    'WARNING: CPU: 0 PID: 1 at fs/dax.c:1 dax_folio_put+0x1/0x2 Call Trace: <TASK> ? die+0x32/0x80 dax_fault_iter+0x5d0/0x700 RIP: 0010:dax_insert_pfn_pmd+0x41c/0x430';
  const parts = splitJoined(joined);
  t.same(parts, [
    'crashed with:',
    'page:ffffea0005f00000 refcount:0 mapcount:0 mapping:ffff8882a8a6be10 index:0x5800 pfn:0x1',
    'head:ffffea0005f00000 order:9 entire_mapcount:0 nr_pages_mapped:0 pincount:0',
    'flags: 0x4(head|node=0|zone=4)',
    'page dumped because: VM_BUG_ON_FOLIO(x)',
    '------------[ cut here ]------------',
    'kernel BUG at include/linux/mm.h:1419!',
    'WARNING: CPU: 0 PID: 1 at fs/dax.c:1 dax_folio_put+0x1/0x2',
    'Call Trace:',
    '<TASK>',
    '? die+0x32/0x80',
    'dax_fault_iter+0x5d0/0x700',
    'RIP: 0010:dax_insert_pfn_pmd+0x41c/0x430',
  ]);
  const normal = 'Code: 89 c1 41 b8 01 00 00 00 48 89 ea 4c 89 e6 4c 89 f7 e8 18 8a c7 ff e9 e0 fc ff ff 48 c b3 48 89 c7 e8 a4 53 f7 ff <0f> 0b e8 0d ba a8 00 48 8b 15 86 8a 62 01 e9 89 fc ff ff 90';
  t.same(splitJoined(normal), [normal], 'a long real line stays whole');
  t.same(splitJoined('short BUG: x WARNING: y'), ['short BUG: x WARNING: y'], 'short lines are never split');
});

t.test('splitLines handles LF, CRLF and lone CR', async (t) => {
  t.same(splitLines('a\r\nb\nc\rd\n'), ['a', 'b', 'c', 'd']);
  t.same(splitLines(''), []);
});

t.test('a timestamp whose "[" another writer pulled away still starts the kernel line', async (t) => {
  const n = normaliseLine('d[axh: panicking    19.837121] Kernel panic - not syncing: sysrq triggered crash');
  t.equal(n.text, 'Kernel panic - not syncing: sysrq triggered crash');
  t.equal(n.ts, 19.837121);
  // Text with brackets and numbers but no timestamp tail stays as it is.
  t.equal(normaliseLine('took [12 runs] 3.5 s').text, 'took [12 runs] 3.5 s');
  t.equal(normaliseLine('rate [ok]1.000000]x').ts, null, 'no space before the seconds: not a timestamp');
});
