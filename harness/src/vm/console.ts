// The guest's serial console as a live stream of lines: the in-process view
// that other parts (the crash oracle, boot-time readers, progress, the run's
// console.log writer) subscribe to as lines arrive.
//
// The guest controls every byte here, so nothing grows with what it prints:
// a line keeps its first maxLine characters and counts the rest, and a line
// that never ends costs one pass over its bytes, never a re-concatenation of
// a growing buffer (that was quadratic: 32 MiB without a newline blocked the
// event loop for seconds).
import { timerDelay } from '../host/limits.ts';
export type LineListener = (line: string, index: number, atMs: number) => void;

/** Characters of one console line that are kept; the kernel's own lines are far shorter. */
export const MAX_LINE_CHARS = 4096;

/** What a capped line ends with: how much of it was not kept. */
export function droppedMarker(bytes: number): string {
  return ` [… ${bytes} bytes dropped]`;
}

export class ConsoleStream {
  // The line being received, as pieces (joined once when it ends) and their length.
  private parts: string[] = [];
  private partLen = 0;
  private droppedBytes = 0;
  private count = 0;
  private cappedLines = 0;
  private listeners = new Set<LineListener>();
  // The last keepTail lines, as a ring: shifting an array per line was a tenth of a flood's cost.
  private tail: string[] = [];
  private tailAt = 0;
  private ended = false;

  constructor(
    private readonly keepTail = 400,
    private readonly maxLine = MAX_LINE_CHARS,
  ) {}

  /** Feed raw text as it comes from QEMU. */
  write(chunk: string): void {
    const now = Date.now();
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', from);
      if (nl < 0) {
        this.take(chunk, from, chunk.length);
        return;
      }
      this.take(chunk, from, nl);
      this.finishLine(now);
      from = nl + 1;
    }
  }

  /** Flush a trailing partial line (QEMU exited mid-line). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.partLen || this.droppedBytes) this.finishLine(Date.now());
  }

  /** Characters kept of the line still being received: never more than the cap, however long the line runs. */
  get held(): number {
    return this.partLen;
  }

  /** Lines that were longer than the cap (their rest was counted, not kept). */
  get capped(): number {
    return this.cappedLines;
  }

  private take(chunk: string, from: number, to: number): void {
    if (from >= to) return;
    const room = this.maxLine - this.partLen;
    if (room > 0) {
      const n = Math.min(room, to - from);
      this.parts.push(from === 0 && n === chunk.length ? chunk : chunk.slice(from, from + n));
      this.partLen += n;
      from += n;
    }
    if (from < to) this.droppedBytes += Buffer.byteLength(from === 0 && to === chunk.length ? chunk : chunk.slice(from, to));
  }

  private finishLine(now: number): void {
    let line = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.partLen = 0;
    if (this.droppedBytes) {
      line += droppedMarker(this.droppedBytes);
      this.droppedBytes = 0;
      this.cappedLines++;
    } else if (line.endsWith('\r')) line = line.slice(0, -1);
    this.emitLine(line, now);
  }

  private emitLine(line: string, now: number): void {
    const idx = this.count++;
    if (this.tail.length < this.keepTail) this.tail.push(line);
    else if (this.keepTail > 0) {
      this.tail[this.tailAt] = line;
      this.tailAt = (this.tailAt + 1) % this.keepTail;
    }
    for (const l of this.listeners) {
      try {
        l(line, idx, now);
      } catch {
        // A faulty subscriber must not stop the console from being recorded.
      }
    }
  }

  subscribe(l: LineListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Resolve with the first line matching re (or reject on timeout / abort). */
  waitFor(re: RegExp, timeoutMs: number, signal?: AbortSignal): Promise<{ line: string; index: number; atMs: number }> {
    return new Promise((resolve, reject) => {
      let off = () => {};
      const timer = setTimeout(() => {
        off();
        reject(new Error(`console did not show ${re} within ${timeoutMs} ms`));
      }, timerDelay(timeoutMs));
      const onAbort = () => {
        clearTimeout(timer);
        off();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      off = this.subscribe((line, index, atMs) => {
        if (!re.test(line)) return;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        off();
        resolve({ line, index, atMs });
      });
    });
  }

  lines(): number {
    return this.count;
  }

  lastLines(n: number): string[] {
    if (n <= 0) return [];
    const ordered = this.tailAt === 0 ? this.tail : [...this.tail.slice(this.tailAt), ...this.tail.slice(0, this.tailAt)];
    return ordered.slice(-n);
  }
}
