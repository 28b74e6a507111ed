// Report intake: the text people send about a crash, turned back into the console
// lines the oracle parses. People paste logs into mails indented, quote them one
// or several levels deep, let their mail client wrap them at 72-80 columns, keep
// or drop printk times, copy them out of syslog or the journal, and send whole
// lore threads. Everything here is pure and synchronous; decoding MIME
// (quoted-printable, base64, multipart) is the caller's, who hands the decoded
// bodies back to intakeBody().
import { MBOX_FROM, mboxMessages, mboxStarts } from '../host/mbox.ts';
// From their modules, not index.ts: index.ts re-exports this file.
import { matchStart } from './patterns.js';
import { normaliseLine } from './lines.js';
import libmime from 'libmime';

export type IntakeForm = 'console' | 'mail' | 'mbox';

export interface MailMeta {
  subject: string | null;
  from: string | null;
  date: string | null;
  messageId: string | null;
  inReplyTo: string | null;
}

/** One message of the input as found, before its body is decoded. */
export interface RawMessage {
  meta: MailMeta;
  /** Lower-cased header names, unfolded values (the last one wins). */
  headers: Record<string, string>;
  /** The message as it appeared in the input (headers + body, mbox From_ line dropped, mboxrd unescaped). */
  text: string;
  /** The body as it appeared in the input: still encoded when `encoded`. */
  body: string;
  /** Zero-based line of the input where the body starts. */
  bodyLine: number;
  /** True when the body needs MIME decoding before intake (multipart, quoted-printable, base64, flowed, HTML). */
  encoded: boolean;
}

/** What syzbot's report mails say about the bug, beside the report itself. */
export interface SyzbotInfo {
  /** syzbot's own title (from the subject, tags removed). */
  title: string | null;
  extid: string | null;
  dashboard: string | null;
  headCommit: string | null;
  gitTree: string | null;
  consoleLog: string | null;
  kernelConfig: string | null;
  reproducerC: string | null;
  reproducerSyz: string | null;
}

export interface IntakeStats {
  /** Physical lines the input had. */
  physical: number;
  /** Lines that were continuations of the previous one and were joined back. */
  joined: number;
  /** Lines that carried a quote prefix, and the deepest level seen. */
  quoted: number;
  maxDepth: number;
  /** Lines from which a paste indentation was removed. */
  unindented: number;
  /** Lines from which a syslog/journal prefix was removed. */
  syslog: number;
}

/** The console lines of one body, ready for the oracle. */
export interface IntakeBody {
  lines: string[];
  /** For each output line: the zero-based body line it started on. */
  origin: number[];
  /** For each output line: how deeply it was quoted (0: the sender's own text). */
  depth: number[];
  stats: IntakeStats;
}

export interface IntakeMessage extends IntakeBody {
  /** Position in the input (0 for a single mail or a plain log). */
  index: number;
  meta: MailMeta | null;
  syzbot: SyzbotInfo | null;
  /** Zero-based input line where this message's body starts; null when decoding moved lines about. */
  bodyLine: number | null;
}

export interface IntakeResult {
  form: IntakeForm;
  messages: IntakeMessage[];
}

// ------------------------------------------------------------- messages ---

const MAIL_HEADER_NAMES = new Set(['from', 'to', 'cc', 'subject', 'date', 'message-id', 'in-reply-to', 'references', 'received', 'return-path', 'mime-version', 'content-type', 'delivered-to', 'reply-to', 'sender', 'list-id', 'user-agent']);
const HEADER_RE = /^([A-Za-z][A-Za-z0-9_-]*):[ \t]?(.*)$/;

/** Split the input into mail messages: an mbox (From_ lines), one mail (headers first), or none (a log). */
export function splitMessages(text: string): { form: IntakeForm; messages: RawMessage[] } {
  const lines = normaliseNewlines(text).split('\n');
  let first = 0;
  while (first < lines.length && lines[first]!.trim() === '') first++;
  if (first < lines.length && MBOX_FROM.test(lines[first]!) && headerBlockAt(lines, first + 1) > 0) {
    const starts = mboxStarts(lines, { from: first, accept: (i) => headerBlockAt(lines, i + 1) > 0 });
    return { form: 'mbox', messages: mboxMessages(lines, starts).map((m) => rawMessage(m.lines, m.start)) };
  }
  if (first < lines.length && headerBlockAt(lines, first) > 0) return { form: 'mail', messages: [rawMessage(lines.slice(first), first)] };
  return { form: 'console', messages: [] };
}

/** Number of header lines starting at `at` when they form a mail header block, else 0. */
function headerBlockAt(lines: readonly string[], at: number): number {
  let i = at;
  let known = 0;
  for (; i < lines.length; i++) {
    const l = lines[i]!;
    if (l === '') break;
    if (/^[ \t]/.test(l) && i > at) continue;
    const m = HEADER_RE.exec(l);
    if (!m) return 0;
    if (MAIL_HEADER_NAMES.has(m[1]!.toLowerCase())) known++;
  }
  // A console log may start with "CPU: 0 PID: ..." or "RIP: ...": those are not mail headers.
  return known > 0 && i > at ? i - at : 0;
}

function rawMessage(lines: string[], startLine: number): RawMessage {
  const n = headerBlockAt(lines, 0);
  const headers: Record<string, string> = {};
  let last: string | null = null;
  for (let i = 0; i < n; i++) {
    const l = lines[i]!;
    if (/^[ \t]/.test(l) && last) {
      headers[last] += ' ' + l.trim();
      continue;
    }
    const m = HEADER_RE.exec(l)!;
    last = m[1]!.toLowerCase();
    headers[last] = m[2]!.trim();
  }
  const body = lines.slice(n + 1).join('\n');
  const ctype = (headers['content-type'] ?? '').toLowerCase();
  const cte = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  const encoded = /^multipart\//.test(ctype) || /text\/html/.test(ctype) || /format=flowed/.test(ctype) || /quoted-printable|base64/.test(cte);
  return {
    meta: {
      subject: headers.subject !== undefined ? decodeWords(headers.subject) : null,
      from: headers.from !== undefined ? decodeWords(headers.from) : null,
      date: headers.date ?? null,
      messageId: headers['message-id'] ?? null,
      inReplyTo: headers['in-reply-to'] ?? null,
    },
    headers,
    text: lines.join('\n'),
    body,
    bodyLine: startLine + n + 1,
    encoded,
  };
}

/**
 * RFC 2047 encoded words (=?utf-8?q?...?= / =?iso-8859-1?b?...?=) in a header
 * value, decoded by libmime: the decoder mailparser uses for a mailed series,
 * so a subject reads the same in both (any charset iconv-lite knows).
 */
export function decodeWords(v: string): string {
  try {
    return libmime.decodeWords(v);
  } catch {
    return v;
  }
}

const SYZBOT_FIELDS: Array<[keyof SyzbotInfo, RegExp]> = [
  ['headCommit', /^HEAD commit:\s+(\S+)/m],
  ['gitTree', /^git tree:\s+(.+)$/m],
  ['consoleLog', /^console output:\s+(\S+)/m],
  ['kernelConfig', /^kernel config:\s+(\S+)/m],
  ['dashboard', /^dashboard link:\s+(\S+)/m],
  ['reproducerSyz', /^syz repro:\s+(\S+)/m],
  ['reproducerC', /^C reproducer:\s+(\S+)/m],
];

/** syzbot's facts when the message is (or quotes) a syzbot report; null otherwise. */
export function syzbotInfo(meta: MailMeta | null, body: string): SyzbotInfo | null {
  const fromSyzbot = /syzbot/i.test(meta?.from ?? '') || /\[syzbot\]/i.test(meta?.subject ?? '');
  if (!fromSyzbot && !/syzbot (?:found|has found) the following/.test(body)) return null;
  // Quoted replies keep the fields one quote level deep.
  const plain = body.replace(/^(?:[ \t]*>)+[ \t]?/gm, '');
  const info: SyzbotInfo = { title: null, extid: null, dashboard: null, headCommit: null, gitTree: null, consoleLog: null, kernelConfig: null, reproducerC: null, reproducerSyz: null };
  for (const [k, re] of SYZBOT_FIELDS) info[k] = re.exec(plain)?.[1]?.trim() ?? null;
  info.extid = /extid=([0-9a-f]+)/.exec(plain)?.[1] ?? /syzbot\+([0-9a-f]+)@/.exec(plain)?.[1] ?? null;
  if (meta?.subject) {
    let s = meta.subject.replace(/\s+/g, ' ').trim();
    for (;;) {
      const m = /^(?:(?:re|fwd?|aw)\s*:\s*|\[[^\]]*\]\s*)/i.exec(s);
      if (!m) break;
      s = s.slice(m[0].length);
    }
    info.title = s || null;
  }
  return info;
}

/**
 * The whole input without MIME decoding: a log, a plain-text mail, or an mbox
 * whose messages are plain text. Encoded messages are taken as they are; use
 * intakeBody() on their decoded text instead for a faithful result.
 */
export function intake(text: string): IntakeResult {
  const { form, messages } = splitMessages(text);
  if (form === 'console') return { form, messages: [{ index: 0, meta: null, syzbot: null, bodyLine: 0, ...intakeBody(text) }] };
  return { form, messages: messages.map((m, index) => intakeMessage(m, index, m.body, m.bodyLine)) };
}

/** One message's intake from its (decoded) body text. */
export function intakeMessage(m: Pick<RawMessage, 'meta'>, index: number, body: string, bodyLine: number | null): IntakeMessage {
  return { index, meta: m.meta, syzbot: syzbotInfo(m.meta, body), bodyLine, ...intakeBody(body) };
}

// ------------------------------------------------------------ the lines ---

function normaliseNewlines(s: string): string {
  return s.replace(/\r\n?/g, '\n');
}

interface Phys {
  no: number;
  /** Length of the physical line as the mail client saw it (trailing blanks included). */
  len: number;
  /** The same without its trailing blanks. */
  inked: number;
  /** Length in characters, and whether it holds tabs (then `len`, in columns, is wider). */
  chars: number;
  tabs: boolean;
  /** Whether the line ended in blanks (a wrapper that breaks at a blank may leave it there). */
  trailingBlank: boolean;
  depth: number;
  /** Blanks between the quote markers and the text. */
  indent: number;
  /** The text after quote markers and blanks, with syslog/journal prefixes removed. */
  text: string;
  /** Kernel text: `text` with printk time and caller id removed, trimmed. */
  k: string;
  /** The line carries a console prefix (printk time, syslog/journal, kmsg, dmesg -x...). */
  anchored: boolean;
  /** The kernel text starts after a printk time glued mid-line. */
  glued: boolean;
  syslog: boolean;
}

// ">" quote markers, possibly spaced ("> >", ">>", " > "); a KASAN shadow row
// (">ffff888012345678: fb fb") marks the buggy row with a bare '>' and is text.
const QUOTE_MARK_RE = /^[ \t]{0,3}>(?![0-9a-f]{8,}:)[ \t]?/;
// journalctl/syslog: date (short, precise, ISO) or the journal's monotonic time,
// an optional host, then "kernel:"; plain "kernel: " too (logs cut with grep/cut).
const SYSLOG_RE = /^(?:(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?|(\[ *\d+\.\d+\])) +)?(?:[\w.-]+ +)?kernel: ?/;
// Prefixes normaliseLine() removes itself: they anchor a line to the console.
// "<48> 3d 01 f0" is the marked byte of a wrapped Code: line, not a syslog level.
const ANCHOR_RE = /^(?:\[ *[+<]? *\d+\.\d+>?\]|\[ *[TC]\d+\]|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\]|<\d{1,3}>(?!(?: [0-9a-f]{2}){3})|\d{1,3},\d+,\d+,[-+c][^;]{0,40};|[a-z]{3,8} *:[a-z]{3,6} *: |\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[,.]\d+)/;

function physical(raw: string, no: number): Phys {
  const full = raw.replace(/\u00a0/g, ' ');
  const line = full.replace(/\s+$/, '');
  let s = line;
  let depth = 0;
  for (;;) {
    const m = QUOTE_MARK_RE.exec(s);
    if (!m) break;
    depth++;
    s = s.slice(m[0].length);
  }
  const trimmed = s.trimStart();
  const indent = s.length - trimmed.length;
  let text = trimmed;
  let syslog = false;
  const sm = SYSLOG_RE.exec(text);
  if (sm && sm[0].length > 0) {
    text = (sm[1] ? `${sm[1]} ` : '') + text.slice(sm[0].length);
    syslog = true;
  }
  const anchored = syslog || ANCHOR_RE.test(text);
  const k = anchored ? normaliseLine(text).text.trim() : text;
  // A kernel line glued to what the console held before it ("debian login: [  912.3] BUG: ...")
  // is judged by its kernel text when it begins a line; as a continuation, it is the tail of
  // two merged lines and stays as it is.
  const glued = !anchored && text.includes('] ') && normaliseLine(text).ts !== null;
  return { no, len: columns(full), inked: columns(line), chars: full.length, tabs: full.includes('\t'), trailingBlank: full.length > line.length, depth, indent, text, k, anchored, glued, syslog };
}

/** Display width with tabs at every 8 columns, as wrappers count it. */
function columns(s: string): number {
  if (s.indexOf('\t') < 0) return s.length;
  let c = 0;
  for (const ch of s) c = ch === '\t' ? (c + 8) & ~7 : c + 1;
  return c;
}

// ------------------------------------------------------ kernel line shapes ---

const FRAME_HEAD_RE = /^(?:\[<[0-9a-f]+>\] )?(?:\? )?[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+/;
const FRAME_FULL_RE = /^(?:\[<[0-9a-f]+>\] )?(?:\? )?[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[\w-]+(?: [0-9a-fA-Z]+)?\])?(?: \(?[\w./-]+\.[chS]:\d+(?::\d+)?\)?)?(?: \[inline\])?(?: \(unreliable\))?$/;
// "at kernel/locking/rwsem.c:1525" is the tail of a BUG line, not a function named "at".
const DECODED_FRAME_RE = /^(?:\? )?(?!(?:at|in|from|by|of) )[A-Za-z_][\w.$]* \(?[\w./-]+\.[chS]:\d+(?::\d+)?\)?(?: \[inline\])?$/;
const FRAME_PARTIAL_RE = /^(?:\? )?[A-Za-z_.$][\w.$]*\+(?:0x[0-9a-f]*(?:\/(?:0x[0-9a-f]*)?)?)?$/;
const FRAME_TAIL = String.raw`[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[\w-]+\])?(?: \(?[\w./-]+\.[chS]:\d+(?::\d+)?\)?)?`;
const PRINTK_TIME_RE = /\[ *\d+\.\d+\]/g;
const BARE_NAME_RE = /^(?:\? )?[A-Za-z_.$][\w.$]*$/;
const ENDS_WITH_FRAME_RE = new RegExp(`${FRAME_TAIL}$`);

// x86-64 and arm64 register dump lines: the registers each line holds.
const REG_LINES: string[][] = [
  ['RAX', 'RBX', 'RCX'],
  ['RDX', 'RSI', 'RDI'],
  ['RBP', 'R08', 'R09'],
  ['R10', 'R11', 'R12'],
  ['R13', 'R14', 'R15'],
  ['FS', 'GS', 'knlGS'],
  ['CS', 'DS', 'ES', 'CR0'],
  ['CR2', 'CR3', 'CR4'],
  ['DR0', 'DR1', 'DR2'],
  ['DR3', 'DR6', 'DR7'],
  ...Array.from({ length: 10 }, (_, i) => [`x${29 - 3 * i}`, `x${28 - 3 * i}`, `x${27 - 3 * i}`]),
];
const REG_LINE_OF = new Map<string, string[]>();
for (const g of REG_LINES) for (const r of g) REG_LINE_OF.set(r, g);
const REG_KEY_RE = /^([A-Za-z][A-Za-z0-9]{1,4}) ?: *[0-9a-f]{4}/;

function regLine(k: string): string[] | null {
  const m = REG_KEY_RE.exec(k);
  if (!m) return null;
  const g = REG_LINE_OF.get(m[1]!);
  return g && g[0] === m[1] ? g : null;
}

function hasReg(k: string, r: string): boolean {
  return new RegExp(`(?:^|\\s)${r} ?: *[0-9a-f]{4}`).test(k);
}

/** A register line holds all its registers and the last value is whole (a hard wrap can cut a value). */
function regLineWhole(k: string, g: readonly string[]): boolean {
  if (!g.every((r) => hasReg(k, r))) return false;
  const last = g[g.length - 1]!;
  const v = new RegExp(`${last} ?: *([0-9a-f]+)(\\([0-9a-f]*\\)?)?$`).exec(k);
  if (!v) return false;
  const want = last === 'CS' || last === 'DS' || last === 'ES' ? 4 : 16;
  return v[1]!.length >= want && (v[2] === undefined || /\)$/.test(v[2]));
}

function balanced(k: string): boolean {
  let d = 0;
  for (const c of k) {
    if (c === '(') d++;
    else if (c === ')') d--;
  }
  return d <= 0;
}

function hexWords(k: string, tag: string): boolean {
  const w = k.slice(tag.length).trim().split(/\s+/);
  return (w.length >= 4 && w.every((x) => /^[0-9a-f]{16}$/.test(x))) || (w.length >= 8 && w.every((x) => /^[0-9a-f]{8}$/.test(x)));
}

type Shape = 'complete' | 'incomplete' | 'unknown';

// For each kind of kernel line whose end is predictable: how to tell it is whole.
const SHAPES: Array<[RegExp, (k: string) => boolean]> = [
  [/^(?:Oops: )?(?:invalid opcode:|general protection fault)|^Oops: /, (k) => /\[#\d+\]/.test(k)],
  [/^[Kk]ernel BUG at /, (k) => /!$/.test(k)],
  [/^CPU: \d+ (?:UID: \d+ )?PID: /, (k) => /(?:Not tainted|Tainted: ).*#\d+/.test(k)],
  [/^Hardware name: /, (k) => /(?:\d\d\/\d\d\/\d{4}|\))$/.test(k)],
  [/^RIP: [0-9a-f]{4}:/, (k) => /(?:\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[\w-]+\])?(?: [\w./-]+\.[chS]:\d+)?|0x[0-9a-f]+)$/.test(k)],
  // A user-mode RSP line (not segment 0018) goes on with ORIG_RAX.
  [/^RSP: [0-9a-f]{4}:/, (k) => (/^RSP: 0018:/.test(k) ? /EFLAGS: [0-9a-f]+(?: ORIG_RAX: [0-9a-f]+)?$/ : /ORIG_RAX: [0-9a-f]+$/).test(k)],
  [/^Code: /, (k) => /(?:\.|\))$/.test(k) || k.slice(6).trim().split(/\s+/).filter((x) => /^[<(]?[0-9a-f]{2}[>)]?$/.test(x)).length >= 64],
  [/^page: ?(?:[0-9a-f]{6,}|refcount:|\(ptrval\))/, (k) => /pfn:0x[0-9a-f]+$/.test(k) || /poisoned$/.test(k)],
  [/^head: ?(?:[0-9a-f]{6,} )?order:/, (k) => /pincount:-?\d+$/.test(k)],
  [/^(?:raw|head): [0-9a-f]{8}/, (k) => hexWords(k, k.startsWith('raw') ? 'raw:' : 'head:')],
  [/^(?:mapping->)?aops:/, (k) => (k.split('"').length - 1) % 2 === 0 && /(?:"|ino:[0-9a-f]+|[0-9a-f]{8,}|^(?:mapping->)?aops:\S+)$/.test(k)],
  [/^(?:anon |ksm )?flags: 0x/, (k) => balanced(k) && /\)(?: CMA)?$/.test(k)],
  [/^page_type: /, (k) => balanced(k) && /\)$/.test(k)],
  [/^page dumped because: /, (k) => balanced(k)],
  [/^WARNING: CPU: \d+ PID: \d+ at /, (k) => new RegExp(`${FRAME_TAIL}$`).test(k)],
  [/^WARNING: \S+:\d+ at /, (k) => /CPU#\d+: .+\/\d+$/.test(k)],
  [/^(?:BUG|WARNING|KASAN|UBSAN|INFO): /, (k) => !/(?:\bin|\bat|\bfor|\bof|address:?|\bprocess|\bby|\+[0-9a-fx]*|\+0x[0-9a-f]+\/(?:0x?[0-9a-f]*)?|\()$/.test(k)],
  [/^(?:---\[ end|-{12}\[ cut here)/, (k) => /\]-+$/.test(k)],
  [/^={20,}/, (k) => /^=+$/.test(k)],
  [/^(?:Call [Tt]race:|<\/?(?:TASK|IRQ|NMI|SOFTIRQ|EOI)>$)/, () => true],
];

/** Whether a kernel line of a known kind is whole, cut short, or of no kind we can tell. */
export function lineShape(k: string): Shape {
  if (FRAME_HEAD_RE.test(k)) return FRAME_FULL_RE.test(k) ? 'complete' : /\[[\w-]*$|\($|\s[\w./-]*$/.test(k) ? 'incomplete' : 'complete';
  if (DECODED_FRAME_RE.test(k)) return 'complete';
  if (FRAME_PARTIAL_RE.test(k)) return 'incomplete';
  const g = regLine(k);
  if (g) return regLineWhole(k, g) ? 'complete' : 'incomplete';
  for (const [kind, whole] of SHAPES) if (kind.test(k)) return whole(k) ? 'complete' : 'incomplete';
  return 'unknown';
}

const START_RE =
  /^(?:Call [Tt]race:|<\/?(?:TASK|IRQ|NMI|SOFTIRQ|EOI)>|---\[ end|-{12}\[ cut here|Modules linked in:|Hardware name:|CPU: \d+ |RIP: |Code: |RSP: |Kernel panic|Kernel Offset|Workqueue: |(?:page: ?(?:[0-9a-f]{6,}|refcount:)|head: ?(?:[0-9a-f]{6,}|order:)|raw: [0-9a-f]{8}|(?:mapping->)?aops:|(?:anon |ksm )?flags: 0x|page_type: |memcg:|page dumped because: )|pc : |lr : |sp : |irq event stamp|hardirqs |softirqs |task:|INFO: |rcu: |Memory state around|The buggy address|(?:Allocated|Freed) by task|page last|Showing all locks|\d+ locks? held by|#\d+: |-> #\d)/;

/** Whether a kernel line begins a line of its own (so it cannot be the tail of the one before). */
export function startsLine(k: string): boolean {
  return START_RE.test(k) || matchStart(k) !== null || FRAME_HEAD_RE.test(k) || DECODED_FRAME_RE.test(k) || regLine(k) !== null;
}

/** A register line cut short whose missing registers begin the next line. */
function registerTail(k1: string, k2: string): boolean {
  const g = regLine(k1);
  const m = REG_KEY_RE.exec(k2);
  return !!g && !!m && g.includes(m[1]!) && !hasReg(k1, m[1]!);
}

const MODULE_WORDS_RE = /^(?:[\w-]+(?:\([A-Z+-]+\))?(?: +|$))+(?:\[last unloaded: [\w-]+(?:\([A-Z+-]+\))?\])?$/;

/** How the lines of one run of a quote depth were wrapped. */
interface Wrap {
  /** The widest line (Infinity: the run was not wrapped). */
  w: number;
  /** The widest line's text without the blanks a wrapper may leave at the break: where a word too long for the line is cut. */
  edge: number;
  /** Cut at exactly `w` columns wherever that falls, words or not (fold -w, fixed-width archives). */
  hard: boolean;
}

// Line ends after which the kernel prints a frame on the same line ("... at fs/dax.c:12 f+0x1/0x2", "at: f+0x1/0x2", "[<ffffffff81000000>] f+0x1/0x2").
const FRAME_OWNER_END_RE = /(?:(?:^|\] )\?|\bin|\bin:|\bat|\bat:|\bby|\bfrom|\):|\[<[0-9a-f]+>\]|\.[chS]:\d+|RIP: [0-9a-f]{4}:|pc :|lr :)$/;
// Kinds whose end we only guess: on a console line (printk time, syslog) they may go on.
const LOOSE_END_RE = /^(?:CPU: \d|(?:BUG|WARNING|INFO|KASAN|UBSAN): |Oops|invalid opcode|general protection|Hardware name: |page dumped because: )/;

/** Whether `k1 + sep + k2` only makes sense as one line cut in two (a token cut at the edge). */
function gluedWhole(k1: string, k2: string): boolean {
  return lineShape(k1) !== 'complete' && lineShape(k1 + k2) === 'complete' && lineShape(`${k1} ${k2}`) !== 'complete';
}

/**
 * Rejoin lines a mail client wrapped. A greedy wrapper only breaks a line when
 * the next word would not fit, so a line that left room for the next line's
 * first word was not wrapped; then the kinds of kernel line on both sides decide.
 */
function joinsWith(cur: string, curAnchored: boolean, curGlued: boolean, last: Phys, next: Phys, wrap: Wrap): '' | ' ' | null {
  if (next.k === '' || next.anchored || (last.k === '' && !last.anchored)) return null;
  let k1 = curAnchored || curGlued ? normaliseLine(cur).text.trim() : cur.trim();
  // Two console lines merged into one ("...starting[  412.2] WARNING:"): the last one is the one cut.
  if (k1.includes('[')) {
    let end = -1;
    for (const m of k1.matchAll(PRINTK_TIME_RE)) end = m.index + m[0].length;
    if (end > 0) k1 = k1.slice(end).trim();
  }
  const k2 = next.text.trim();
  const s1 = lineShape(k1);
  if (wrap.hard) {
    if (last.len < wrap.w) return null;
    // A line cut at the edge unless it was whole and the next one is a line of its own.
    if (s1 === 'complete' && startsLine(k2)) return null;
    return last.trailingBlank || next.indent > 0 ? ' ' : '';
  }
  // The blanks the continuation starts with were part of the gap the wrapper
  // broke at; the wrapper may have dropped more of it (the taint field of a
  // CPU: line pads with up to 17 blanks), so a line whose kind says it is cut
  // short gets that much slack.
  const firstWord = next.indent + /^\S*/.exec(next.text)![0].length;
  const gap = s1 === 'incomplete' ? 20 : 1;
  if (last.len + gap + firstWord <= wrap.w) return null;
  // A word longer than the line is cut where it hits the edge, even by a wrapper that breaks at
  // blanks (and keeps them at the end of the lines it breaks: then the edge is a column short of the widest line).
  const sep = last.len >= wrap.edge && !last.trailingBlank && (next.indent === 0 || next.indent === last.indent) && !/\s/.test(last.text) ? '' : ' ';
  // A frame whose name (a mangled Rust one, say) was longer than the line: cut at the edge mid-name.
  // (A paste indentation is on both halves.)
  const cutAtEdge = last.len >= wrap.edge && !last.trailingBlank && next.indent === last.indent && !/\s/.test(last.text);
  if (cutAtEdge && BARE_NAME_RE.test(k1) && FRAME_HEAD_RE.test(k1 + k2)) return '';
  // Tails whose kind is certain: a frame's module or source line, a register
  // line's missing registers, the frame that a "... at"/"... in" line names.
  if ((FRAME_HEAD_RE.test(k1) && FRAME_FULL_RE.test(`${k1} ${k2}`)) || (DECODED_FRAME_RE.test(k1) && k2 === '[inline]')) return sep;
  if (registerTail(k1, k2)) return sep;
  if (FRAME_HEAD_RE.test(k2) && FRAME_OWNER_END_RE.test(k1)) return sep;
  if (/^RSP: /.test(k1) && /^ORIG_RAX: /.test(k2)) return sep;
  // A report's first word with nothing after it: what it reports was wrapped.
  if (/^(?:BUG|WARNING|INFO|KASAN|UBSAN):$/.test(k1)) return sep;
  // What is left of a time-stamped line that only kept its time (a frame, a separator...).
  if (k1 === '' && curAnchored) return sep;
  // Code: bytes go on with bytes only (user output can land between console lines).
  const bytes = /^(?:[<(]?[0-9a-f]{2,8}[>)]?(?: +|$))+$/;
  if (/^Code: [<(]?[0-9a-f]{2}/.test(k1)) return s1 !== 'complete' && bytes.test(k2) ? sep : null;
  // A separator row ("=====") cut where it hit the edge.
  if (/^=+$/.test(k1) && /^=+$/.test(k2)) return '';
  const loose = LOOSE_END_RE.test(k1) && !ENDS_WITH_FRAME_RE.test(k1);
  if (s1 === 'complete' && !loose) return null;
  if (startsLine(k2)) return null;
  if (s1 === 'incomplete' || loose || !balanced(k1)) return sep;
  if (/^Modules linked in:/.test(k1)) return MODULE_WORDS_RE.test(k2) ? sep : null;
  // A console line of a kind we cannot judge: trust the prefix that marks kernel
  // lines, or the printk time found inside a line another writer garbled.
  return curAnchored || curGlued ? sep : null;
}

/** Turn one (decoded) body into console lines: quotes, indentation, prefixes and wrapping undone. */
export function intakeBody(body: string): IntakeBody {
  const raw = normaliseNewlines(body).split('\n');
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  const ph = raw.map((l, i) => physical(l, i));
  const stats: IntakeStats = { physical: ph.length, joined: 0, quoted: 0, maxDepth: 0, unindented: 0, syslog: 0 };
  for (const p of ph) {
    if (p.depth > 0) stats.quoted++;
    if (p.depth > stats.maxDepth) stats.maxDepth = p.depth;
    if (p.syslog) stats.syslog++;
  }

  const wraps = measureWraps(ph);
  const logical = joinWrapped(ph, wraps, stats);
  const strip = pasteIndent(logical);

  const out: IntakeBody = { lines: [], origin: [], depth: [], stats };
  logical.forEach((l, i) => {
    const keep = l.anchored ? 0 : Math.max(0, l.first.indent - strip[i]!);
    if (l.first.indent > 0 && keep < l.first.indent) stats.unindented++;
    out.lines.push(' '.repeat(keep) + l.text);
    out.origin.push(l.first.no);
    out.depth.push(l.first.depth);
  });
  return out;
}

/**
 * Widest line per run of one quote depth: wrapping is judged against it. A
 * run with a line far wider than any mail client wraps was not wrapped. Lines
 * of one or two words (a URL, "Link: URL") are left out: no client can break them.
 */
function measureWraps(ph: Phys[]): Wrap[] {
  const wraps = new Array<Wrap>(ph.length);
  for (let i = 0; i < ph.length; ) {
    let j = i;
    let w = 0;
    let edge = 0;
    for (; j < ph.length && ph[j]!.depth === ph[i]!.depth; j++) {
      const p = ph[j]!;
      // Wrappers differ on a tab's width (one column or up to eight): a line with tabs
      // counts at its narrower reading, so that it cannot widen the run on its own.
      const len = p.tabs ? p.chars : p.len;
      if (!/\S\s+\S+\s+\S/.test(p.text)) continue;
      if (len > w) w = len;
      if (!p.tabs && p.inked > edge) edge = p.inked;
    }
    // A soft wrapper leaves ragged lines; a hard one fills every cut line to the same column.
    let atW = 0;
    let atWBlank = 0;
    let nearW = 0;
    for (let x = i; x < j; x++) {
      if (ph[x]!.len === w) {
        atW++;
        if (ph[x]!.trailingBlank) atWBlank++;
      }
      if (ph[x]!.len >= w - 8) nearW++;
    }
    // Lines padded to one width (tables) look hard-wrapped too: a token cut at the edge proves it.
    let cut = false;
    for (let x = i; x + 1 < j && !cut; x++) if (ph[x]!.len === w && ph[x + 1]!.k !== '') cut = gluedWhole(ph[x]!.k, ph[x + 1]!.text.trim());
    const wrap: Wrap = w > 100 ? { w: Number.POSITIVE_INFINITY, edge: Number.POSITIVE_INFINITY, hard: false } : { w, edge: Math.min(edge || w, w), hard: atW >= 3 && atW * 2 >= nearW && atWBlank * 3 <= atW && cut };
    for (let x = i; x < j; x++) wraps[x] = wrap;
    i = j;
  }
  return wraps;
}

/** A console line as rebuilt from one or more physical lines. */
interface Logical {
  text: string;
  first: Phys;
  anchored: boolean;
}

/**
 * Physical lines into logical ones: each wrapped line rejoined with what
 * joinsWith says it was cut from (counted in stats.joined). An orphaned
 * continuation takes its predecessor's depth and width in `ph` and `wraps`.
 */
function joinWrapped(ph: Phys[], wraps: Wrap[], stats: IntakeStats): Logical[] {
  const logical: Logical[] = [];
  for (let i = 0; i < ph.length; i++) {
    const p = ph[i]!;
    const cur = logical[logical.length - 1];
    const prev = ph[i - 1];
    if (cur && prev && Number.isFinite(wraps[i - 1]!.w)) {
      // Some clients wrap a quoted line without re-quoting the continuation: a
      // shallower line between two lines of the previous depth belongs to them.
      const orphan = p.depth < prev.depth && (i + 1 >= ph.length || ph[i + 1]!.depth === prev.depth);
      if (p.depth === prev.depth || orphan) {
        const sep = joinsWith(cur.text, cur.anchored, cur.first.glued, prev, p, wraps[i - 1]!);
        if (sep !== null) {
          cur.text += sep + p.text.trim();
          stats.joined++;
          // The orphan takes its predecessor's depth and width so the run goes on.
          if (orphan) {
            p.depth = prev.depth;
            wraps[i] = wraps[i - 1]!;
          }
          continue;
        }
      }
    }
    logical.push({ text: p.text, first: p, anchored: p.anchored });
  }
  return logical;
}

/**
 * Paste indentation: what every line of a paragraph (same quote depth, up
 * to a blank line) has in common. The kernel's own indentation (frames under
 * Call Trace, the blank after a printk time) is kept.
 */
function pasteIndent(logical: Logical[]): number[] {
  const strip = new Array<number>(logical.length).fill(0);
  for (let i = 0; i < logical.length; ) {
    let j = i;
    let min = Number.POSITIVE_INFINITY;
    for (; j < logical.length && logical[j]!.first.depth === logical[i]!.first.depth && logical[j]!.text.trim() !== ''; j++) {
      if (!logical[j]!.anchored) min = Math.min(min, logical[j]!.first.indent);
    }
    for (let x = i; x < j; x++) strip[x] = Number.isFinite(min) ? min : 0;
    i = Math.max(j, i + 1);
  }
  return strip;
}
