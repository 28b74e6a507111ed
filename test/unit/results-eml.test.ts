// report.eml: built from a bisection's findings, then read back with
// mailparser (as a mail client would) field by field; a culprit that is a
// mailed patch threads under it; hostile titles, names and ids cannot add a
// header, break a line or smuggle 8-bit bytes into the header block.
import t from 'tap';
import { simpleParser, type AddressObject } from 'mailparser';
import { buildReportMail, crashExcerpt, ratesFromBisect, verifiedText, EXCERPT_LINES, type ReportMailInput } from '../../harness/src/results/reporters/eml.ts';
import { addressHeader, messageIdOf, parseAddress, textHeader } from '../../harness/src/host/mail-header.ts';
import type { BisectRecord, BisectStepRecord, Frame } from '../../harness/src/results/records.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';

const frame = (fn: string, offset: number, file: string | null, line: number | null, section = 'stack'): Frame => ({
  fn, norm: fn, offset, size: 0x430, module: null, reliable: true, inline: false, file, line, section,
});

const crashLines = [
  '[   41.100000] page: refcount:0 mapcount:0 mapping:ffff888100000000 index:0x200 pfn:0x140000',
  '[   41.100001] page dumped because: VM_BUG_ON_FOLIO(folio_ref_count(folio) == 0)',
  '[   41.100002] kernel BUG at include/linux/mm.h:1444!',
  '[   41.100003] RIP: 0010:dax_fault_iter+0x3c1/0x700',
  '[   41.100004] Call Trace:',
  '[   41.100005]  <TASK>',
  '[   41.100006]  dax_iomap_pmd_fault+0x212/0x450',
  '[   41.100007]  ext4_dax_huge_fault+0x1dc/0x470',
];

function input(over: Partial<ReportMailInput> = {}): ReportMailInput {
  return {
    id: '2026-01-04-0a1b2c3d4e5f',
    from: 'Night Runner <runner@example.org>',
    date: new Date(Date.UTC(2026, 0, 4, 7, 5, 9)),
    crash: {
      title: 'kernel BUG in dax_fault_iter',
      lines: crashLines,
      frames: [frame('dax_fault_iter', 0x3c1, 'fs/dax.c', 1790, 'rip'), frame('dax_iomap_pmd_fault', 0x212, 'fs/dax.c', 1902), frame('ext4_dax_huge_fault', 0x1dc, null, null)],
    },
    culprit: { commit: SHA, subject: 'fs/dax: take the folio reference at insert time', author: 'Pat Author <pat@example.com>', link: 'https://lore.kernel.org/r/20260101.1234-1-pat@example.com' },
    maintainers: ['Mia Maintainer <mia@example.net>', 'linux-fsdevel@vger.example.org', 'pat@example.com', 'MIA@example.net'],
    rates: { before: { hits: 0, runs: 18 }, after: { hits: 7, runs: 18 } },
    command: ['dax-harness', 'run', '--source', '/src/linux', '--ref', SHA, '--suite', 'smoke', '--fs', 'ext4'],
    config: [['kernel', '/src/linux at for-next'], ['config', 'defconfig + dax'], ['cell', 'dev.smoke.ext4.default'], ['test', 'mmap[fs=ext4]']],
    bisect: {
      id: 'bisect-20260104',
      status: 'culprit',
      confidence: 0.9981,
      used: { builds: 4, boots: 9, runs: 18 },
      verification: {
        culprit: { step: 'p3', expected: 'bug', verdict: 'bug', ok: true },
        parent: { step: 'p2', expected: 'clean', verdict: 'clean', ok: true },
        leaveOut: { step: null, expected: 'clean', verdict: 'does-not-apply', ok: false },
        agrees: true,
      },
    },
    reportedBy: 'dax-harness <runner@example.org>',
    ...over,
  };
}

const addrs = (a: AddressObject | AddressObject[] | undefined) => (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => ({ name: v.name, address: v.address })));
const headerBlock = (eml: string) => eml.slice(0, eml.indexOf('\n\n'));

t.test('a commit culprit: a new thread, every field read back by a mail parser', async (t) => {
  const m = buildReportMail(input());
  const p = await simpleParser(m.eml);
  t.same(addrs(p.from), [{ name: 'Night Runner', address: 'runner@example.org' }]);
  t.same(addrs(p.to), [{ name: 'Pat Author', address: 'pat@example.com' }], 'To: the culprit author');
  t.same(addrs(p.cc), [{ name: 'Mia Maintainer', address: 'mia@example.net' }, { name: '', address: 'linux-fsdevel@vger.example.org' }], 'Cc: maintainers, each once, the author not again');
  t.equal(p.subject, '[dax-harness] kernel BUG in dax_fault_iter');
  t.equal(p.messageId, '<dax-harness.2026-01-04-0a1b2c3d4e5f@example.org>');
  t.equal(p.inReplyTo, undefined, 'a merged commit gets a thread of its own');
  t.equal(p.date?.toISOString(), '2026-01-04T07:05:09.000Z');
  t.same(m.notes, []);
  const body = p.text ?? '';
  t.match(body, /^title: +kernel BUG in dax_fault_iter$/m);
  t.match(body, /^commit: +0123456789ab \("fs\/dax: take the folio reference at insert time"\)$/m);
  t.match(body, /^author: +Pat Author <pat@example.com>$/m);
  t.match(body, /^link: +https:\/\/lore\.kernel\.org\/r\/20260101\.1234-1-pat@example\.com$/m);
  t.match(body, /^cell: +dev\.smoke\.ext4\.default$/m);
  t.match(body, /^test: +mmap\[fs=ext4\]$/m);
  t.match(body, /^config: +defconfig \+ dax$/m);
  t.match(body, /^bisection: +bisect-20260104: culprit, confidence 0\.998 \(4 builds, 9 boots, 18 runs\)$/m);
  t.match(body, /^verified: +the culprit shows it, its parent does not$/m);
  t.match(body, /without it \(parent\): 0 of 18 runs \(0%\)/);
  t.match(body, /with it: +7 of 18 runs \(39%\)/);
  t.match(body, /^ {2}dax-harness run --source \/src\/linux --ref 0123456789abcdef0123456789abcdef01234567 --suite smoke --fs ext4$/m);
  t.match(body, /^ {2}kernel BUG at include\/linux\/mm\.h:1444!$/m, 'the crash, console timestamps off');
  t.match(body, /^ {4}dax_iomap_pmd_fault\+0x212 {2}fs\/dax\.c:1902$/m, 'the symbolized stack');
  t.match(body, /^Reported-by: dax-harness <runner@example\.org>$/m);
  t.match(body, /^Closes: https:\/\/lore\.kernel\.org\/r\/dax-harness\.2026-01-04-0a1b2c3d4e5f@example\.org$/m, 'Closes: where lore will keep this very mail');
  t.match(body, /^Fixes: 0123456789ab \("fs\/dax: take the folio reference at insert time"\)$/m);
  t.equal((p.headers.get('content-type') as unknown as { params: { charset: string } }).params.charset, 'us-ascii');
  for (const l of m.eml.split('\n')) t.ok(l.length <= (headerBlock(m.eml).includes(l) ? 78 : 998), `line within limits: ${l.slice(0, 40)}`);
});

t.test('verified: the check of the chain that verified it, or why none could', async (t) => {
  const sides = { culprit: { step: 'p3', expected: 'bug' as const, verdict: 'bug' as const, ok: true }, parent: { step: 'p2', expected: 'clean' as const, verdict: 'clean' as const, ok: true } };
  const noApply = { check: 'leave-out' as const, step: 'w3', expected: 'clean' as const, verdict: 'does-not-apply' as const, ok: false, why: 'does not apply' };
  const conflict = { ...noApply, check: 'revert' as const, step: 'r3' };
  const reverted = { ...conflict, verdict: 'clean' as const, ok: true };
  t.equal(
    verifiedText({ ...sides, leaveOut: reverted, agrees: true, by: 'revert', attempts: [noApply, reverted] }),
    'the culprit shows it, its parent does not, reverting it on top of the bad end makes it go away',
  );
  t.equal(verifiedText({ ...sides, leaveOut: { ...reverted, step: 'w3' }, agrees: true, by: 'leave-out', attempts: [] }), 'the culprit shows it, its parent does not, the rest without it does not');
  t.equal(
    verifiedText({ ...sides, leaveOut: conflict, agrees: false, by: null, attempts: [noApply, conflict, { ...noApply, check: 'isolation', step: 'p2', verdict: 'pending' }] }),
    'the culprit shows it, its parent does not; no check could verify it (leave-out: does-not-apply, revert: does-not-apply, isolation: pending)',
  );
  t.equal(verifiedText({ ...sides, leaveOut: { ...reverted, step: 'w3' }, agrees: true }), 'the culprit shows it, its parent does not, the rest without it does not', 'a record from before the chain');
  const m = buildReportMail(input({ bisect: { ...input().bisect!, status: 'unverifiable', verification: { ...sides, leaveOut: conflict, agrees: false, by: null, attempts: [noApply, conflict] } } }));
  t.match(m.eml, /^verified: +the culprit shows it, its parent does not; no check could verify it \(leave-out: does-not-apply, revert: does-not-apply\)$/m);
});

t.test('a mailed patch with a Message-Id: the report replies in its thread', async (t) => {
  const m = buildReportMail(
    input({
      culprit: {
        commit: null,
        subject: 'fs/dax: take the folio reference at insert time',
        mailSubject: '[PATCH v2 2/3] fs/dax: take the folio reference at insert time',
        author: '"Author, Pat" <pat@example.com>',
        messageId: '20260101.1234-3-pat@example.com',
        references: ['<20260101.1234-0-pat@example.com>'],
      },
    }),
  );
  const p = await simpleParser(m.eml);
  t.equal(p.subject, 'Re: [PATCH v2 2/3] fs/dax: take the folio reference at insert time');
  t.equal(p.inReplyTo, '<20260101.1234-3-pat@example.com>');
  t.same(p.references, ['<20260101.1234-0-pat@example.com>', '<20260101.1234-3-pat@example.com>'], 'cover letter, then the patch');
  t.same(addrs(p.to), [{ name: 'Author, Pat', address: 'pat@example.com' }], 'a name with a comma stays one name');
  const body = p.text ?? '';
  t.match(body, /^patch: +\[PATCH v2 2\/3\] fs\/dax: take the folio reference at insert time$/m);
  t.notMatch(body, /^Fixes:/m, 'a patch under review is fixed by its next version, not by a Fixes: tag');
  t.match(body, /^Reported-by: /m);
});

t.test('hostile input: no header added, no line broken, nothing 8-bit in the header block', async (t) => {
  const title = 'BUG: évil\r\nBcc: victim@evil.example\r\n\r\nforged body =?UTF-8?B?SGk=?= ' + 'x'.repeat(120) + ' \u202eright-to-left\u001b[2J';
  const m = buildReportMail(
    input({
      crash: { title, lines: ['line one\r\nTo: more@evil.example', '\u001b]0;retitled\u0007visible'] },
      culprit: {
        commit: null,
        subject: 'subject\nCc: x@evil.example',
        author: 'Zoë "Q" Ünïcode\r\nBcc: a@evil.example <zoe@example.com>',
        messageId: '<bad id>\r\nBcc: b@evil.example',
      },
      maintainers: ['Good One <good@example.org>', 'not an address', 'Evil <x@evil.example>\nBcc: c@evil.example', '"Quote \\" Name" <q@example.org>'],
      command: ['dax-harness', 'run', '--test', "it's; rm -rf /\nnext"],
    }),
  );
  const head = headerBlock(m.eml);
  t.notMatch(head, /^(bcc|cc: x@evil|to: more)/im, 'no header starts where the input had a line break');
  t.notMatch(head, /[^\x00-\x7f]/, 'headers are ASCII (RFC 2047 words for the rest)');
  for (const l of head.split('\n')) t.ok(l.length <= 78, `header line of ${l.length} columns: ${l.slice(0, 30)}`);
  const p = await simpleParser(m.eml);
  t.same([...p.headers.keys()].sort(), ['cc', 'content-transfer-encoding', 'content-type', 'date', 'from', 'message-id', 'mime-version', 'subject', 'to']);
  // The title as one line: controls and escape sequences gone, white space runs one blank; the literal "=?...?=" is text, not decoded.
  t.equal(p.subject, `[dax-harness] BUG: évil Bcc: victim@evil.example forged body =?UTF-8?B?SGk=?= ${'x'.repeat(120)} right-to-left`);
  t.same(addrs(p.to), [{ name: 'Zoë "Q" Ünïcode Bcc: a@evil.example', address: 'zoe@example.com' }], 'the author, name and all, is one address');
  t.same(addrs(p.cc).map((a) => a.address), ['good@example.org', 'q@example.org'], 'entries that are not one clean address are left out');
  t.equal(p.inReplyTo, undefined, 'a malformed Message-Id is not replied to');
  t.match(m.notes.join('\n'), /Message-Id .* is malformed/);
  t.match(m.notes.join('\n'), /"not an address" is not a mail address/);
  const body = p.text ?? '';
  t.notMatch(body, /\u001b|\u202e|\r/, 'no escapes, no bidi override, no CR in the body');
  t.match(body, /^ {2}line one$/m);
  t.match(body, /^ {2}dax-harness run --test 'it'\\''s; rm -rf \/ next'$/m, 'the command quoted for a shell, on one line');
  t.equal((p.headers.get('content-type') as unknown as { params: { charset: string } }).params.charset, 'utf-8');
});

t.test('a sender, reporter or id that is not usable is a caller error', async (t) => {
  t.throws(() => buildReportMail(input({ from: 'nobody' })), /sender "nobody" is not a mail address/);
  t.throws(() => buildReportMail(input({ reportedBy: 'x\ny' })), /Reported-by "x y" is not a mail address/);
  t.throws(() => buildReportMail(input({ id: 'a b' })), /do not make a Message-ID/);
  const none = buildReportMail(input({ culprit: { commit: SHA, subject: 's', author: 'Unknown' }, maintainers: ['list@example.org'] }));
  t.same(none.to.map((a) => a.address), ['list@example.org'], 'no author address: the maintainers are the addressees');
  t.match(none.notes[0]!, /author "Unknown" has no valid mail address/);
});

t.test('the crash excerpt is capped, long lines are cut below the hard limit', async (t) => {
  const lines = Array.from({ length: EXCERPT_LINES + 20 }, (_, i) => `[ 1.${i}] line ${i}`);
  const ex = crashExcerpt({ title: 't', lines });
  t.equal(ex.length, EXCERPT_LINES + 1);
  t.equal(ex.at(-1), "[... 20 more lines in the run's console.log]");
  const m = buildReportMail(input({ crash: { title: 't', lines: ['é'.repeat(2000)] } }));
  for (const l of m.eml.split('\n')) t.ok(Buffer.byteLength(l) <= 998, `${Buffer.byteLength(l)} bytes`);
});

t.test('header pieces on their own', async (t) => {
  t.same(parseAddress('"Last, First" <a.b@example.org>'), { name: 'Last, First', address: 'a.b@example.org' });
  t.same(parseAddress('list@example.org (moderated)'), { name: 'moderated', address: 'list@example.org' });
  t.equal(parseAddress('a@b@c'), null);
  t.equal(parseAddress('<a..b@example.org>'), null);
  t.equal(messageIdOf('abc@example.org'), '<abc@example.org>');
  t.equal(messageIdOf('<a b@example.org>'), null);
  t.equal(messageIdOf('<noat>'), null);
  t.equal(textHeader('Subject', 'plain words'), 'Subject: plain words');
  t.equal(addressHeader('To', [{ name: 'Dr. Who', address: 'who@example.org' }]), 'To: "Dr. Who" <who@example.org>');
  t.throws(() => addressHeader('To', [{ name: null, address: 'x\n@y' }]));
  t.throws(() => textHeader('Bad\nName', 'x'));
});

t.test('rates from a bisection: the culprit and its parent, else the bad end', async (t) => {
  const step = (k: number, runs: number, matching: number): BisectStepRecord =>
    ({ step: `p${k}`, label: '', patch: null, build: { ok: true, failure: null, reason: '', imageHash: 'h', sameKernelAs: null, noop: false }, verdict: 'clean', why: '', runs, passes: runs - matching, matching, rate: null, crashes: [], failures: {}, bootFailures: {}, infra: 0, boots: 1 }) as BisectStepRecord;
  const rec = { culprit: { number: 3, subject: 's', author: 'a', link: null, commit: null }, steps: [step(2, 12, 0), step(3, 10, 4), step(5, 6, 3)], rate: { hits: 3, trials: 6, estimate: 0.5, lower: 0.1, level: 0.95 } } as Pick<BisectRecord, 'culprit' | 'steps' | 'rate'>;
  t.same(ratesFromBisect(rec), { before: { hits: 0, runs: 12 }, after: { hits: 4, runs: 10 } });
  t.same(ratesFromBisect({ ...rec, culprit: null }), { before: null, after: { hits: 3, runs: 6 } }, 'no culprit: the bad end');
});
