// `run --keep`: the run happens in a keeper, a detached process that owns the
// QEMU (and its console watch), so the command can print the verdict and exit
// while the guest stays up for `attach`, until `stop`, its idle limit, or the
// 6 h cap on any guest. The keeper leads its own session (a Ctrl-C or a
// closed terminal does not reach it) and talks to its starter over an IPC
// channel until the starter goes; afterwards, only through the run directory
// (guest.json, guest/sock: see kept.ts) and its keeper.log.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunOptions } from './run.ts';
import type { RunRecord } from '../results/records.ts';
import type { GuestInfo } from './kept.ts';
import { InputError } from '../host/errors.ts';

/** What the starter sends: the run as `run` would do it, and how long a guest nobody uses is kept. */
export interface KeeperStart {
  options: Omit<RunOptions, 'progress' | 'onReady' | 'pass' | 'signal'>;
  idleLimitMs: number;
}

export type KeeperMessage =
  | { type: 'progress'; phase: string; msg: string }
  | { type: 'kept'; record: RunRecord; runDir: string; info: GuestInfo }
  | { type: 'done'; record: RunRecord; runDir: string }
  | { type: 'error'; message: string; input: boolean };

export type KeeperResult = { kept: true; record: RunRecord; runDir: string; info: GuestInfo } | { kept: false; record: RunRecord; runDir: string };

/** The keeper found the user's input wrong (exit 2, as in run). */
export class KeeperInputError extends InputError {}

/** node and its arguments that run the keeper's entry, from sources (through tsx) or from the compiled tree. */
function keeperArgv(): string[] {
  const self = import.meta.url;
  const fromSources = self.endsWith('.ts');
  const entry = fileURLToPath(new URL(`../cli/keeper.${fromSources ? 'ts' : 'js'}`, self));
  return fromSources ? ['--import', import.meta.resolve('tsx'), entry] : [entry];
}

/**
 * Start a keeper for this run and follow it until it keeps the guest (after
 * the tests) or ends without keeping one. Stopping the starter (^C) before
 * that stops the keeper's run.
 */
export function startKeeper(start: KeeperStart, progress: (phase: string, msg: string) => void, signal?: AbortSignal): Promise<KeeperResult> {
  // Not through host/proc.ts on purpose: that wrapper ends every child with
  // the harness, and this one must outlive it (it ends itself: see kept.ts).
  const child = spawn(process.execPath, keeperArgv(), { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  return new Promise<KeeperResult>((resolve, reject) => {
    let settled = false;
    const leave = () => {
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (child.connected) child.disconnect();
      child.unref();
    };
    const onAbort = () => child.connected && child.send({ type: 'stop' });
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: KeeperMessage) => {
      if (settled) return;
      if (m.type === 'progress') progress(m.phase, m.msg);
      else if (m.type === 'kept') {
        leave();
        resolve({ kept: true, record: m.record, runDir: m.runDir, info: m.info });
      } else if (m.type === 'done') {
        leave();
        resolve({ kept: false, record: m.record, runDir: m.runDir });
      } else if (m.type === 'error') {
        leave();
        reject(m.input ? new KeeperInputError(m.message) : new Error(m.message));
      }
    });
    child.on('exit', (code, sig) => {
      if (settled) return;
      settled = true;
      reject(new Error(`the keeper process ended before the run did (${sig ?? `exit ${code}`})`));
    });
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      reject(e);
    });
    child.send(start);
  });
}
