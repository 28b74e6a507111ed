// A repro's directory under the results root: repro.json (rewritten after
// every pass, so an interrupted search still says what it tried), the report
// as it came in, summary.txt for people, and the run directories of the
// guests it booted under runs/.
import { join } from 'node:path';
import { claimRun, newRunId } from '../../results/store.ts';
import { writeFileAtomic, writeJsonAtomic } from '../../host/fsutil.ts';
import type { ReproPlan, ReproSummary } from './plan.ts';
import type { PassRecord } from './loop.ts';

export type ReproStatus = 'running' | 'reproduced' | 'not-reproduced' | 'other-crash' | 'infra-error' | 'interrupted';

export interface ReproRecord {
  schema: 1;
  id: string;
  status: ReproStatus;
  reason: string;
  /** The command line that started it. */
  argv: string[];
  /** Where the report came from, and the copy kept here. */
  report: { given: string; copy: string };
  startedAt: string;
  endedAt: string | null;
  plan: {
    reported: { title: string; matchKey: string; kernel: string | null };
    kernel: ReproPlan['kernel'];
    candidates: Array<{ id: string; score: number; reasons: string[] }>;
    blocked: Array<{ id: string; why: string }>;
  };
  passes: PassRecord[];
  summary: ReproSummary | null;
}

export class ReproDir {
  private constructor(
    readonly dir: string,
    readonly record: ReproRecord,
  ) {}

  static async create(root: string, o: { argv: string[]; given: string; text: string; plan: ReproPlan }): Promise<ReproDir> {
    const { id, dir } = await claimRun(root, { makeId: () => `repro-${newRunId()}`, subdirs: ['runs'] });
    const copy = join(dir, 'report.txt');
    await writeFileAtomic(copy, o.text);
    const p = o.plan;
    const want = p.facts.crash.report;
    const rec: ReproRecord = {
      schema: 1,
      id,
      status: 'running',
      reason: '',
      argv: o.argv,
      report: { given: o.given, copy },
      startedAt: new Date().toISOString(),
      endedAt: null,
      plan: {
        reported: { title: want.title, matchKey: want.matchKey, kernel: want.header?.kernelVersion ?? null },
        kernel: p.kernel,
        candidates: p.candidates.map((c) => ({ id: c.id, score: c.score, reasons: c.reasons })),
        blocked: p.blocked.map((c) => ({ id: c.id, why: c.blocked ?? '' })),
      },
      passes: [],
      summary: null,
    };
    const d = new ReproDir(dir, rec);
    await d.save();
    return d;
  }

  get runsRoot(): string {
    return join(this.dir, 'runs');
  }

  private last: Promise<void> = Promise.resolve();

  /** Writes in order: a pass's save must not land after the final one. */
  save(): Promise<void> {
    const text = JSON.parse(JSON.stringify(this.record)) as ReproRecord;
    this.last = this.last.catch(() => {}).then(() => writeJsonAtomic(join(this.dir, 'repro.json'), text));
    return this.last;
  }

  async pass(p: PassRecord): Promise<void> {
    this.record.passes.push(p);
    await this.save();
  }

  async finish(status: ReproStatus, reason: string, summary: ReproSummary | null, text?: string): Promise<void> {
    this.record.status = status;
    this.record.reason = reason;
    this.record.summary = summary;
    this.record.endedAt = new Date().toISOString();
    await this.save();
    if (text !== undefined) await writeFileAtomic(join(this.dir, 'summary.txt'), text);
  }
}
