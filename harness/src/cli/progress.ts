// The one progress line of every command, on stderr: seconds since the command
// started, the phase when there is one, and the message cleaned for the
// terminal (guest text can reach it: one line, no escapes).
//    12.3s [kernel] building 6.1.0 (tinyconfig+qemu-q35+dax)
// --quiet drops these lines (the result on stdout and errors stay), --verbose
// adds the detail text (make's output). A status that changes every second
// (objects built, with an ETA) is one line redrawn in place on a terminal,
// and a plain line at most every 30 s when stderr is a file or a pipe.
import { lineForTerminal } from '../host/terminal.ts';
import { setStatusSink } from '../host/status.ts';

export type Progress = (msg: string, phase?: string) => void;

export type Verbosity = 'quiet' | 'normal' | 'verbose';

/** --quiet / --verbose, as parsed (parseCommand refuses both at once). */
export function verbosityOf(values: { quiet?: boolean; verbose?: boolean }): Verbosity {
  return values.quiet ? 'quiet' : values.verbose ? 'verbose' : 'normal';
}

/** The line for `msg` at `elapsedMs`; the seconds are right-aligned to a day's width. */
export function progressLine(elapsedMs: number, msg: string, phase?: string): string {
  return `${(elapsedMs / 1000).toFixed(1).padStart(7)}s ${phase ? `[${phase}] ` : ''}${lineForTerminal(msg)}`;
}

/** Off a terminal, a status becomes a plain line at most this often. */
export const STATUS_LINE_EVERY_MS = 30_000;

/**
 * Whether a status at `now` is printed as a plain line, given when the last
 * one was (null: none yet). On a terminal every status is drawn (in place).
 */
export function statusDue(now: number, last: number | null, inPlace: boolean, everyMs = STATUS_LINE_EVERY_MS): boolean {
  return inPlace || last === null || now - last >= everyMs;
}

/** The bytes that redraw the status line in place: to column 0, the line cut to the width, the rest of the row cleared. */
export function redrawBytes(line: string, columns: number): string {
  return `\r${line.length >= columns ? `${line.slice(0, Math.max(0, columns - 2))}…` : line}\x1b[K`;
}

export interface Printer extends Progress {
  readonly verbosity: Verbosity;
  /** A status replacing the one before; '' clears it. */
  status(msg: string, phase?: string): void;
  /** Detail text (raw tool output): written under --verbose only. */
  detail(chunk: string): void;
  /** Clear any status drawn and stop receiving stages' status and detail. */
  close(): void;
}

export interface PrinterOptions {
  now?: () => number;
  /** Gets each finished line without its end (default: stderr, \n). */
  write?: (line: string) => void;
  /** Raw bytes for detail and in-place redraws (default: stderr). */
  raw?: (bytes: string) => void;
  verbosity?: Verbosity;
  /** Redraw the status in place (default: when stderr is a terminal and `write` is the default). */
  inPlace?: boolean;
  columns?: () => number;
  /** Receive the stages' status and detail (host/status.ts) while open (default true). */
  global?: boolean;
}

/** A printer counting from now. */
export function progressPrinter(o: PrinterOptions = {}): Printer {
  const now = o.now ?? Date.now;
  const raw = o.raw ?? ((b: string) => process.stderr.write(b));
  const write = o.write ?? ((l: string) => raw(`${l}\n`));
  const verbosity = o.verbosity ?? 'normal';
  const inPlace = o.inPlace ?? (o.write === undefined && Boolean(process.stderr.isTTY));
  const columns = o.columns ?? (() => process.stderr.columns || 100);
  const started = now();
  let drawn = false;
  let lastStatusLine: number | null = null;
  const clear = () => {
    if (drawn) raw('\r\x1b[K');
    drawn = false;
  };
  const line: Progress = (msg, phase) => {
    if (verbosity === 'quiet') return;
    clear();
    write(progressLine(now() - started, msg, phase));
  };
  const status = (msg: string, phase?: string) => {
    if (verbosity === 'quiet') return;
    if (msg === '') return clear();
    const t = now();
    if (!statusDue(t, lastStatusLine, inPlace)) return;
    if (!inPlace) {
      lastStatusLine = t;
      return write(progressLine(t - started, msg, phase));
    }
    raw(redrawBytes(progressLine(t - started, msg, phase), columns()));
    drawn = true;
  };
  const detail = (chunk: string) => {
    if (verbosity !== 'verbose') return;
    clear();
    raw(chunk);
  };
  const restore = o.global === false ? () => {} : setStatusSink({ status, ...(verbosity === 'verbose' ? { detail } : {}) });
  return Object.assign(line, {
    verbosity,
    status,
    detail,
    close: () => {
      clear();
      restore();
    },
  });
}
