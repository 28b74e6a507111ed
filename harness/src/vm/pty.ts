// An interactive shell in a guest over ssh2 with a pty: the local terminal in
// raw mode (so Ctrl-C, Ctrl-Z and the like reach the guest's foreground
// process instead of the harness), window size kept in step, output as it
// comes. Commands run non-interactively go through Guest.exec instead.
import ssh2 from 'ssh2';
import { envValue } from '../host/env.ts';
const { Client } = ssh2;

export interface PtyTarget {
  port: number;
  privateKey: string;
  /** Base64 of the host key blob the image was built with. */
  hostKeyBlob: string;
}

export interface PtyTerminal {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream & { columns?: number; rows?: number; on(ev: 'resize', fn: () => void): unknown; off(ev: 'resize', fn: () => void): unknown };
}

/**
 * Run a login shell in the guest on this terminal until it exits. Resolves
 * with the shell's exit status (null when the connection ended without one:
 * the guest went down). Aborting `signal` closes the session.
 */
export function interactiveShell(to: PtyTarget, term: PtyTerminal, signal?: AbortSignal): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    let status: number | null = null;
    let raw = false;
    let settled = false;
    const out = term.stdout;
    const resize = () => stream?.setWindow(out.rows ?? 24, out.columns ?? 80, 0, 0);
    let stream: ssh2.ClientChannel | null = null;
    const onData = (d: Buffer) => stream?.write(d);
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      term.stdin.off('data', onData);
      term.stdin.pause();
      out.off('resize', resize);
      if (raw) term.stdin.setRawMode?.(false);
      signal?.removeEventListener('abort', onAbort);
      c.end();
      if (err) reject(err);
      else resolve(status);
    };
    const onAbort = () => finish();
    signal?.addEventListener('abort', onAbort, { once: true });
    c.on('error', (e) => finish(stream ? undefined : e));
    c.on('close', () => finish());
    c.on('ready', () => {
      c.shell({ term: envValue('TERM') ?? 'xterm-256color', cols: out.columns ?? 80, rows: out.rows ?? 24 }, (err, s) => {
        if (err) return finish(err);
        stream = s;
        if (term.stdin.isTTY && term.stdin.setRawMode) {
          term.stdin.setRawMode(true);
          raw = true;
        }
        term.stdin.on('data', onData);
        term.stdin.resume();
        out.on('resize', resize);
        s.on('data', (d: Buffer) => out.write(d));
        s.stderr.on('data', (d: Buffer) => out.write(d));
        s.on('exit', (code: number | null) => (status = code ?? null));
        s.on('close', () => finish());
      });
    });
    c.connect({
      host: '127.0.0.1',
      port: to.port,
      username: 'root',
      privateKey: to.privateKey,
      readyTimeout: 30000,
      keepaliveInterval: 5000,
      keepaliveCountMax: 24,
      hostVerifier: (key: Buffer) => key.toString('base64') === to.hostKeyBlob,
    });
    if (signal?.aborted) onAbort();
  });
}
