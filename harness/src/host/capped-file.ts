// Files the harness fills with text the guest controls (console.log, each
// test's log): bounded in size, written with plain synchronous appends, and
// never an unhandled error.
//
// Synchronous writes because what is written is in the kernel's page cache
// the moment write() returns: the file survives the harness being killed,
// which is why console.log used to be written by QEMU itself. A WriteStream
// would keep a queue in our memory (lost on SIGKILL, unbounded when the disk
// is slower than the guest) and report ENOSPC as an 'error' event that, when
// nobody listens, kills the process.
import { closeSync, openSync, writeSync } from 'node:fs';
import { InputError } from './errors.ts';
import { envValue } from './env.ts';

const MiB = 1024 * 1024;

export interface LogCaps {
  consoleBytes: number;
  testLogBytes: number;
}

const DEFAULT_CAPS: LogCaps = { consoleBytes: 256 * MiB, testLogBytes: 64 * MiB };

function capFromEnv(name: 'DAX_HARNESS_CONSOLE_LOG_MIB' | 'DAX_HARNESS_TEST_LOG_MIB', fallback: number): number {
  const v = envValue(name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1024 * 1024) throw new InputError(`${name}=${v} is not a size in MiB: use a whole number from 1 to 1048576`);
  return Number(v) * MiB;
}

/** The per-run caps: 256 MiB of console, 64 MiB per test log, or $DAX_HARNESS_CONSOLE_LOG_MIB / $DAX_HARNESS_TEST_LOG_MIB. */
export function logCaps(): LogCaps {
  return {
    consoleBytes: capFromEnv('DAX_HARNESS_CONSOLE_LOG_MIB', DEFAULT_CAPS.consoleBytes),
    testLogBytes: capFromEnv('DAX_HARNESS_TEST_LOG_MIB', DEFAULT_CAPS.testLogBytes),
  };
}

export interface CappedFileOptions {
  capBytes: number;
  /** How the marker names the file ("console.log"). */
  what: string;
  /** Called once, later than the failing call, when the file cannot be opened or written (ENOSPC, EIO...). */
  onError?: (e: NodeJS.ErrnoException) => void;
  /**
   * Gather writes made in one tick into one write() (a console flood is
   * many short lines per chunk); the tick's writes are on disk before any
   * other I/O callback runs.
   */
  batch?: boolean;
}

function human(n: number): string {
  return n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`;
}

export class CappedFile {
  private fd: number | null = null;
  private written = 0;
  private droppedBytes = 0;
  private capHit = false;
  private pending: string[] = [];
  private flushQueued = false;
  private closed = false;
  private err: NodeJS.ErrnoException | null = null;

  constructor(
    readonly path: string,
    private readonly o: CappedFileOptions,
  ) {
    try {
      this.fd = openSync(path, 'a', 0o644);
    } catch (e) {
      this.fail(e as NodeJS.ErrnoException);
    }
  }

  /** The error that stopped the file, if any. */
  get error(): NodeJS.ErrnoException | null {
    return this.err;
  }

  /** Bytes the cap kept out of the file. */
  get dropped(): number {
    return this.droppedBytes;
  }

  /** Bytes in the file (as far as this writer knows). */
  get size(): number {
    return this.written;
  }

  write(text: string | Uint8Array): void {
    if (this.closed || this.fd === null) return;
    if (this.o.batch && typeof text === 'string') {
      this.pending.push(text);
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => this.flush());
      }
      return;
    }
    this.flush();
    this.put(typeof text === 'string' ? Buffer.from(text) : text);
  }

  /** Write what a batch gathered now. */
  flush(): void {
    this.flushQueued = false;
    if (!this.pending.length) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.put(Buffer.from(text));
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.closeFd();
  }

  /** Nothing is buffered in this process: a failed close loses nothing. */
  private closeFd(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      /* already broken */
    }
    this.fd = null;
  }

  private put(buf: Uint8Array): void {
    if (this.fd === null) return;
    if (this.capHit) {
      this.droppedBytes += buf.length;
      return;
    }
    const room = this.o.capBytes - this.written;
    if (buf.length <= room) {
      this.raw(buf);
      return;
    }
    this.raw(buf.subarray(0, room));
    this.droppedBytes += buf.length - room;
    this.capHit = true;
    // Own line, even when the cap cut one in half.
    this.raw(Buffer.from(`\n[dax-harness: ${this.o.what} reached its cap of ${human(this.o.capBytes)}; the rest is not kept]\n`));
  }

  private raw(buf: Uint8Array): void {
    let off = 0;
    try {
      while (off < buf.length && this.fd !== null) {
        const n = writeSync(this.fd, buf, off, buf.length - off);
        off += n;
        this.written += n;
      }
    } catch (e) {
      this.fail(e as NodeJS.ErrnoException);
    }
  }

  private fail(e: NodeJS.ErrnoException): void {
    if (this.err) return;
    this.err = e;
    this.closeFd();
    const cb = this.o.onError;
    if (cb) queueMicrotask(() => cb(e));
  }
}

/** One line naming a write failure for a run's reason. */
export function describeWriteError(e: NodeJS.ErrnoException, path: string): string {
  if (e.code === 'ENOSPC') return `no space left on the device holding ${path}: free some space or choose --results elsewhere`;
  return `could not write ${path}: ${e.message}`;
}
