// The oracle never runs tools itself: whoever has the vmlinux for the kernel
// that ran passes a Symbolizer in (kernel/symbolize.ts has the addr2line one).
import type { CrashReport, Frame } from '../results/records.js';

export interface Symbolizer {
  /**
   * Return the frames with file/line (and `inlined` callees) filled in where
   * known; same length and order as the input. Must not throw for unknown symbols.
   */
  symbolize(frames: Frame[]): Promise<Frame[]>;
}

/** A copy of the report with its frames and RIP symbolized. */
export async function symbolizeReport(r: CrashReport, s: Symbolizer): Promise<CrashReport> {
  const frames = r.frames ?? [];
  const all = r.rip ? [r.rip, ...frames] : [...frames];
  if (all.length === 0) return r;
  const done = await s.symbolize(all);
  if (done.length !== all.length) throw new Error(`symbolizer returned ${done.length} frames for ${all.length}`);
  return r.rip ? { ...r, rip: done[0]!, frames: done.slice(1) } : { ...r, frames: done };
}
