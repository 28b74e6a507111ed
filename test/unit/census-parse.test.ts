// The census module's report, its console dumps, the watchdog's output and
// the fixture's list: parsed from text captured on a real 6.1 guest.
import t from 'tap';
import {
  parseCensusOutput,
  extractDumps,
  parseModuleInfo,
  judgeCensus,
  parseWatchdog,
  describeStuck,
  parseHeld,
  expectedIdle,
} from '../../harness/src/suites/census.ts';
import { parseLog } from '../../harness/src/oracle/index.ts';

const CLEAN = `dax_census: begin run=1
range start=0x100000 end=0x180000
pgmap type=fsdax start=0x100000 end=0x180000 first=0x102200 vmemmap_shift=0
summary checked=515584 bad=0 refcount_bad=0 mapping_bad=0 compound_bad=0 fsdax=515584 devdax=0 devdax_tails=0 devdax_mapped=0 reserved=8704 nopgmap=0 othertype=0 dumped=0 expected_fsdax=1 expected_devdax=1
dax_census: end
`;

const LEAK = `dax_census: begin run=2
range start=0x100000 end=0x180000
pgmap type=fsdax start=0x100000 end=0x180000 first=0x102200 vmemmap_shift=0
bad pfn=0x10a400 refcount=2 expected=1 mapping=0 head=0 tail=0 order=0 type=fsdax why=refcount,
summary checked=515584 bad=1 refcount_bad=1 mapping_bad=0 compound_bad=0 fsdax=515584 devdax=0 devdax_tails=0 devdax_mapped=0 reserved=8704 nopgmap=0 othertype=0 dumped=1 expected_fsdax=1 expected_devdax=1
dax_census: end
`;

// dmesg after run 2, with a dump of an earlier run and a report around it.
const DMESG = `[   12.010114] ---[ end trace 0000000000000000 ]---
[   12.079793] EXT4-fs (pmem0): unmounting filesystem.
[   12.500000] dax_census: dump 1 pfn=0x10a400 refcount=3 expected=1 run=1 (census finding, not a kernel report)
[   12.500001] page:ffffea0004290000 refcount:3 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x10a400
[   12.500002] dax_census: dump end
[   12.600179] dax_census: dump 1 pfn=0x10a400 refcount=2 expected=1 run=2 (census finding, not a kernel report)
[   12.602515] page:ffffea0004290000 refcount:2 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x10a400
[   12.604854] flags: 0x27ffffc0001002(referenced|reserved|node=0|zone=4|lastcpupid=0x1fffff)
[   12.605743] raw: 0027ffffc0001002 ffff88807ff5feb0 0000000000000000 0000000000000000
[   12.606033] raw: 0000000000000000 0000000000000000 00000002ffffffff 0000000000000000
[   12.606334] dax_census: dump end
[   12.833804] dax_census_fixture: releasing pfn=0x10a400
`;

const base = {
  dev: '/dev/pmem0',
  mode: 'fsdax' as const,
  expected: { fsdax: expectedIdle('fsdax', '6.1.0-56-amd64'), devdax: expectedIdle('devdax', '6.1.0-56-amd64') },
  range: { start: '0x100000', end: '0x180000', from: 'iomem' },
};

t.test('clean report', async (t) => {
  const r = parseCensusOutput(CLEAN);
  t.equal(r.run, 1);
  t.ok(r.complete);
  t.same(r.range, { start: '0x100000', end: '0x180000' });
  t.same(r.pgmaps, [{ type: 'fsdax', start: '0x100000', end: '0x180000', first: '0x102200', vmemmapShift: 0 }]);
  t.equal(r.summary.checked, 515584);
  t.equal(r.summary.reserved, 8704, 'the altmap (memmap + info block) pfns are skipped, not checked');
  t.equal(r.bad.length, 0);
  const v = judgeCensus(r, base);
  t.ok(v.ok);
  t.equal(v.detail.checked, 515584);
  t.equal(v.detail.bad, 0);
});

t.test('a leaked page is named', async (t) => {
  const r = parseCensusOutput(LEAK);
  t.same(r.bad, [{ pfn: '0x10a400', refcount: 2, expected: 1, mapping: false, head: false, tail: false, order: 0, type: 'fsdax', why: ['refcount'] }]);
  const v = judgeCensus(r, base);
  t.notOk(v.ok);
  t.equal(v.reason, 'census: 1 of 515584 fsdax pages of /dev/pmem0 not idle after teardown: pfn 0x10a400 refcount 2 (idle 1)');
  t.equal(v.detail.firstBad[0]?.pfn, '0x10a400');
});

t.test('many bad pages: three named, the rest counted; compound and mapping shown', async (t) => {
  const lines = [
    'dax_census: begin run=7',
    'bad pfn=0x200 refcount=0 expected=0 mapping=1 head=1 tail=0 order=9 type=fsdax why=mapping,compound,',
    'bad pfn=0x201 refcount=0 expected=0 mapping=0 head=0 tail=1 order=0 type=fsdax why=compound,',
    'bad pfn=0x400 refcount=1 expected=0 mapping=0 head=0 tail=0 order=0 type=fsdax why=refcount,',
    'bad pfn=0x401 refcount=1 expected=0 mapping=0 head=0 tail=0 order=0 type=fsdax why=refcount,',
    'summary checked=1000 bad=600',
    'dax_census: end',
  ].join('\n');
  const v = judgeCensus(parseCensusOutput(lines), base);
  t.notOk(v.ok);
  t.match(v.reason, /^census: 600 of 1000 fsdax pages of \/dev\/pmem0 not idle after teardown: pfn 0x200 refcount 0 \(idle 0\) mapping set head order 9, pfn 0x201 refcount 0 \(idle 0\) tail order 0, pfn 0x400 refcount 1 \(idle 0\) and 597 more$/);
  t.same(v.detail.firstBad[0]?.why, ['mapping', 'compound']);
});

t.test('a census that checked nothing, or was cut short, or had no range, is not a pass', async (t) => {
  const empty = judgeCensus(parseCensusOutput('dax_census: begin run=3\nrange start=0x1 end=0x2\nsummary checked=0 bad=0 nopgmap=1\ndax_census: end\n'), base);
  t.notOk(empty.ok);
  t.match(empty.reason, /no fsdax\/device-dax pages .*disabled before the census/);
  const cut = judgeCensus(parseCensusOutput(CLEAN.split('\n').slice(0, 3).join('\n')), base);
  t.notOk(cut.ok);
  t.match(cut.reason, /cut short/);
  const norange = judgeCensus(parseCensusOutput('error: no range set: write "START END" pfns to range\n'), base);
  t.notOk(norange.ok);
  t.match(norange.reason, /no range set/);
});

t.test('console dumps belong to their run and page', async (t) => {
  const d = extractDumps(DMESG, 2);
  t.same([...d.keys()], ['0x10a400']);
  const lines = d.get('0x10a400')!;
  t.equal(lines.length, 4, 'page, flags and two raw lines');
  t.match(lines[0], /^page:ffffea0004290000 refcount:2 /, 'timestamps stripped, run 1 dump ignored');
  t.same([...extractDumps(DMESG, 1).keys()], ['0x10a400']);
  t.equal(extractDumps(DMESG, 1).get('0x10a400')!.length, 1);
  t.equal(extractDumps(DMESG, 9).size, 0);
});

t.test('module info', async (t) => {
  const i = parseModuleInfo('dax_census=1 kernel=6.1.192 fsdax_idle=1 fsdax_idle_source=version devdax_idle=1 get_dev_pagemap_args=2\n');
  t.same(i, { fsdaxIdle: 1, fsdaxIdleSource: 'version', kernel: '6.1.192', getDevPagemapArgs: 2 });
  t.same(parseModuleInfo(''), { fsdaxIdle: null, fsdaxIdleSource: null, kernel: null, getDevPagemapArgs: null });
});

const STUCK = `watchdog: stuck pid=232 ms=8050
watchdog: state S (sleeping)
watchdog: wchan ext4_break_layouts
watchdog: stack begin
[<0>] ext4_break_layouts+0x8f/0x120 [ext4]
[<0>] ext4_setattr+0x4f1/0xbe0 [ext4]
[<0>] notify_change+0x2ad/0x5c0
[<0>] do_truncate+0x94/0xe0
[<0>] do_sys_ftruncate+0x150/0x1a0
[<0>] do_syscall_64+0x5d/0xb0
[<0>] entry_SYSCALL_64_after_hwframe+0x6e/0xd8
watchdog: stack end
watchdog: output begin
watchdog: output end
`;

// What a 6.15+ umount on a leaked page looks like (shape from /proc/<pid>/stack).
const STUCK_615 = `watchdog: stuck pid=801 ms=60010
watchdog: state D (disk sleep)
watchdog: wchan dax_break_layout_final
watchdog: stack begin
[<0>] __schedule+0x3a1/0xb20
[<0>] schedule+0x27/0xa0
[<0>] dax_break_layout_final+0xd5/0x140
[<0>] ext4_evict_inode+0x6d/0x6a0 [ext4]
[<0>] evict+0xcc/0x1d0
[<0>] dispose_list+0x48/0x70
[<0>] evict_inodes+0x165/0x1b0
[<0>] generic_shutdown_super+0x3b/0x100
[<0>] kill_block_super+0x16/0x40
[<0>] deactivate_locked_super+0x2c/0x70
[<0>] cleanup_mnt+0xb8/0x150
[<0>] task_work_run+0x55/0x80
watchdog: stack end
watchdog: output begin
watchdog: output end
`;

t.test('watchdog: stuck task, where it waits, and the one-line report', async (t) => {
  const w = parseWatchdog(STUCK);
  t.equal(w.finished, false);
  t.equal(w.stuck?.pid, 232);
  t.equal(w.stuck?.state, 'S (sleeping)');
  t.equal(w.stuck?.wchan, 'ext4_break_layouts');
  t.equal(w.stuck?.stack.length, 7);
  t.equal(w.stuck?.where, 'ext4_break_layouts');
  const w2 = parseWatchdog(STUCK_615);
  t.equal(w2.stuck?.where, 'dax_break_layout_final', 'scheduler frames are skipped');
  const msg = describeStuck('umount /mnt/dax', { ...w2, waitedMs: 60400 });
  t.match(msg, /^umount \/mnt\/dax stuck in dax_break_layout_final \(state D \(disk sleep\), wchan dax_break_layout_final\) after 60 s — a leaked DAX page reference\? stack: __schedule\+0x3a1\/0xb20 < schedule\+0x27\/0xa0 < dax_break_layout_final\+0xd5\/0x140 < ext4_evict_inode/);
});

t.test('watchdog: finished command with its output and exit code', async (t) => {
  const w = parseWatchdog('watchdog: done rc=32 ms=240\nwatchdog: output begin\numount: can\'t unmount /mnt/dax: Device or resource busy\nwatchdog: output end\n');
  t.same(w, { finished: true, exitCode: 32, output: "umount: can't unmount /mnt/dax: Device or resource busy", stuck: null });
  t.same(parseWatchdog('garbage'), { finished: false, exitCode: null, output: '', stuck: null });
});

t.test('fixture list', async (t) => {
  t.same(parseHeld('held pfn=0x10a400 refcount=2\nheld pfn=0x10a401 refcount=3\n'), [
    { pfn: '0x10a400', refcount: 2 },
    { pfn: '0x10a401', refcount: 3 },
  ]);
  t.same(parseHeld(''), []);
});

// The census's deliberate dumps on the console, as the 6.1 guest printed them
// (including a serial glitch in the end marker): dumped with a NULL reason,
// so the crash oracle sees no "page dumped because:" and files no report.
const CONSOLE = `[   12.079793] EXT4-fs (pmem0): unmounting filesystem.
[   12.600179] dax_census: dump 1 pfn=0x10a400 refcount=2 expected=1 run=2 (census finding, not a kernel report)
[   12.602515] page:ffffea0004290000 refcount:2 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x10a400
[   12.604854] flags: 0x27ffffc0001002(referenced|reserved|node=0|zone=4|lastcpupid=0x1fffff)
[   12.605743] raw: 0027ffffc0001002 ffff88807ff5feb0 0000000000000000 0000000000000000
[   12.606033] raw: 0000000000000000 0000000000000000 00000002ffffffff 0000000000000000
[   12.606334] daxx_census: dump end
[   12.833804] dax_census_fixture: releasing pfn=0x10a400
[   13.392324] EXT4-fs (pmem0): mounted filesystem with ordered data mode. Quota mode: none.
${Array.from({ length: 14 }, (_, i) => `[   13.4${i}0000] ordinary line ${i}`).join('\n')}
`;

t.test('the crash oracle files no report for census dumps', async (t) => {
  t.same(parseLog(CONSOLE), []);
});
