// The one progress line of every command, on stderr: seconds since the command
// started, the phase when there is one, and the message cleaned for the
// terminal (guest text can reach it: one line, no escapes).
//    12.3s [kernel] building 6.1.0 (tinyconfig+qemu-q35+dax)
import { lineForTerminal } from '../host/terminal.ts';

export type Progress = (msg: string, phase?: string) => void;

/** The line for `msg` at `elapsedMs`; the seconds are right-aligned to a day's width. */
export function progressLine(elapsedMs: number, msg: string, phase?: string): string {
  return `${(elapsedMs / 1000).toFixed(1).padStart(7)}s ${phase ? `[${phase}] ` : ''}${lineForTerminal(msg)}`;
}

/** A printer counting from now; `write` gets each line without its end (default: stderr, \n). */
export function progressPrinter(o: { now?: () => number; write?: (line: string) => void } = {}): Progress {
  const now = o.now ?? Date.now;
  const write = o.write ?? ((l: string) => process.stderr.write(`${l}\n`));
  const started = now();
  return (msg, phase) => write(progressLine(now() - started, msg, phase));
}
