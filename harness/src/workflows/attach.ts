// Another login in a guest that is up (kept by run --keep, or a shell
// session's), as `dax-harness attach` opens one: the key its owner wrote
// into the run directory, then one command over ssh or an interactive shell
// with a pty. The CLI checks who may attach and prints; the guest's
// transport stays behind this file.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Guest } from '../vm/guest.ts';
import { interactiveShell, type PtyTerminal } from '../vm/pty.ts';
import type { GuestInfo } from './kept.ts';

/** How to log in to the guest of a run directory. */
export interface KeptLogin {
  port: number;
  privateKey: string;
  hostKeyBlob: string;
}

/** The login for `info`'s guest; the key where the owner put it in `dir`, not wherever guest.json says. */
export async function keptLogin(dir: string, info: GuestInfo): Promise<KeptLogin> {
  return { port: info.ssh.port, privateKey: await readFile(join(dir, 'ssh', 'key'), 'utf8'), hostKeyBlob: info.ssh.hostKey };
}

/** Run `command` (argv) in the guest, its output passed on as it comes; its exit status (1 when it has none). */
export async function execInKept(login: KeptLogin, command: string[], o: { signal: AbortSignal; onOutput: (chunk: string, stream: 'stdout' | 'stderr') => void }): Promise<number> {
  const g = await Guest.connect({ ...login, deadlineMs: 30000, signal: o.signal });
  try {
    const r = await g.exec(command, { timeoutMs: 6 * 3600 * 1000, signal: o.signal, onOutput: o.onOutput });
    return r.exitCode ?? 1;
  } finally {
    g.close();
  }
}

/** An interactive shell on `term`; its exit status, or null when it ended without one (aborted, or the guest went). */
export function shellInKept(login: KeptLogin, term: PtyTerminal, signal: AbortSignal): Promise<number | null> {
  return interactiveShell(login, term, signal);
}
