// Mails from outside (a mailed patch series, a crash report as sent) go
// through mailparser only here, with limits: a mail is something a person
// wrote, so one that is huge, has thousands of MIME parts or nests them
// deeply is refused as bad input (exit 2) before the parser spends time and
// memory on it, and whatever the parser itself throws is bad input too, never
// an escaped exception.
import { simpleParser, type ParsedMail } from 'mailparser';
import { InputError } from './errors.ts';

export const MAIL_LIMITS = {
  /** One message, headers and every part. A long patch is a few MiB. */
  bytes: 32 << 20,
  /** MIME parts in one message (mailparser's own default is 1000). */
  parts: 256,
  /** multipart/* containers in one message: real mails nest two or three. */
  multiparts: 32,
  /** Messages in one mbox: a long thread with its replies, and then some. */
  messages: 10000,
} as const;

export class MailInputError extends InputError {}

/** Where a mail breaks the limits, or null. Cheap: counts header lines, parses nothing. */
export function mailLimitProblem(text: string): string | null {
  if (text.length > MAIL_LIMITS.bytes) return `it is over ${MAIL_LIMITS.bytes >> 20} MiB`;
  let parts = 0;
  let multis = 0;
  // Every MIME part has a Content-Type header line (or defaults to text/plain, which costs nothing to parse).
  const re = /^content-type:[ \t]*(multipart\/)?/gim;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (++parts > MAIL_LIMITS.parts) return `it has over ${MAIL_LIMITS.parts} MIME parts`;
    if (m[1] && ++multis > MAIL_LIMITS.multiparts) return `it nests over ${MAIL_LIMITS.multiparts} multipart containers`;
  }
  return null;
}

/**
 * One raw message → mailparser's reading of it. `origin` names the message in
 * errors (file and index). Throws MailInputError for anything it will not read.
 */
export async function parseMail(text: string, origin: string, opts: { skipHtmlToText?: boolean } = {}): Promise<ParsedMail> {
  const problem = mailLimitProblem(text);
  if (problem) throw new MailInputError(`${origin} is not a mail the harness will read: ${problem} — give the patches or the crash report as sent`);
  try {
    return await simpleParser(text, {
      skipHtmlToText: opts.skipHtmlToText ?? true,
      skipTextToHtml: true,
      skipTextLinks: true,
      skipImageLinks: true,
      // Passed on to the MIME splitter: the pre-scan above can be fooled by folded headers, this cannot.
      maxChildNodes: MAIL_LIMITS.parts,
      // HTML past this is not turned into text (the conversion is the slow part of a large HTML mail).
      maxHtmlLengthToParse: 4 << 20,
    } as Parameters<typeof simpleParser>[1]);
  } catch (e) {
    throw new MailInputError(`${origin} is not a mail the harness can read (${String((e as Error)?.message ?? e).split('\n')[0]}) — give the patches or the crash report as sent`);
  }
}
