// Text the harness did not write — a guest's console lines and test output,
// crash titles, a mailed subject, a reason read back from a run.json — made
// safe to print on a person's terminal. A kernel under test (or a mail) can
// say anything: an escape sequence could retitle the window, move the cursor
// to overwrite a FAIL with a PASS, set the clipboard (OSC 52) or hide text,
// and a carriage return or a bidi override can make a line read as another.
// Every human-readable line the CLI prints with such text in it goes through
// here (the results table cleans its cells itself). The interactive pty of `shell`/`attach` does not: there the guest's
// bytes are the point.

// ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST),
// DCS/SOS/PM/APC (ESC P|X|^|_ ... ST), and the two-byte ones (ESC + one char).
// The 8-bit C1 forms (U+009B CSI, U+009D OSC, ...) likewise.
const SEQUENCES = new RegExp(
  [
    '\\x1b\\[[\\x30-\\x3f]*[\\x20-\\x2f]*[\\x40-\\x7e]?',
    '\\x9b[\\x30-\\x3f]*[\\x20-\\x2f]*[\\x40-\\x7e]?',
    '(?:\\x1b[\\]PX^_]|[\\x90\\x98\\x9d-\\x9f])[^\\x07\\x1b\\x9c]*(?:\\x07|\\x1b\\\\|\\x9c)?',
    '\\x1b[\\x20-\\x2f]*[\\x30-\\x7e]?',
  ].join('|'),
  'g',
);
// What is left that a terminal acts on: C0 controls but tab and newline, DEL,
// C1, and the Unicode controls that reorder or hide text.
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/**
 * `text` without escape sequences and control characters (tab and newline
 * kept). With `oneLine`, newlines become spaces too: for a progress or error
 * line that a guest string must not be able to split into a forged line.
 */
export function forTerminal(text: string, o: { oneLine?: boolean } = {}): string {
  // Serial consoles end lines with CRLF: that CR is no attack, drop it before it is counted as one.
  let s = text.replace(/\r\n/g, '\n').replace(SEQUENCES, '').replace(CONTROLS, '');
  if (o.oneLine) s = s.replace(/\n+/g, ' ');
  return s;
}

/** One line of text for a terminal (newlines folded). */
export function lineForTerminal(text: string): string {
  return forTerminal(text, { oneLine: true });
}

/** POSIX shell quoting, for showing a command to a person (never for running one). */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
