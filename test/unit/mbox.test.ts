// The one mbox splitter that a mailed series and a crash report both go through.
import t from 'tap';
import { mboxMessages, mboxStarts } from '../../harness/src/host/mbox.ts';
import { splitMbox } from '../../harness/src/kernel/series.ts';
import { splitMessages } from '../../harness/src/oracle/intake.ts';

const mbox = [
  'From alice@example.org Thu Jan  2 10:00:00 2025',
  'From: Alice <alice@example.org>',
  'Subject: one',
  '',
  'body one',
  '>From the start, quoted by mboxrd',
  'From the middle of a paragraph: no blank line before, no new message',
  '',
  'From bob@example.org Thu Jan  2 11:00:00 2025',
  'Subject: two',
  '',
  'body two',
];

t.test('starts: a From_ line first or after a blank line', async (t) => {
  t.same(mboxStarts(mbox), [0, 8]);
  t.same(mboxStarts(mbox, { accept: (i) => mbox[i + 1]!.startsWith('From: ') }), [0], 'accept can ask for more (the intake: a header block)');
  t.same(mboxStarts(['x', 'From - ', 'From -']), [], 'not after a blank line, or not a From_ line');
});

t.test('messages: lines up to the next start, mboxrd quoting undone', async (t) => {
  const m = mboxMessages(mbox, mboxStarts(mbox));
  t.same(m.map((x) => x.start), [1, 9]);
  t.equal(m[0]!.lines[4], 'From the start, quoted by mboxrd');
  t.equal(m[1]!.lines.at(-1), 'body two');
});

t.test('the series and the intake split the same mbox the same way', async (t) => {
  const text = mbox.join('\n');
  t.equal(splitMbox(text).length, 2);
  const intake = splitMessages(text);
  t.equal(intake.form, 'mbox');
  t.equal(intake.messages.length, 2);
  t.same(splitMbox('no From_ line at all\n'), ['no From_ line at all\n'], 'a single mail without a From_ line is one message');
  t.equal(splitMessages('From a log line that is no mail\n[ 1.0] BUG: x\n').form, 'console', 'the intake wants headers after From_');
});
