// Mail headers the harness writes (report.eml) from text it did not write: a
// crash title from a guest, a patch subject and author names from a mail or a
// commit. A CR or LF in such text would end the header and start another (a
// Bcc: of the attacker's choosing, or a body of theirs), and 8-bit bytes in a
// header are not mail. So every value here is flattened to one line, encoded
// as RFC 2047 words where it is not plain ASCII (or could be read as an
// encoded word already), and folded at 78 columns. Addresses and message ids
// are checked against a strict form and refused otherwise, never repaired.
// Pure.
import { lineForTerminal } from './terminal.ts';

export interface MailAddress {
  /** Display name, or null for a bare address. */
  name: string | null;
  address: string;
}

/** RFC 5322 says a line SHOULD stay within 78 characters; everything here does. */
export const HEADER_WIDTH = 78;
/**
 * The longest plain word or encoded word put on a line: with the longest
 * header name written here ("In-Reply-To: ") it still fits the first line.
 */
const WORD_MAX = 60;
/** UTF-8 bytes per encoded word: base64 of 36 bytes is 48 characters, 60 with =?UTF-8?B? and ?=. */
const WORD_BYTES = 36;

const ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** One line of printable text: controls, escape sequences and bidi overrides gone, runs of white space one blank. */
export function oneLine(text: string): string {
  return lineForTerminal(text.replace(/[\r\n\t\f\v]+/g, ' ')).replace(/\s+/g, ' ').trim();
}

/** An addr-spec a mail system takes as it is: dot-atom local part, a host name, at most 254 characters. */
export function isAddress(addr: string): boolean {
  const at = addr.lastIndexOf('@');
  if (at <= 0 || addr.length > 254) return false;
  return DOT_ATOM.test(addr.slice(0, at)) && at <= 64 && DOMAIN.test(addr.slice(at + 1));
}

/**
 * "Name <a@b>", "\"Last, First\" <a@b>", "a@b" or "a@b (Name)" → the address
 * and its name; null when there is no valid address in it. The name is kept
 * as written (quotes undone), for the header writer to encode.
 */
export function parseAddress(text: string): MailAddress | null {
  const s = text.trim();
  const angle = /^(.*?)\s*<([^<>\s]+)>$/.exec(s);
  if (angle) {
    const address = angle[2]!;
    if (!isAddress(address)) return null;
    let name = angle[1]!.trim();
    if (/^".*"$/.test(name)) name = name.slice(1, -1).replace(/\\(.)/g, '$1');
    name = oneLine(name);
    return { name: name || null, address };
  }
  const bare = /^(\S+)(?:\s+\((.*)\))?$/.exec(s);
  if (!bare || !isAddress(bare[1]!)) return null;
  const name = bare[2] ? oneLine(bare[2]) : '';
  return { name: name || null, address: bare[1]! };
}

/** `<left@right>` for a message id given with or without brackets; null when it is not one. */
export function messageIdOf(text: string | null | undefined): string | null {
  if (!text) return null;
  const m = /^<?([^<>\s]+)>?$/.exec(text.trim());
  if (!m || m[1]!.length > 250) return null;
  const at = m[1]!.lastIndexOf('@');
  if (at <= 0) return null;
  const [left, right] = [m[1]!.slice(0, at), m[1]!.slice(at + 1)];
  return DOT_ATOM.test(left) && (DOT_ATOM.test(right) || /^\[[\x21-\x5a\x5e-\x7e]*\]$/.test(right)) ? `<${m[1]}>` : null;
}

/** Words that cannot stand in a header as they are: 8-bit text, something a decoder would take for an encoded word, a word too long to fold. */
const needsEncoding = (word: string) => /[^\x20-\x7e]/.test(word) || word.includes('=?') || word.length > WORD_MAX;

/** `text` as encoded words of at most WORD_BYTES bytes each, never splitting a character. */
function encodedWords(text: string): string[] {
  const out: string[] = [];
  let chunk = '';
  for (const ch of text) {
    if (Buffer.byteLength(chunk + ch) > WORD_BYTES) {
      out.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) out.push(chunk);
  return out.map((c) => `=?UTF-8?B?${Buffer.from(c, 'utf8').toString('base64')}?=`);
}

/**
 * Free text as header words: plain words as they are, and the stretch from the
 * first word that needs encoding to the last one encoded as a whole (the
 * blanks inside it included, since a decoder drops the white space between
 * two encoded words).
 */
function textWords(text: string): string[] {
  const words = text.split(' ').filter(Boolean);
  const first = words.findIndex(needsEncoding);
  if (first < 0) return words;
  const last = words.length - 1 - [...words].reverse().findIndex(needsEncoding);
  return [...words.slice(0, first), ...encodedWords(words.slice(first, last + 1).join(' ')), ...words.slice(last + 1)];
}

/** `Name: value` folded at blanks so that no line is wider than HEADER_WIDTH (words are at most WORD_MAX). */
function fold(name: string, words: string[]): string {
  const lines: string[] = [];
  let line = `${name}:`;
  for (const w of words) {
    if (line.length + 1 + w.length > HEADER_WIDTH && line !== `${name}:`) {
      lines.push(line);
      line = '';
    }
    line += ` ${w}`;
  }
  lines.push(line);
  return lines.join('\n');
}

const HEADER_NAME = /^[A-Za-z][A-Za-z0-9-]*$/;

/** An unstructured header (Subject, or an X- header) from any text: one line, encoded where needed, folded. */
export function textHeader(name: string, value: string): string {
  if (!HEADER_NAME.test(name)) throw new Error(`not a header name: ${JSON.stringify(name)}`);
  return fold(name, textWords(oneLine(value)));
}

/** A display name as a phrase: atoms as they are, a quoted string when it has specials, encoded words when it is not ASCII. */
function phraseWords(name: string): string[] {
  const words = name.split(' ').filter(Boolean);
  if (words.some(needsEncoding)) return encodedWords(words.join(' '));
  if (words.every((w) => ATOM.test(w))) return words;
  const quoted = `"${name.replace(/(["\\])/g, '\\$1')}"`;
  return quoted.length <= WORD_MAX ? [quoted] : encodedWords(name);
}

/** One address as header words, its last word carrying the separator. */
function addressWords(a: MailAddress, last: boolean): string[] {
  const name = a.name ? oneLine(a.name) : '';
  const words = name ? [...phraseWords(name), `<${a.address}>`] : [a.address];
  if (!last) words[words.length - 1] += ',';
  return words;
}

/** To:, Cc: and the like; every address must have passed isAddress. */
export function addressHeader(name: string, list: MailAddress[]): string {
  if (!HEADER_NAME.test(name)) throw new Error(`not a header name: ${JSON.stringify(name)}`);
  for (const a of list) if (!isAddress(a.address)) throw new Error(`not an address: ${JSON.stringify(a.address)}`);
  return fold(name, list.flatMap((a, i) => addressWords(a, i === list.length - 1)));
}

/** In-Reply-To:, References:, Message-ID: from ids that passed messageIdOf. */
export function idHeader(name: string, ids: string[]): string {
  if (!HEADER_NAME.test(name)) throw new Error(`not a header name: ${JSON.stringify(name)}`);
  for (const id of ids) if (messageIdOf(id) !== id) throw new Error(`not a message id: ${JSON.stringify(id)}`);
  // An id cannot be folded inside; one to a line is the most a long one can be helped.
  return `${name}: ${ids.join('\n ')}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date-time in UTC, e.g. "Thu, 24 Oct 2024 23:52:50 +0000". */
export function mailDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
