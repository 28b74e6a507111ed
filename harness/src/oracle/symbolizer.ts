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

/** A copy of the report with its frames and RIP symbolized, and those of the other CPUs it carries. */
export async function symbolizeReport(r: CrashReport, s: Symbolizer): Promise<CrashReport> {
  const frames = r.frames ?? [];
  const cpus = r.cpus ?? [];
  // One batch for everything: the symbolizer may run one tool per call.
  const all: Frame[] = r.rip ? [r.rip, ...frames] : [...frames];
  for (const c of cpus) {
    if (c.rip) all.push(c.rip);
    all.push(...c.frames);
  }
  if (all.length === 0) return r;
  const done = await s.symbolize(all);
  if (done.length !== all.length) throw new Error(`symbolizer returned ${done.length} frames for ${all.length}`);
  let at = 0;
  const take = (n: number) => done.slice(at, (at += n));
  const out: CrashReport = { ...r };
  if (r.rip) out.rip = take(1)[0]!;
  out.frames = take(frames.length);
  if (r.cpus) out.cpus = cpus.map((c) => ({ ...c, rip: c.rip ? take(1)[0]! : null, frames: take(c.frames.length) }));
  return out;
}
