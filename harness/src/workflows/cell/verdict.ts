// Verdicts: each test judged against the known outcomes as it is recorded,
// reports no test took made a step of their own, and the run's status from
// its tests' verdicts.
import { label } from '../../results/table.ts';
import type { CrashReport, KernelArtifact, RunRecord, TestResult } from '../../results/records.ts';
import { blankResult } from '../../suites/context.ts';
import { applyKnown, failingVerdict } from '../../suites/known.ts';
import { symbolizeReport } from '../../oracle/index.ts';
import { Addr2lineSymbolizer } from '../../kernel/symbolize.ts';
import type { CellEnv, PreparedCell } from './plan.ts';

export type Ending = { status: RunRecord['status']; reason: string };

/** A test judged against the known outcomes for this kernel; `who` is the suite, or 'boot' for the harness's own steps. */
export function judgeKnown(p: PreparedCell, r: TestResult, who: string): void {
  applyKnown(r, who, p.known, { ...p.kernel, accel: p.accel.used });
}

/** Takes each test result: judged, numbered by pass, recorded, said. */
export class TestRecorder {
  /** The pass running now when a run repeats its tests, else 0 (no pass parameter). */
  pass = 0;

  constructor(
    private readonly p: PreparedCell,
    private readonly record: RunRecord,
    private readonly save: () => Promise<void>,
    private readonly progress: CellEnv['progress'],
  ) {}

  readonly onResult = async (r: TestResult): Promise<void> => {
    if (this.pass) r.params.pass = String(this.pass);
    judgeKnown(this.p, r, r.name === 'boot' ? 'boot' : this.p.suite.name);
    this.record.tests.push(r);
    this.progress('test', `${label(r)}: ${verdictWord(r)} in ${(r.durationMs / 1000).toFixed(1)} s${r.reason ? ` — ${r.reason}` : ''}`);
    await this.save();
  };
}

/**
 * Every report lands on a step: those no test took (between tests, at
 * teardown) become a step of their own, so none can go unjudged.
 */
export function addLooseStep(p: PreparedCell, record: RunRecord, crashes: CrashReport[]): void {
  const loose = crashes.filter((c) => !record.tests.some((t) => t.crashes.includes(c)));
  if (!loose.length) return;
  const r = blankResult('kernel', {}, 'console.log');
  r.status = 'crash';
  r.crashes = loose;
  r.reason = `kernel report outside any test: ${loose.map((c) => c.title).join('; ')}`;
  judgeKnown(p, r, 'boot');
  record.tests.push(r);
}

/** How a run that got through its passes ends: its verdicts, with the report that ended a guest named first. */
export function runEnding(record: RunRecord, enders: CrashReport[]): Ending {
  const v = verdictOfRun(record);
  const fatal = enders[0];
  if (v.status === 'fail' && fatal) return { status: 'fail', reason: `kernel report ended the run: ${fatal.title}; ${v.reason}` };
  return v;
}

/** The run's status from its tests' verdicts: only unexpected outcomes fail it. */
export function verdictOfRun(record: Pick<RunRecord, 'tests'>): Ending {
  const infra = record.tests.find((t) => t.verdict === 'error' || (!t.verdict && t.status === 'infra-error'));
  if (infra) return { status: 'infra-error', reason: `${label(infra)}: ${infra.reason}` };
  const bad = record.tests.filter((t) => (t.verdict ? failingVerdict(t.verdict) : t.status !== 'pass' && t.status !== 'skip'));
  const xfail = record.tests.filter((t) => t.verdict === 'xfail').length;
  const xpass = record.tests.filter((t) => t.verdict === 'xpass').length;
  const extra = [xfail ? `${xfail} expected failure${xfail > 1 ? 's' : ''}` : '', xpass ? `${xpass} unexpectedly passed (XPASS)` : ''].filter(Boolean).join(', ');
  if (bad.length) return { status: 'fail', reason: `${bad.length} of ${record.tests.length} tests failed unexpectedly${extra ? `; ${extra}` : ''}` };
  return { status: 'pass', reason: extra };
}

function verdictWord(r: TestResult): string {
  if (r.verdict === 'xfail') return `XFAIL (${r.status})`;
  if (r.verdict === 'xpass') return 'XPASS';
  return r.status.toUpperCase();
}

/**
 * With a vmlinux that has debug info (built kernels), stacks get file:line
 * and inlined callees. The same report objects sit in the run and in the test
 * that held them, so both are updated in place.
 */
export async function symbolizeCrashes(record: RunRecord, kernel: KernelArtifact, progress: CellEnv['progress']): Promise<void> {
  try {
    const sym = new Addr2lineSymbolizer({ vmlinux: kernel.vmlinux!, systemMap: kernel.systemMap, timeoutMs: 120000 });
    for (const c of record.crashes) Object.assign(c, await symbolizeReport(c, sym));
  } catch (e) {
    progress('run', `could not symbolize the crash stacks: ${(e as Error).message}`);
  }
}
