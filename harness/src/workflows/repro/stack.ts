// Which functions of a crash's stack say where the bug is. Both the facts
// drawn from a report (facts.ts) and "the same crash" (match.ts) rank by
// them; here so that facts.ts can use match.ts without match.ts reaching
// back into facts.ts. Pure.
import type { CrashReport } from '../../results/records.ts';
import { neverGuilty } from '../../oracle/index.ts';

/** Frames of the crash's own stack: RIP first, then the reliable frames of the main trace. */
export function stackFunctions(r: CrashReport): string[] {
  const out: string[] = [];
  const add = (fn: string) => {
    if (!out.includes(fn)) out.push(fn);
  };
  if (r.rip) add(r.rip.norm);
  for (const f of r.frames ?? []) if (f.reliable && (f.section === 'stack' || f.section === 'rip')) add(f.norm);
  return out;
}

// Scheduler, wait and syscall-entry plumbing: on every stack, never where a bug is.
const PLUMBING_RE = /^(?:__?schedule\w*|schedule\w*|io_schedule\w*|_{0,3}wait_\w+|wait_for_completion\w*|do_syscall_\w+|x64_sys_call|entry_SYSCALL\w*|syscall_exit\w*|ret_from_fork\w*|handle_mm_fault|__handle_mm_fault)$/;

/** Frames that say where the bug is: no reporting, trap, refcount-helper or entry frames; names as printed. */
export function significantFunctions(r: CrashReport): string[] {
  return stackFunctions(r).filter((f) => !neverGuilty(f) && !PLUMBING_RE.test(f));
}
