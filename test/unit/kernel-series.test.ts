import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../harness/src/host/paths.js';
import {
  findHunk,
  loadSeries,
  parseAmFailure,
  parseMails,
  parseSubject,
  selectSeries,
  splitMbox,
} from '../../harness/src/kernel/series.js';
import { SeriesError } from '../../harness/src/kernel/errors.js';

const fixtures = join(repoRoot, 'patches', 'fixtures');

/** A format-patch style mail; `n`/`total` null gives an unnumbered [PATCH]. */
function mail(o: { subject: string; id?: string; date?: string; body?: string; diff?: boolean; from?: string }): string {
  const diff = o.diff === false ? '' : `---\n fs/dax.c | 1 +\n\ndiff --git a/fs/dax.c b/fs/dax.c\nindex 1111111..2222222 100644\n--- a/fs/dax.c\n+++ b/fs/dax.c\n@@ -10,3 +10,4 @@ static int x;\n a\n \n+b ${o.subject}\n c\n`;
  return [
    `From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001`,
    `From: ${o.from ?? 'A Developer <a@example.org>'}`,
    `Date: ${o.date ?? 'Thu, 2 Jan 2025 10:00:00 +0000'}`,
    ...(o.id ? [`Message-Id: <${o.id}>`] : []),
    `Subject: ${o.subject}`,
    '',
    o.body ?? 'Commit message.\n\nSigned-off-by: A Developer <a@example.org>',
    diff,
    '-- ',
    '2.39.5',
    '',
  ].join('\n');
}

async function select(mbox: string, name = 'test.mbox') {
  const raws = splitMbox(mbox).map((text, i) => ({ origin: `${name}#${i + 1}`, text }));
  return selectSeries(await parseMails(raws), name);
}

t.test('parseSubject understands the usual prefixes', async (t) => {
  t.match(parseSubject('[PATCH v3 02/10] mm: fix it'), { version: 3, number: 2, total: 10, title: 'mm: fix it', tagged: true, isReply: false });
  t.match(parseSubject('[RFC PATCH net-next v2 1/3] net: x'), { version: 2, number: 1, total: 3, title: 'net: x' });
  t.match(parseSubject('[PATCHv4 1/2] dax: y'), { version: 4, number: 1, title: 'dax: y' });
  t.match(parseSubject('[PATCH] single'), { version: 1, number: null, total: null, title: 'single' });
  t.match(parseSubject('Re: [PATCH 1/2] dax: y'), { isReply: true, number: 1 });
  t.match(parseSubject('[PATCH 0/5] cover'), { number: 0, total: 5 });
  t.match(parseSubject('[PATCH v2 1/2]\n dax: folded\n subject'), { title: 'dax: folded subject' });
});

t.test('the fixture mbox: cover letter skipped, two patches, base-commit', async (t) => {
  const s = await loadSeries(join(fixtures, 'dax-fixture.mbox'));
  t.equal(s.patches.length, 2);
  t.same(s.patches.map((p) => p.number), [1, 2]);
  t.match(s.patches[0]!.title, /^dax: announce the wait table at boot/);
  t.match(s.patches[1]!.title, /^dax: add a read-only fixture marker parameter/);
  t.equal(s.cover?.title, 'dax-harness fixture series');
  t.equal(s.baseCommit, '639284df4128abf014e4fcec3ddd2ff2cd6c74d8');
  // Whitespace-only context lines must survive MIME parsing, or git am fails.
  t.match(s.patches[0]!.mail, /\n \n/);
  t.match(s.patches[0]!.mail, /^From: dax-harness <dax-harness@example\.invalid>$/m);
});

t.test('a directory of format-patch files is the same series as the mbox', async (t) => {
  const dir = await loadSeries(join(fixtures, 'dax-fixture'));
  const mbox = await loadSeries(join(fixtures, 'dax-fixture.mbox'));
  t.equal(dir.hash, mbox.hash);
  t.equal(dir.patches.length, 2);
});

t.test('out-of-order mails are put in M/N order', async (t) => {
  const s = await select([
    mail({ subject: '[PATCH 3/3] three', id: 'c@x' }),
    mail({ subject: '[PATCH 1/3] one', id: 'a@x' }),
    mail({ subject: '[PATCH 0/3] cover', id: 'z@x', diff: false }),
    mail({ subject: '[PATCH 2/3] two', id: 'b@x' }),
  ].join('\n'));
  t.same(s.patches.map((p) => p.title), ['one', 'two', 'three']);
  t.equal(s.cover?.title, 'cover');
});

t.test('the newest version wins when an mbox holds several', async (t) => {
  const s = await select([
    mail({ subject: '[PATCH 1/2] old one', id: 'v1a@x' }),
    mail({ subject: '[PATCH v3 2/2] new two', id: 'v3b@x' }),
    mail({ subject: '[PATCH 2/2] old two', id: 'v1b@x' }),
    mail({ subject: '[PATCH v2 1/2] mid one', id: 'v2a@x' }),
    mail({ subject: '[PATCH v3 1/2] new one', id: 'v3a@x' }),
    mail({ subject: '[PATCH v2 2/2] mid two', id: 'v2b@x' }),
  ].join('\n'));
  t.equal(s.version, 3);
  t.same(s.patches.map((p) => p.title), ['new one', 'new two']);
  t.ok(s.notes.some((n) => /using v3; ignored v1, v2/.test(n)));
});

t.test('duplicate Message-IDs are dropped', async (t) => {
  const one = mail({ subject: '[PATCH 1/2] one', id: 'a@x' });
  const s = await select([one, one, mail({ subject: '[PATCH 2/2] two', id: 'b@x' }), one].join('\n'));
  t.same(s.patches.map((p) => p.title), ['one', 'two']);
  t.equal(s.notes.filter((n) => /duplicate/.test(n)).length, 2);
});

t.test('a resend of the same slot keeps the later mail', async (t) => {
  const s = await select([
    mail({ subject: '[PATCH 1/1] first try', id: 'a@x', date: 'Thu, 2 Jan 2025 10:00:00 +0000' }),
    mail({ subject: '[PATCH 1/1] resent', id: 'b@x', date: 'Fri, 3 Jan 2025 10:00:00 +0000' }),
  ].join('\n'));
  t.same(s.patches.map((p) => p.title), ['resent']);
});

t.test('CRLF mailboxes give the same series as LF ones', async (t) => {
  const lf = [mail({ subject: '[PATCH 1/2] one', id: 'a@x' }), mail({ subject: '[PATCH 2/2] two', id: 'b@x' })].join('\n');
  const a = await select(lf);
  const b = await select(lf.replace(/\n/g, '\r\n'));
  t.equal(b.hash, a.hash);
  t.notMatch(b.patches[0]!.mail, /\r/);
});

t.test('replies quoting a patch are not patches', async (t) => {
  const s = await select([
    mail({ subject: '[PATCH 1/1] one', id: 'a@x' }),
    mail({ subject: 'Re: [PATCH 1/1] one', id: 'r@x', body: '> quoted\n\nLooks fine.' }),
  ].join('\n'));
  t.same(s.patches.map((p) => p.title), ['one']);
});

t.test('an mbox with no patches is an error that says so', async (t) => {
  await t.rejects(select(mail({ subject: '[PATCH 0/2] only a cover', id: 'c@x', diff: false })), SeriesError);
  await t.rejects(select(mail({ subject: '[PATCH 0/2] only a cover', id: 'c@x', diff: false })), { message: /holds no patches/ });
});

t.test('a missing patch of the chosen version is named', async (t) => {
  await t.rejects(
    select([mail({ subject: '[PATCH v2 1/3] one', id: 'a@x' }), mail({ subject: '[PATCH v2 3/3] three', id: 'c@x' })].join('\n')),
    { message: /v2 is missing patch\(es\) 2\/3/ },
  );
});

t.test('quoted-printable bodies are decoded (mailparser)', async (t) => {
  const qp = [
    'From nobody Thu Jan  2 10:00:00 2025',
    'From: A <a@example.org>',
    'Message-Id: <qp@x>',
    'Subject: [PATCH] qp',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Body.',
    '---',
    'diff --git a/fs/dax.c b/fs/dax.c',
    '--- a/fs/dax.c',
    '+++ b/fs/dax.c',
    '@@ -1,1 +1,1 @@',
    '-int x =3D 1;',
    '+int x =3D 2; /* a very long line that a mail client soft-wrapped here =',
    'and continued */',
    '',
  ].join('\n');
  const s = await select(qp);
  t.match(s.patches[0]!.mail, /^\+int x = 2; \/\* a very long line that a mail client soft-wrapped here and continued \*\/$/m);
});

t.test('mboxrd ">From " escapes are undone inside bodies', async (t) => {
  const m = mail({ subject: '[PATCH] x', id: 'a@x', body: 'Line one.\n\n>From here on it is different.' });
  const parts = splitMbox(m);
  t.equal(parts.length, 1);
  t.match(parts[0]!, /^From here on/m);
});

t.test('git am failures are traced to patch, file and hunk', async (t) => {
  const out = [
    'Applying: dax: announce the wait table at boot',
    'Applying: dax: grow the wait table',
    'error: patch failed: fs/dax.c:42',
    'error: fs/dax.c: patch does not apply',
    'Patch failed at 0002 dax: grow the wait table',
  ].join('\n');
  t.same(parseAmFailure(out), { index: 2, file: 'fs/dax.c', line: 42 });
  const s = await loadSeries(join(fixtures, 'does-not-apply.mbox'));
  t.equal(s.patches.length, 2);
  const bad = s.patches[1]!;
  const hunkLine = Number(/^@@ -(\d+)/m.exec(bad.mail)![1]);
  t.match(findHunk(bad.mail, 'fs/dax.c', hunkLine), /^#1 @@ -\d+,\d+ \+\d+,\d+ @@/);
  t.equal(parseAmFailure('error: fs/nope.c: does not exist in index\nPatch failed at 0001 x').file, 'fs/nope.c');
});

t.test('a bare diff file (no mail headers) is taken with its file name as subject', async (t) => {
  const body = 'diff --git a/fs/dax.c b/fs/dax.c\n--- a/fs/dax.c\n+++ b/fs/dax.c\n@@ -1,1 +1,1 @@\n-a\n+b\n';
  const s = selectSeries(await parseMails([{ origin: '0001-fix-thing.patch', text: body }]), 'dir');
  t.equal(s.patches[0]!.title, 'fix-thing');
});

t.test('fixture files are read as shipped', async (t) => {
  const text = await readFile(join(fixtures, 'dax-fixture.mbox'), 'utf8');
  t.equal(splitMbox(text).length, 3);
});

t.test('a b4 am -o directory: the .mbx series and its .cover letter', async (t) => {
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'daxh-b4-'));
  await writeFile(join(dir, 'v2_20250102_a_dax_fixes.cover'), mail({ subject: '[PATCH v2 0/2] dax fixes', id: 'cover@x', diff: false, body: 'Two fixes.' }));
  await writeFile(join(dir, 'v2_20250102_a_dax_fixes.mbx'), mail({ subject: '[PATCH v2 1/2] dax: one', id: 'p1@x' }) + '\n' + mail({ subject: '[PATCH v2 2/2] dax: two', id: 'p2@x' }));
  const s = await loadSeries(dir);
  t.same(s.patches.map((p) => p.title), ['dax: one', 'dax: two'], 'the .mbx patches, in order');
  t.equal(s.cover?.title, 'dax fixes', 'the .cover file is the cover letter');
});

t.test('b4 am -o as b4 writes it: git-am mbox (unquoted From lines, decoded headers) and a bare .cover', async (t) => {
  const dir = join(fixtures, 'b4-am');
  const s = await loadSeries(dir);
  t.same(s.patches.map((p) => p.title), ['dax: check the entry size before a PMD insert', 'dax: keep the entry locked across the fault retry']);
  t.same(s.patches.map((p) => `${p.number}/${p.total} v${p.version}`), ['1/2 v2', '2/2 v2']);
  t.equal(s.patches[0]!.from, 'Jörg Rödel <jrodel@example.org>', 'b4 writes headers decoded (raw UTF-8)');
  t.match(s.patches[1]!.mail, /\n>From the report: the WARN fires only with two faulting threads\.\n/, 'a body line starting "From " stays in its patch (quoted for git am)');
  t.equal(s.cover?.title, 'dax: fixes for PMD faults', 'the .cover file (no From_ line) is the cover letter');
  t.equal(s.cover?.messageId, '<20250114-dax-pmd-v2-0-1f2e3d4c5b6a@example.org>');
  t.equal(s.baseCommit, '639284df4128abf014e4fcec3ddd2ff2cd6c74d8');
  t.same(s.prerequisites, ['8d2e1c3b4a5f60718293a4b5c6d7e8f901234567', '0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6']);
  t.match(s.notes.join('\n'), /2 prerequisite patch\(es\)/);
  t.notOk(s.notes.some((n) => /ignored|dropped|skipped/.test(n)), s.notes.join('; '));
});
