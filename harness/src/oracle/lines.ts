// Console text arrives in many wrappings: serial captures with CRLF and ANSI colour,
// `dmesg` with or without -T/-x, journalctl, raw /dev/kmsg records, syslog <N>
// prefixes, printk caller ids, e-mail quoting, and crash e-mails whose lines were
// joined by a mail client. Everything downstream only wants the kernel's own text,
// so this module peels the wrapping off and keeps the prefix facts on the side.

export interface ConsoleLine {
  /** The kernel text with every known prefix removed and no trailing blanks; leading blanks kept. */
  text: string;
  /** The line for display: control characters and ANSI removed, timestamps kept. */
  display: string;
  /** printk seconds since boot when the line carried a monotonic timestamp. */
  ts: number | null;
  /** printk caller id (`T123`, `C1`) when present. */
  caller: string | null;
  /** syslog level from a `<N>` or kmsg prefix. */
  level: number | null;
}

// ESC [ ... final, ESC ] ... BEL/ST, and two-byte ESC sequences.
const ANSI_RE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])/g;
// Everything below space except TAB, plus DEL and the C1 block; U+FFFD comes from bad UTF-8.
const CTRL_RE = /[\x00-\x08\x0a-\x1f\x7f-\x9f\ufffd]/g;
const NEEDS_CLEAN_RE = /[\x00-\x08\x0a-\x1f\x7f-\x9f\ufffd]/;

const SYSLOG_LEVEL_RE = /^<(\d{1,3})>/;
// /dev/kmsg: "level,seq,usec,flags[,caller=T1];text"
const KMSG_RE = /^(\d{1,3}),\d+,(\d+),[-+c][^;]{0,40};/;
// journalctl / syslog short and ISO styles: "Jan  2 10:11:12 host kernel: "
const JOURNAL_RE = /^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?) \S+ kernel: /;
// dmesg -x: "kern  :warn  : "
const DMESG_X_RE = /^[a-z]{3,8} *:[a-z]{3,6} *: /;
// dmesg -T / --ctime: "[Mon Jan  2 10:11:12 2025] "
const CTIME_RE = /^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] ?/;
// printk time "[   12.345678]", dmesg --reltime "[  +0.000123]", delta "[<    0.000123>]", optionally a
// caller id in the same or the next bracket ("[    1.0][  T123]" or "[    1.0] [T123]").
const PRINTK_TS_RE = /^\[ *[+<]? *(\d+\.\d+)>?\](?: ?\[ *([TC]\d+)\])? ?/;
const CALLER_ONLY_RE = /^\[ *([TC]\d+)\] ?/;
// dmesg --time-format=iso: "2025-01-02T10:11:12,123456+00:00 "
const ISO_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[,.]\d+(?:[+-]\d\d:?\d\d|Z)? /;
// A quoted e-mail line; KASAN's ">ffff..." shadow row has no blank after the '>' and is left alone.
const QUOTE_RE = /^(?:>[ \t]?)*>[ \t]/;

const FIRST_PREFIX_CHARS = new Set(['<', '[', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'J', 'F', 'M', 'A', 'S', 'O', 'N', 'D', 'k', 'u', 'd', 's', 'l', 'a', 'm', 'n', 'c', '>']);

/** Remove ANSI escapes and control characters; cheap when there are none. */
export function cleanControl(raw: string): string {
  let s = raw;
  if (s.length > 0 && s.charCodeAt(s.length - 1) === 13) s = s.slice(0, -1);
  if (s.indexOf('\x1b') !== -1) s = s.replace(ANSI_RE, '');
  if (NEEDS_CLEAN_RE.test(s)) s = s.replace(CTRL_RE, '');
  return s;
}

/**
 * Strip every known wrapping from one console line. Returns the kernel text in
 * `text`; prefix facts go to ts/caller/level.
 */
export function normaliseLine(raw: string): ConsoleLine {
  const display = trimEnd(cleanControl(raw));
  let s = display;
  let ts: number | null = null;
  let caller: string | null = null;
  let level: number | null = null;
  // Prefixes stack (journal + printk time, syslog level + printk time), so peel
  // them in a small bounded loop rather than one giant alternation.
  for (let guard = 0; guard < 5 && s.length > 0; guard++) {
    const c = s[0]!;
    if (!FIRST_PREFIX_CHARS.has(c)) break;
    let m: RegExpExecArray | null;
    if (c === '[') {
      if ((m = PRINTK_TS_RE.exec(s))) {
        ts = Number(m[1]);
        if (m[2]) caller = m[2];
        s = s.slice(m[0].length);
        continue;
      }
      if ((m = CALLER_ONLY_RE.exec(s))) {
        caller = m[1]!;
        s = s.slice(m[0].length);
        continue;
      }
      if ((m = CTIME_RE.exec(s))) {
        s = s.slice(m[0].length);
        continue;
      }
      break;
    }
    if (c === '<') {
      if ((m = SYSLOG_LEVEL_RE.exec(s))) {
        level = Number(m[1]) & 7;
        s = s.slice(m[0].length);
        continue;
      }
      break;
    }
    if (c === '>') {
      if (ts === null && (m = QUOTE_RE.exec(s))) {
        s = s.slice(m[0].length);
        continue;
      }
      break;
    }
    if (c >= '0' && c <= '9') {
      if ((m = KMSG_RE.exec(s))) {
        level = Number(m[1]) & 7;
        ts = Number(m[2]) / 1e6;
        const cm = /caller=([TC]\d+)/.exec(m[0]);
        if (cm) caller = cm[1]!;
        s = s.slice(m[0].length);
        continue;
      }
      if ((m = JOURNAL_RE.exec(s)) || (m = ISO_RE.exec(s))) {
        s = s.slice(m[0].length);
        continue;
      }
      break;
    }
    if ((m = JOURNAL_RE.exec(s)) || (m = DMESG_X_RE.exec(s))) {
      s = s.slice(m[0].length);
      continue;
    }
    break;
  }
  // Output written before a kernel line without a newline ("login: [  12.3] BUG: ...",
  // a process's half-line) puts the kernel's timestamp mid-line: the kernel line starts there.
  // A line that already had its own timestamp is two kernel lines merged: the first one counts.
  for (let open = ts === null ? s.indexOf('[', 1) : -1; open > 0; open = s.indexOf('[', open + 1)) {
    const m = GLUED_TS_RE.exec(s.slice(open, open + 40));
    if (m) {
      ts = Number(m[1]);
      if (m[2]) caller = m[2];
      s = s.slice(open + m[0].length);
      break;
    }
  }
  // A process writing to the console at the same moment can land between
  // the timestamp's "[" and its digits ("d[axh: panicking    19.837121]
  // Kernel panic ..."): the kernel line starts after the timestamp's tail.
  if (ts === null && s.includes('[')) {
    const m = SPLIT_TS_RE.exec(s);
    if (m && s.lastIndexOf('[', m.index) >= 0) {
      ts = Number(m[1]);
      s = s.slice(m.index + m[0].length);
    }
  }
  return { text: s, display, ts, caller, level };
}

const GLUED_TS_RE = /^\[ *(\d+\.\d{6})\](?:\[ *([TC]\d+)\])? ?/;
// The tail of a printk timestamp whose "[" was pulled away: padding, then seconds.
const SPLIT_TS_RE = /(?<= )(\d{1,6}\.\d{6})\] ?/;

/**
 * Where a second kernel line begins inside `s` (two console lines merged, the
 * second one's "[ 12.345678] " in the middle), searching from `from`: the
 * offset of that timestamp and of the text after it, or null.
 */
export function mergedLineAt(s: string, from: number): { at: number; text: number } | null {
  for (let open = s.indexOf('[', from); open > 0; open = s.indexOf('[', open + 1)) {
    const m = GLUED_TS_RE.exec(s.slice(open, open + 40));
    if (m) return { at: open, text: open + m[0].length };
  }
  return null;
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * Where the kernel's text starts in a line that is bare or carries only a plain
 * printk timestamp (with or without a caller id), without building anything:
 * the cheap question asked of every idle console line. -1 when the line has
 * another wrapping (journal, syslog, kmsg, quoting, a timestamp mid-line); ask
 * normaliseLine() then.
 */
export function kernelTextOffset(raw: string): number {
  const c0 = raw.charCodeAt(0);
  if (c0 !== 91) {
    // Bare text, unless it could be another wrapping or has a printk timestamp glued mid-line.
    return FIRST_PREFIX_CHARS.has(raw[0]!) || c0 === 27 || raw.includes('[') ? -1 : 0;
  }
  let i = 1;
  while (raw.charCodeAt(i) === 32) i++;
  const from = i;
  while (isDigit(raw.charCodeAt(i))) i++;
  if (i === from || raw.charCodeAt(i) !== 46) return -1;
  const frac = ++i;
  while (isDigit(raw.charCodeAt(i))) i++;
  if (i === frac || raw.charCodeAt(i) !== 93) return -1;
  i++;
  if (raw.charCodeAt(i) === 91 || (raw.charCodeAt(i) === 32 && raw.charCodeAt(i + 1) === 91)) return -1;
  return raw.charCodeAt(i) === 32 ? i + 1 : i;
}

function trimEnd(s: string): string {
  const n = s.length;
  if (n === 0) return s;
  const c = s.charCodeAt(n - 1);
  return c === 32 || c === 9 ? s.trimEnd() : s;
}

// Where a mail client glued kernel lines together, these tokens begin a new
// kernel line. They are specific enough not to occur inside one real line,
// except frames, which need the look-behind check in splitJoined().
// The look-behind makes every non-blank position fail at once: without it a
// long run of word characters costs quadratic time in the frame alternative.
const JOIN_MARKERS = new RegExp(
  '(?<=[ \\t])(?:' +
  [
    String.raw`page:(?:[0-9a-f]{8,}|(?= refcount:))`,
    String.raw`head:(?:[0-9a-f]{8,} order:|(?= order:))`,
    String.raw`(?:mapping->)?aops:`,
    String.raw`(?:anon |ksm )?flags: 0x`,
    String.raw`page_type: `,
    String.raw`raw: [0-9a-f]{8}`,
    String.raw`head: [0-9a-f]{8}`,
    String.raw`memcg:[0-9a-f]`,
    String.raw`page dumped because: `,
    String.raw`-{12}\[ cut here \]-{12}`,
    String.raw`kernel BUG at `,
    String.raw`(?:Oops: )?invalid opcode: `,
    String.raw`(?:Oops: )?general protection fault`,
    String.raw`BUG: `,
    String.raw`WARNING: `,
    String.raw`CPU: \d+ (?:UID: \d+ )?PID: `,
    String.raw`Hardware name: `,
    String.raw`Modules linked in:`,
    String.raw`Workqueue: `,
    String.raw`RIP: `,
    String.raw`Code: `,
    String.raw`RSP: `,
    String.raw`RAX: `,
    String.raw`RDX: `,
    String.raw`RBP: `,
    String.raw`R10: `,
    String.raw`R13: `,
    String.raw`FS: `,
    String.raw`CS: `,
    String.raw`CR2: `,
    String.raw`DR0: `,
    String.raw`DR3: `,
    String.raw`PKRU: `,
    String.raw`Call Trace:`,
    String.raw`</?(?:TASK|IRQ|NMI|SOFTIRQ)>`,
    String.raw`---\[ end `,
    String.raw`Kernel panic - not syncing`,
    String.raw`Kernel Offset:`,
    String.raw`(?:\? )?[A-Za-z_][\w.$]{0,200}\+0x[0-9a-f]+/0x[0-9a-f]+`,
  ].join('|') + ')',
  'g',
);

// A frame token after one of these words is part of the line (e.g. "WARNING: ... at f+0x1/0x2").
const FRAME_OWNER_RE = /(?:\bat|\bat:|\bin|\bby|\bfrom|\bcaller|RIP:|\bpc :|\blr :|\?|\.[chS]:\d+)\s*$/;

/**
 * Split a line into the kernel lines it was made of, when a mail client joined them.
 * A normal console line comes back unchanged as a one-element array.
 */
export function splitJoined(line: string): string[] {
  // Real kernel lines are short; only long ones are worth the regex.
  if (line.length < 160) return [line];
  const cuts: number[] = [];
  JOIN_MARKERS.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = JOIN_MARKERS.exec(line))) {
    const at = m.index;
    if (at === 0) continue;
    const prev = line.charCodeAt(at - 1);
    if (prev !== 32 && prev !== 9) continue;
    const tok = m[0];
    if (/\+0x[0-9a-f]+\/0x/.test(tok)) {
      if (FRAME_OWNER_RE.test(line.slice(Math.max(0, at - 12), at))) continue;
    } else if (tok.startsWith('CPU: ') && /WARNING:\s*$/.test(line.slice(Math.max(0, at - 12), at))) {
      // old-style "WARNING: CPU: 0 PID: 1 at ..." is one line
      continue;
    }
    cuts.push(at);
  }
  if (cuts.length < 2) return [line];
  const out: string[] = [];
  let from = 0;
  for (const c of cuts) {
    const piece = line.slice(from, c).trimEnd();
    if (piece.length > 0) out.push(piece);
    from = c;
  }
  const last = line.slice(from).trimEnd();
  if (last.length > 0) out.push(last);
  return out;
}

/**
 * Split a whole text into console lines (LF, CRLF or lone CR), re-splitting
 * joined crash text.
 */
export function splitLines(text: string): string[] {
  const parts = text.split('\n');
  let out: string[] | null = null;
  for (let i = 0; i < parts.length; i++) {
    let p = parts[i]!;
    if (p.length > 0 && p.charCodeAt(p.length - 1) === 13) p = p.slice(0, -1);
    const inner = p.indexOf('\r') !== -1 ? p.split('\r') : null;
    const pieces = inner ?? [p];
    let changed = inner !== null;
    const expanded: string[] = [];
    for (const q of pieces) {
      const s = splitJoined(q);
      if (s.length !== 1) changed = true;
      for (const x of s) expanded.push(x);
    }
    if (changed && out === null) out = parts.slice(0, i).map((x) => (x.endsWith('\r') ? x.slice(0, -1) : x));
    if (out) for (const x of expanded) out.push(x);
    else parts[i] = p;
  }
  const res = out ?? parts;
  if (res.length > 0 && res[res.length - 1] === '') res.pop();
  return res;
}
