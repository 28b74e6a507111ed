// A minimal QMP client: enough for capabilities negotiation, commands with
// replies, and events (SHUTDOWN, STOP...). QMP is line-delimited JSON.
import { connect, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';

export interface QmpEvent {
  event: string;
  data?: unknown;
}

export class QmpClient extends EventEmitter {
  private sock: Socket | null = null;
  private buf = '';
  private nextId = 1;
  private pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private greeted: Promise<void> | null = null;

  /** Connect, retrying until the socket exists or the deadline passes. */
  static async connect(path: string, timeoutMs: number): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    let lastErr: unknown;
    while (Date.now() < deadline) {
      const c = new QmpClient();
      try {
        await c.open(path, deadline - Date.now());
        return c;
      } catch (e) {
        lastErr = e;
        c.close();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`QMP socket ${path} did not answer within ${timeoutMs} ms: ${String(lastErr)}`);
  }

  private open(path: string, timeoutMs: number): Promise<void> {
    this.greeted = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('QMP greeting timeout')), Math.max(1, timeoutMs));
      const sock = connect(path);
      this.sock = sock;
      sock.setEncoding('utf8');
      sock.on('error', (e) => {
        clearTimeout(t);
        reject(e);
        this.failAll(e);
      });
      sock.on('close', () => this.failAll(new Error('QMP connection closed')));
      let sawGreeting = false;
      sock.on('data', (d: string) => {
        this.buf += d;
        let nl: number;
        while ((nl = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, nl).trim();
          this.buf = this.buf.slice(nl + 1);
          if (!line) continue;
          let msg: Record<string, unknown>;
          try {
            msg = JSON.parse(line);
          } catch {
            continue;
          }
          if (!sawGreeting && 'QMP' in msg) {
            sawGreeting = true;
            this.execute('qmp_capabilities').then(
              () => {
                clearTimeout(t);
                resolve();
              },
              (e) => {
                clearTimeout(t);
                reject(e);
              },
            );
            continue;
          }
          this.dispatch(msg);
        }
      });
    });
    return this.greeted;
  }

  private dispatch(msg: Record<string, unknown>): void {
    if (typeof msg.event === 'string') {
      this.emit('event', msg as unknown as QmpEvent);
      return;
    }
    const id = String(msg.id ?? '');
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (msg.error) {
      const err = msg.error as { class?: string; desc?: string };
      p.reject(new Error(`QMP error ${err.class ?? ''}: ${err.desc ?? ''}`));
    } else p.resolve(msg.return);
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (!this.sock) return Promise.reject(new Error('QMP not connected'));
    const id = `h${this.nextId++}`;
    const p = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.sock.write(JSON.stringify({ execute: command, arguments: args, id }) + '\n');
    return p;
  }

  async status(): Promise<{ running: boolean; status: string }> {
    const r = (await this.execute('query-status')) as { running: boolean; status: string };
    return r;
  }

  close(): void {
    this.sock?.destroy();
    this.sock = null;
  }
}
