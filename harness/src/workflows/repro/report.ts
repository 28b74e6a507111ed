// A crash report as people send it (log, mail, mbox thread, syzbot mail) →
// the crashes in it, each with the message it came from. MIME decoding goes
// through mailparser; everything else is the oracle's intake. No files, no
// guests: the caller hands in the text or a stream.
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { AddressObject } from 'mailparser';
import { MAIL_LIMITS, MailInputError, parseMail } from '../../host/mail.ts';
import type { CrashReport } from '../../results/records.ts';
import { parseLog, parseLines } from '../../oracle/index.ts';
import { splitMessages, intakeBody, intakeMessage, type IntakeForm, type IntakeMessage, type MailMeta, type RawMessage } from '../../oracle/index.ts';

/** Where a crash was found in the input. */
export interface CrashSource {
  /** Message index in the input (0 for a plain log or a single mail). */
  message: number;
  subject: string | null;
  from: string | null;
  date: string | null;
  messageId: string | null;
  /** Quote depth of the report's first line: 0 when the sender pasted it, more when it is quoted from an earlier mail. */
  depth: number;
}

export interface FoundCrash {
  report: CrashReport;
  source: CrashSource;
}

export interface ReportInput {
  form: IntakeForm;
  /** The messages without their lines (what was undone is in stats). */
  messages: Array<Omit<IntakeMessage, 'lines' | 'origin' | 'depth'>>;
  /** Every crash, message by message, in input order. */
  crashes: FoundCrash[];
  /** The text of each message's body as the oracle saw it (for test names and other facts). */
  texts: string[];
}

/** Decode one mail with mailparser: the text parts and text attachments, in order. */
async function decodeMail(m: RawMessage, index: number): Promise<{ meta: MailMeta; body: string }> {
  const p = await parseMail(m.text, `message ${index + 1}${m.meta.subject ? ` (${m.meta.subject.slice(0, 60)})` : ''}`, { skipHtmlToText: false });
  const parts: string[] = [];
  if (p.text) parts.push(p.text);
  for (const a of p.attachments ?? []) {
    // Console logs travel as attachments (dmesg.txt, console.log): read every text one.
    if (/^text\/(?!html)/.test(a.contentType) || /\.(?:txt|log)$/i.test(a.filename ?? '')) parts.push(a.content.toString('utf8'));
  }
  const meta: MailMeta = {
    subject: p.subject ?? m.meta.subject,
    from: address(p.from) ?? m.meta.from,
    date: p.date ? p.date.toISOString() : m.meta.date,
    messageId: p.messageId ?? m.meta.messageId,
    inReplyTo: p.inReplyTo ?? m.meta.inReplyTo,
  };
  return { meta, body: parts.join('\n') };
}

function address(a: AddressObject | AddressObject[] | undefined): string | null {
  const v = (Array.isArray(a) ? a[0] : a)?.value[0];
  if (!v) return null;
  return v.name ? `${v.name} <${v.address ?? ''}>` : (v.address ?? null);
}

function sourceOf(msg: IntakeMessage, depth: number): CrashSource {
  const meta = msg.meta;
  return { message: msg.index, subject: meta?.subject ?? null, from: meta?.from ?? null, date: meta?.date ?? null, messageId: meta?.messageId ?? null, depth };
}

/** Reports of one message, with line numbers pointing into the input where that is known. */
function crashesOf(msg: IntakeMessage): FoundCrash[] {
  return parseLog(msg.lines.join('\n')).map((r) => {
    const depth = msg.depth[r.startLine] ?? 0;
    const at = (i: number) => (msg.bodyLine ?? 0) + (msg.origin[i] ?? i);
    return { report: { ...r, startLine: at(r.startLine), endLine: at(r.endLine) }, source: sourceOf(msg, depth) };
  });
}

/** Everything in a report text: its form, its messages and the crashes in each. */
export async function readReport(text: string): Promise<ReportInput> {
  const { form, messages } = splitMessages(text);
  // Each mail may go through mailparser (about 0.1 ms each, and memory): a thread is hundreds, an archive is not a report.
  if (messages.length > MAIL_LIMITS.messages) throw new MailInputError(`the input holds ${messages.length} mails, over the ${MAIL_LIMITS.messages} a report or thread may have — give the thread with the crash, or the console log`);
  const intaken: IntakeMessage[] = [];
  const texts: string[] = [];
  if (form === 'console') {
    intaken.push({ index: 0, meta: null, syzbot: null, bodyLine: 0, ...intakeBody(text) });
    texts.push(text);
  } else {
    for (const [i, m] of messages.entries()) {
      if (!m.encoded) {
        intaken.push(intakeMessage(m, i, m.body, m.bodyLine));
        texts.push(m.body);
        continue;
      }
      const d = await decodeMail(m, i);
      intaken.push(intakeMessage({ meta: d.meta }, i, d.body, null));
      texts.push(d.body);
    }
  }
  return {
    form,
    messages: intaken.map(({ lines: _l, origin: _o, depth: _d, ...rest }) => rest),
    crashes: intaken.flatMap(crashesOf),
    texts,
  };
}

/** The crashes of a report, with their source attached to each record (for parse-log's output). */
function withSources(input: ReportInput): CrashReport[] {
  const many = input.form !== 'console';
  return input.crashes.map((c) => (many ? { ...c.report, source: c.source } : c.report));
}

/**
 * Inputs larger than this are console logs nobody mailed: they are streamed,
 * not read whole. Intake holds about 15 bytes per input byte at its peak
 * (42 MB: 650 MB resident), so the limit keeps a parse-log under ~250 MB.
 */
export const WHOLE_INPUT_LIMIT = 16 << 20;

/**
 * Reports in a stream: read whole (and taken through intake) when it is small
 * enough to be something people send; otherwise streamed line by line as a
 * raw console log, with flat memory.
 */
export async function reportsFromStream(input: Readable, limit = WHOLE_INPUT_LIMIT): Promise<CrashReport[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  for (;;) {
    const n = await it.next();
    if (n.done) return withSources(await readReport(Buffer.concat(chunks).toString('utf8')));
    const b = typeof n.value === 'string' ? Buffer.from(n.value) : n.value;
    chunks.push(b);
    size += b.length;
    if (size > limit) break;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield* chunks;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield typeof n.value === 'string' ? Buffer.from(n.value) : n.value;
    }
  }
  return parseLines(createInterface({ input: Readable.from(rest()), crlfDelay: Infinity }));
}
