// Report intake, line by line: quote markers, paste indentation, console
// prefixes, rejoining what a mail client wrapped, and mail/mbox splitting.
// The property test wraps every console log of the oracle's corpus the way
// mail clients do and requires the oracle to find the same crashes.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intake, intakeBody, splitMessages, lineShape, startsLine, decodeWords, syzbotInfo } from '../../harness/src/oracle/intake.js';
import { parseLog } from '../../harness/src/oracle/index.js';
import type { CrashReport } from '../../harness/src/results/records.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');
const logs = readdirSync(corpus)
  .filter((f) => f.endsWith('.log'))
  .map((f) => ({ f, text: readFileSync(join(corpus, f), 'utf8') }));

/** Greedy wrap at blanks, as mail clients do; a word longer than the line is cut. `keepBlank` leaves the break blank at the end of the line. */
function wrap(text: string, width: number, prefix = '', keepBlank = false): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    let rest = line;
    while (prefix.length + rest.length > width) {
      const room = width - prefix.length;
      let at = rest.lastIndexOf(' ', room);
      if (at <= 0) {
        out.push(prefix + rest.slice(0, room));
        rest = rest.slice(room);
        continue;
      }
      out.push(prefix + (keepBlank ? rest.slice(0, at + 1) : rest.slice(0, at)));
      while (rest[at] === ' ') at++;
      rest = rest.slice(at);
    }
    out.push(rest === '' && prefix.trim() === '' ? '' : prefix + rest);
  }
  return out.join('\n');
}

const key = (r: CrashReport) => [r.title, r.matchKey, r.header?.comm, r.header?.kernelVersion, r.pageDump?.order, r.pageDump?.refcount, r.pageDump?.assertion].join('|');
const reports = (text: string) => intake(text).messages.flatMap((m) => parseLog(m.lines.join('\n')));

t.test('intake leaves every corpus log as the oracle reads it', async (t) => {
  for (const { f, text } of logs) t.same(reports(text).map(key), parseLog(text).map(key), f);
});

const forms: Array<[string, (s: string) => string]> = [
  ['wrap 64', (s) => wrap(s, 64)],
  ['wrap 72', (s) => wrap(s, 72)],
  ['wrap 76, break blank kept', (s) => wrap(s, 76, '', true)],
  ['wrap 78', (s) => wrap(s, 78)],
  ['"> " quoted, wrap 72', (s) => wrap(s, 72, '> ')],
  ['"> > " quoted, wrap 76', (s) => wrap(s, 76, '> > ')],
  ['indented 4, wrap 72', (s) => wrap(s, 72, '    ')],
];
const form = (name: string) => forms.find(([n]) => n === name)![1];

// Every form of every corpus log, each asserted: no tolerance.
t.test('wrapped, quoted and indented corpus logs give the same crashes', async (t) => {
  let same = 0;
  let raw = 0;
  let total = 0;
  for (const { f, text } of logs) {
    if (f.startsWith('seed-000')) continue; // one joined line: nothing to wrap
    const want = parseLog(text).map(key);
    for (const [name, fn] of forms) {
      const input = fn(text);
      total++;
      const got = reports(input).map(key);
      if (t.same(got, want, `${name}: ${f}`)) same++;
      if (JSON.stringify(parseLog(input).map(key)) === JSON.stringify(want)) raw++;
    }
  }
  t.comment(`paste forms: same crashes after intake ${same}/${total}; without intake ${raw}/${total}`);
  t.ok(same - raw >= total / 3, 'intake is what makes the difference');
});

// The forms that once gave other crashes, named so that they stay fixed whatever the corpus becomes.
t.test('paste forms that once gave other crashes', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['glued-login-prompt.log', 'wrap 64', 'a kernel line glued to a login prompt, wrapped after its first words'],
    ['merged-second-starts-report.log', 'wrap 72', 'two merged console lines, the second a WARNING cut after "WARNING:"'],
    ['merged-second-starts-report.log', '"> " quoted, wrap 72', 'the same, quoted'],
    ['merged-second-starts-report.log', '"> > " quoted, wrap 76', 'the same, quoted twice'],
    ['soft-lockup-many-cpus-caller.log', 'wrap 72', 'lines with tabs do not set the wrap width'],
    ['soft-lockup-many-cpus-caller.log', '"> " quoted, wrap 72', 'the same, quoted'],
    ['soft-lockup-many-cpus-caller.log', '"> > " quoted, wrap 76', 'the same, quoted twice'],
    ['real-qemu-fault-module-bug-at-init.log', 'wrap 76, break blank kept', 'a file path longer than the line, cut at the edge by a wrapper that keeps blanks at its breaks'],
    ['real-qemu-fault-module-bug-at-init.log', 'indented 4, wrap 72', 'the same path cut in a paste indented on both halves'],
  ];
  for (const [f, name, what] of cases) {
    const text = readFileSync(join(corpus, f), 'utf8');
    const want = parseLog(text).map(key);
    t.ok(want.length > 0, `${f} has a report`);
    t.same(reports(form(name)(text)).map(key), want, `${name}: ${f}: ${what}`);
    t.notSame(parseLog(form(name)(text)).map(key), want, `${name}: ${f} needs intake`);
  }
});

t.test('the line shapes behind those fixes', async (t) => {
  const fill = 'x '.repeat(36).trimEnd(); // sets the wrap width at 72
  const glued = intakeBody(['debian login: [  912.300000] BUG: kernel NULL pointer', 'dereference, address: 0000000000000008', 'x '.repeat(32).trimEnd()].join('\n'));
  t.equal(glued.lines[0], 'debian login: [  912.300000] BUG: kernel NULL pointer dereference, address: 0000000000000008', 'a glued kernel line is judged by its kernel text');
  const merged = intakeBody(['[  412.100000] xfs_io: page fault test starting[  412.200000] WARNING:', 'CPU: 0 PID: 2210 at fs/dax.c:395', 'dax_folio_put+0x1b2/0x1e0', fill].join('\n'));
  t.equal(merged.lines[0], '[  412.100000] xfs_io: page fault test starting[  412.200000] WARNING: CPU: 0 PID: 2210 at fs/dax.c:395 dax_folio_put+0x1b2/0x1e0', 'a merged line is judged by its last part');
  const tail = intakeBody(['[  412.1] xfs_io: page fault test starting', '[  412.2] dax: more', 'processes...[  412.3] Kernel Offset: disabled', fill].join('\n'));
  t.equal(tail.lines.length, 4, 'a line holding a glued time is not a continuation by that alone');
  // 69 characters, 79 columns at tab stops of 8.
  const tabs = intakeBody(['[  523.112373][    C2] \t#1: 100% system,\t  0% softirq,\t  1% hardirq,', '0% idle', '[  523.114501][    C3] RIP:', '0010:native_queued_spin_lock_slowpath+0x6e/0x2e0', fill].join('\n'));
  t.equal(tabs.lines[1], '[  523.114501][    C3] RIP: 0010:native_queued_spin_lock_slowpath+0x6e/0x2e0', 'tabs do not widen the wrap width');
  const name = '_RNvNtNtCsbDqzXfLQacH_4core9panicking11panic_const24panic_const_add_overflow';
  const cut = intakeBody(['[   41.893399]', name.slice(0, 72), `${name.slice(72)}+0x2b/0x30`, fill].join('\n'));
  t.equal(cut.lines[0], `[   41.893399] ${name}+0x2b/0x30`, 'a frame name longer than the line is glued back');
});

t.test('quote markers', async (t) => {
  const b = intakeBody(['> a', '>> b', '> > c', '> >d', ' > e', '>ffff888012345678: fb fb fb', '> >ffff888012345678: fb fb'].join('\n'));
  t.same(b.depth, [1, 2, 2, 2, 1, 0, 1]);
  t.equal(b.lines[5], '>ffff888012345678: fb fb fb', 'a KASAN shadow row marker is text');
  t.equal(b.lines[6], '>ffff888012345678: fb fb', 'and stays when quoted');
  t.equal(b.stats.maxDepth, 2);
});

t.test('paste indentation goes, the kernel\'s own stays', async (t) => {
  const b = intakeBody(['Hi,', '', '  Call Trace:', '   <TASK>', '   dax_fault_iter+0x5d0/0x700', '  ---[ end trace 0000000000000000 ]---'].join('\n'));
  t.same(b.lines.slice(2), ['Call Trace:', ' <TASK>', ' dax_fault_iter+0x5d0/0x700', '---[ end trace 0000000000000000 ]---']);
  const ts = intakeBody('    [  216.506149]  dax_fault_iter+0x5d0/0x700');
  t.equal(ts.lines[0], '[  216.506149]  dax_fault_iter+0x5d0/0x700', 'blanks before a printk time go, the ones after it stay');
});

t.test('console prefixes', async (t) => {
  const cases: Array<[string, string]> = [
    ['Nov 21 09:00:00 host kernel: [   12.345678] BUG: x', '[   12.345678] BUG: x'],
    ['Nov 21 09:00:00.123456 host kernel: BUG: x', 'BUG: x'],
    ['2025-11-21T09:00:00.123456+00:00 host kernel: BUG: x', 'BUG: x'],
    ['[   12.345678] host kernel: BUG: x', '[   12.345678] BUG: x'],
    ['kernel: BUG: x', 'BUG: x'],
    ['  <4>[   12.3] BUG: x', '<4>[   12.3] BUG: x'],
  ];
  for (const [i, o] of cases) t.equal(intakeBody(i).lines[0], o, i);
  t.equal(intakeBody('Nov 21 09:00:00 host systemd[1]: Started x.').lines[0], 'Nov 21 09:00:00 host systemd[1]: Started x.', 'other daemons are left alone');
});

t.test('wrapped kernel lines are rejoined by kind', async (t) => {
  const ts = '[  216.506149] ';
  const long = [
    'CPU: 0 PID: 1415 Comm: dax-pmd Tainted: G           OE      N 6.6.0+ #209',
    'RAX: 0000000000000000 RBX: ffffea0005f08000 RCX: 0000000000000000',
    'FS:  00007f3d1c2b9740(0000) GS:ffff88813bc00000(0000) knlGS:0000000000000000',
    'page:ffffea0005f00000 refcount:0 mapcount:0 mapping:ffff8882a8a6be10 index:0x5800 pfn:0x17c000',
    'head:ffffea0005f00000 order:9 entire_mapcount:0 nr_pages_mapped:0 pincount:0',
    'flags: 0x4ffff800004040(reserved|head|node=0|zone=4|lastcpupid=0x1ffff)',
    'raw: 004ffff800004040 ffff888202681520 0000000000000000 ffff8882a8a6be10',
    'page dumped because: VM_BUG_ON_FOLIO(((unsigned int) folio_ref_count(folio) + 127u <= 127))',
    'WARNING: CPU: 1 PID: 1877 at fs/dax.c:384 dax_associate_entry+0x14e/0x170',
    'Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014',
    'Code: 48 89 df e8 5c 2b 01 00 48 8b 43 08 a8 01 0f 85 7b ff ff ff 48 c7 c6 a8 1b a3 82 48 89 df e8 a1 4c fd ff <0f> 0b 48 c7 c6 f0 1b a3 82 48 89 df e8 90 4c fd ff 0f 0b 66 90 90 90 90 90 90 90 90 90',
  ];
  const squeeze = (x: string) => x.replace(/ +/g, ' ');
  for (const l of long) {
    for (const p of ['', ts]) {
      const wrapped = wrap(p + l, 72);
      if (!wrapped.includes('\n')) {
        t.equal(p, '', `${l.slice(0, 20)}... with its time is wrapped`);
        continue;
      }
      t.same(intakeBody(wrapped).lines.map(squeeze), [squeeze(p + l)], `${p ? 'with' : 'without'} time: ${l.slice(0, 30)}`);
    }
  }
});

t.test('lines that were not wrapped stay apart', async (t) => {
  const fill = 'x '.repeat(36).trimEnd(); // sets the wrap width at 72
  const apart = (a: string, b: string) => intakeBody([a, b, fill].join('\n')).lines.length === 3;
  t.ok(apart('WARNING: CPU: 1 PID: 1877 at fs/dax.c:384 dax_associate_entry+0x14e/0x170', 'dax_associate_entry+0x14e/0x170'), 'a frame after a whole WARNING line');
  t.ok(apart('RSP: 0018:ffffc90000f3fb48 EFLAGS: 00010246', 'RAX: 0000000000000000 RBX: ffffea0005f08000 RCX: 0000000000000000'), 'a register line after a whole one');
  t.ok(apart('RAX: 0000000000000000 RBX: ffffea0005f08000', 'RCX: 0000000000000000'), 'the next word would have fitted: not wrapped');
  t.ok(apart('[  216.506149] raw: 004ffff800004040 ffff888202681520 0000000000000000', '[  216.506149] ffff8882a8a6be10'), 'a time-stamped line is always its own');
  t.ok(apart('I see this with dax-ext4.sh, every time, on both of my test machines now', 'and only with the series applied.'), 'prose is left as it is');
});

t.test('a quoted line wrapped without its quote marker', async (t) => {
  const b = intakeBody(['> CPU: 0 PID: 1415 Comm: dax-pmd Tainted: G           OE', 'N 6.6.0+ #209', '> Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS edk2 05/24/2023', '> ' + 'x '.repeat(36)].join('\n'));
  t.equal(b.lines[0], 'CPU: 0 PID: 1415 Comm: dax-pmd Tainted: G           OE N 6.6.0+ #209');
  t.same(b.depth.slice(0, 2), [1, 1]);
});

t.test('a hard (fixed-width) wrap cuts tokens; they are glued back', async (t) => {
  const lines = [
    'RAX: 0000000000000000 RBX: ffffea0005f08000 RCX: 0000000000000000',
    'RDX: 0000000000000001 RSI: ffffffff82a1b3c0 RDI: 00000000ffffffff',
    'RBP: ffff888107a3c2d8 R08: 0000000000000000 R09: ffffc90000f3f9a0',
    'R10: 0000000000000003 R11: ffffffff8366e2a8 R12: 0000000000000200',
  ];
  const cut = lines.flatMap((l) => [l.slice(0, 60), l.slice(60)]).join('\n');
  t.same(intakeBody(cut).lines, lines);
});

t.test('lineShape and startsLine', async (t) => {
  t.equal(lineShape('dax_fault_iter+0x5d0/0x700'), 'complete');
  t.equal(lineShape('dax_fault_iter+0x5d0/'), 'incomplete');
  t.equal(lineShape('ext4_dax_huge_fault+0x1dc/0x470 [ext4'), 'incomplete');
  t.equal(lineShape('head:ffffea0005f00000 order:9 entire_mapcount:0 nr_pages_mapped:0 pincount:0'), 'complete');
  t.equal(lineShape('head:ffffea0005f00000 order:9 entire_mapcount:0'), 'incomplete');
  t.equal(lineShape('raw: 004ffff800004040 ffff888202681520 0000000000000000'), 'incomplete');
  t.equal(lineShape('flags: 0x4ffff800004040(reserved|head|node=0|zone=4|'), 'incomplete');
  t.equal(lineShape('kernel BUG at include/linux/mm.h:1419!'), 'complete');
  t.equal(lineShape('Hello there'), 'unknown');
  t.ok(startsLine('RDX: 0000000000000001 RSI: ffffffff82a1b3c0'));
  t.notOk(startsLine('RCX: 0000000000000000'), 'RCX ends a register line, it never starts one');
  t.notOk(startsLine('at kernel/locking/rwsem.c:1525'));
  t.ok(startsLine('folio_get include/linux/mm.h:1419 [inline]'));
});

t.test('splitMessages', async (t) => {
  t.equal(splitMessages('CPU: 0 PID: 1 Comm: x Not tainted 6.1.0 #1\nRIP: 0010:f+0x1/0x2\n').form, 'console', 'console header lines are not mail headers');
  const one = splitMessages('Subject: crash\nFrom: a@b\nContent-Type: text/plain\n\nbody line\n');
  t.equal(one.form, 'mail');
  t.equal(one.messages[0]!.meta.subject, 'crash');
  t.equal(one.messages[0]!.body, 'body line\n');
  t.equal(one.messages[0]!.bodyLine, 4);
  t.notOk(one.messages[0]!.encoded);
  const mbox = splitMessages(['From mboxrd@z Thu Jan  1 00:00:00 1970', 'Subject: one', '', '>From here on', '', 'From mboxrd@z Thu Jan  1 00:00:00 1970', 'Subject: two', 'Content-Transfer-Encoding: quoted-printable', '', 'x=3D1', ''].join('\n'));
  t.equal(mbox.form, 'mbox');
  t.same(mbox.messages.map((m) => m.meta.subject), ['one', 'two']);
  t.match(mbox.messages[0]!.body, /^From here on/, 'mboxrd escape undone');
  t.ok(mbox.messages[1]!.encoded, 'quoted-printable needs decoding');
});

t.test('decodeWords and syzbotInfo', async (t) => {
  t.equal(decodeWords('=?utf-8?q?J=C3=B6rg_R=C3=B6del?= <j@x>'), 'Jörg Rödel <j@x>');
  t.equal(decodeWords('=?UTF-8?B?V0FSTklORyBpbg==?= dax'), 'WARNING in dax');
  const s = syzbotInfo({ subject: 'Re: [syzbot] [mm?] WARNING in dax_folio_put', from: 'Jan <jack@suse.cz>', date: null, messageId: null, inReplyTo: null }, '> dashboard link: https://syzkaller.appspot.com/bug?extid=5c1d9e8f7a6b5c4d3e2f\n');
  t.equal(s?.title, 'WARNING in dax_folio_put');
  t.equal(s?.extid, '5c1d9e8f7a6b5c4d3e2f', 'found in a quoted reply too');
  t.equal(syzbotInfo({ subject: 'crash', from: 'me', date: null, messageId: null, inReplyTo: null }, 'no bot here'), null);
});

t.test('decodeWords is mailparser\'s decoder: charsets, folding, split multibyte words', async (t) => {
  t.equal(decodeWords('=?iso-8859-2?q?J=F3zef_=A3ukasz?= <j@x>'), 'Józef Łukasz <j@x>', 'latin-2, not read as latin-1');
  t.equal(decodeWords('=?utf-8?b?SsO2?= =?utf-8?b?cmc=?='), 'Jörg', 'adjacent words join without the space');
  t.equal(decodeWords('=?UTF-8?B?w7Y=?=x'), 'öx');
  t.equal(decodeWords('plain [PATCH] dax: x'), 'plain [PATCH] dax: x');
});
