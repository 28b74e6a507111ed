// Processes named by a pid that was written down earlier (guest.json, lock
// files). A pid alone names whatever process holds that number now: once the
// recorded one is gone the kernel hands the number out again, and a signal
// sent on the word of a stale file would hit a stranger's process. So a pid
// that may be signalled is recorded with the process's start time (field 22
// of /proc/PID/stat, clock ticks since boot: unique per pid on one boot) and
// its command line, and both must match before any signal is sent.
import { readFileSync } from 'node:fs';

// Whether a process exists (EPERM: it does, it is just not ours).
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What tells one process from a later one given the same pid (on the same boot: pair it with the boot id). */
export interface ProcIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat, as written there. */
  startTime: string;
  /** /proc/PID/cmdline split at its NULs. */
  cmdline: string[];
}

/** Field 22 (starttime) of a /proc/PID/stat line. */
export function startTimeOf(stat: string): string | null {
  // Field 2 is the command name in parentheses and may itself hold spaces
  // and parentheses: count fields from the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const rest = stat.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const v = rest[19];
  return v !== undefined && /^\d+$/.test(v) ? v : null;
}

/** The identity of a live process, or null when it is gone (or /proc hides it from us). */
export function procIdentity(pid: number): ProcIdentity | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const startTime = startTimeOf(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    // A zombie or a kernel thread has an empty cmdline; it is never one of ours to signal.
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (startTime === null || raw === '') return null;
    return { pid, startTime, cmdline: raw.replace(/\0$/, '').split('\0') };
  } catch {
    return null;
  }
}

/**
 * same: the recorded process is running; gone: no process has the pid;
 * other: the pid now belongs to another process (recycled); unknown: a
 * process has the pid but /proc does not show it to us (hidepid), or the
 * record has no identity to compare (written by an older harness).
 */
export type PidCheck = 'same' | 'gone' | 'other' | 'unknown';

export function checkProcess(rec: { pid: number; startTime?: string; cmdline?: string[] }): PidCheck {
  if (!Number.isInteger(rec.pid) || rec.pid <= 0) return 'gone';
  const now = procIdentity(rec.pid);
  if (!now) return pidAlive(rec.pid) ? 'unknown' : 'gone';
  if (rec.startTime === undefined || !Array.isArray(rec.cmdline)) return 'unknown';
  return now.startTime === rec.startTime && now.cmdline.length === rec.cmdline.length && now.cmdline.every((a, i) => a === rec.cmdline![i]) ? 'same' : 'other';
}

/**
 * Send sig to the recorded process only if it is still that process. The
 * check and the kill are two steps (Node has no pidfd), so a pid recycled in
 * between could still be hit; the window is microseconds against the
 * minutes-to-days a stale record lasts, which is the case this closes.
 */
export function signalRecorded(rec: { pid: number; startTime?: string; cmdline?: string[] }, sig: NodeJS.Signals): PidCheck {
  const c = checkProcess(rec);
  if (c !== 'same') return c;
  try {
    process.kill(rec.pid, sig);
    return 'same';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'unknown';
  }
}
