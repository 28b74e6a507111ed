// How far long work has got and how long the rest should take, as text for a
// progress line: a kernel build (objects compiled against the count of the
// last build of that config), a night (cells done against the mean of those
// finished) and a bisection (steps judged against what a binary search over
// the candidates left still needs). Pure: the callers bring counts and times.

/** 45s, 4m10s, 1h05m: short enough for a status line. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Time left when `done` of `total` took `elapsedMs` at a steady pace; null when nothing is done yet or the total is unknown or passed. */
export function remainingMs(done: number, total: number | null, elapsedMs: number): number | null {
  if (total === null || done <= 0 || done >= total) return null;
  return (elapsedMs / done) * (total - done);
}

// kbuild's quiet lines for an object it compiles or assembles: "  CC      fs/dax.o", "  CC [M]  drivers/nvdimm/pmem.o".
const OBJECT_LINE = /^ {2}(?:CC|AS)(?: \[M\])? +\S+\.o$/;

/** Counts the objects make reports in output that arrives in chunks cut anywhere. */
export class ObjectCounter {
  count = 0;
  private partial = '';

  /** Feed a chunk; returns the count so far. */
  push(chunk: string): number {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!;
    for (const l of lines) if (OBJECT_LINE.test(l.replace(/\r$/, ''))) this.count++;
    return this.count;
  }
}

/** The build's status: objects so far against the last build's count, with the ETA that pace gives. */
export function buildStatus(o: { done: number; expected: number | null; elapsedMs: number }): string {
  if (o.expected === null) return `${o.done} objects compiled (no ETA: no earlier build of this config to compare with)`;
  if (o.done >= o.expected) return `${o.done} objects compiled, past the ${o.expected} of the last build (ETA unknown)`;
  const pct = Math.floor((100 * o.done) / o.expected);
  const left = remainingMs(o.done, o.expected, o.elapsedMs);
  return `${o.done}/${o.expected} objects (${pct}%)${left === null ? '' : `, ETA ${formatDuration(left)}`}`;
}

/** A night's progress after a cell ends: N/M, and an ETA from the mean of the cells that ran, `parallel` at a time. */
export function cellsStatus(o: { done: number; total: number; durationsMs: readonly number[]; parallel: number }): string {
  const head = `${o.done}/${o.total} cells`;
  if (o.done >= o.total) return `${head}, all done`;
  if (!o.durationsMs.length) return `${head} (no ETA until a cell has run)`;
  const mean = o.durationsMs.reduce((a, b) => a + b, 0) / o.durationsMs.length;
  const left = (o.total - o.done) * mean / Math.max(1, Math.min(o.parallel, o.total - o.done));
  return `${head}, ETA ${formatDuration(left)} (mean ${formatDuration(mean)} a cell over ${o.durationsMs.length})`;
}

/** Steps a binary search still needs to narrow `candidates` to one: ⌈log2 n⌉. */
export function searchSteps(candidates: number): number {
  return candidates <= 1 ? 0 : Math.ceil(Math.log2(candidates));
}

/**
 * A bisection's progress: `step` kernels judged so far (this one included),
 * the change known to sit after `lo` and at or before `hi`. What is left: a
 * binary search over hi - lo candidates, then one kernel to verify the culprit
 * (the series without it). An estimate: flaky steps take more runs, not more steps.
 */
export function bisectStatus(o: { step: number; lo: number; hi: number; unit: 'patch' | 'commit' }): string {
  const n = o.hi - o.lo;
  const about = o.step + searchSteps(n) + 1;
  const known = n <= 1 ? `the change is ${o.unit} ${o.hi}; verifying it` : `the change is one of ${o.unit === 'patch' ? 'patches' : 'commits'} ${o.lo + 1}..${o.hi} (${n} left)`;
  return `step ${o.step} of about ${about}: ${known}`;
}
