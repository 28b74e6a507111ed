// The guest's serial console as a live stream of lines. QEMU writes the
// console file itself; this is the in-process view that other parts (the
// crash oracle, boot-time readers, progress) subscribe to as lines arrive.
export type LineListener = (line: string, index: number, atMs: number) => void;

export class ConsoleStream {
  private partial = '';
  private count = 0;
  private listeners = new Set<LineListener>();
  private tail: string[] = [];
  private ended = false;

  constructor(private readonly keepTail = 400) {}

  /** Feed raw bytes as they come from QEMU. */
  write(chunk: string): void {
    const text = this.partial + chunk;
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    const now = Date.now();
    for (const raw of parts) this.emitLine(raw.endsWith('\r') ? raw.slice(0, -1) : raw, now);
  }

  /** Flush a trailing partial line (QEMU exited mid-line). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.partial) this.emitLine(this.partial, Date.now());
    this.partial = '';
  }

  private emitLine(line: string, now: number): void {
    const idx = this.count++;
    this.tail.push(line);
    if (this.tail.length > this.keepTail) this.tail.shift();
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
      }, timeoutMs);
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
    return this.tail.slice(-n);
  }
}
