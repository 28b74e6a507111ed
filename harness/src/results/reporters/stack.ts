// A crash's stack as people read it in every report (HTML, report.eml): the
// frame as the kernel printed it, then where the symbolizer placed it, and
// the calls it found inlined there.
import type { Frame } from '../records.ts';

const where = (f: Pick<Frame, 'file' | 'line'>) => (f.file ? `  ${f.file}${f.line ? `:${f.line}` : ''}` : '');

/** One entry per frame (several lines when the symbolizer found inlined calls), for the stack and RIP sections only. */
export function stackLines(frames: readonly Frame[]): string[] {
  return frames
    .filter((f) => f.section === 'stack' || f.section === 'rip')
    .map((f) => `${f.reliable ? '' : '? '}${f.fn}${f.offset !== null ? `+0x${f.offset.toString(16)}` : ''}${f.module ? ` [${f.module}]` : ''}${where(f)}${(f.inlined ?? []).map((x) => `\n    (inlined) ${x.fn}${where(x)}`).join('')}`);
}
