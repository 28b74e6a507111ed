// How many make jobs a build may start: the machine's cores minus the vCPUs
// of the guests this process is running, so a build next to a guest does not
// starve it (a starved guest trips soft-lockup and RCU-stall detectors, which
// the oracle would report as the kernel's fault). Guests of other processes
// are not counted: make runs niced, so they still win the cores they use.
import { availableParallelism } from 'node:os';

/** vCPUs of each guest this process is running. */
const guests = new Map<symbol, number>();

/** Count a started guest's vCPUs until the returned function is called (once it has exited). */
export function guestStarted(vcpus: number): () => void {
  const token = Symbol('guest');
  guests.set(token, vcpus);
  return () => guests.delete(token);
}

/** vCPUs of the guests this process is running now. */
export function runningGuestCpus(): number {
  let n = 0;
  for (const c of guests.values()) n += c;
  return n;
}

/** make's -j when the caller gave none: cores minus running guests' vCPUs, at least 1. */
export function defaultMakeJobs(cores = availableParallelism(), guestCpus = runningGuestCpus()): number {
  return Math.max(1, Math.floor(cores) - Math.max(0, Math.floor(guestCpus)));
}

/** The -j a make call uses: the caller's value when given (--jobs), else the default above, computed now. */
export function makeJobs(explicit?: number): number {
  return explicit !== undefined && explicit > 0 ? explicit : defaultMakeJobs();
}
