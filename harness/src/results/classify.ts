// Tonight against history: which failures are regressions, which are flakes,
// what got fixed, which crash signatures are new. Pure: the store hands in
// verdict lists, this hands back classes with the numbers behind them.
import type { TestResult, TestStatus, Verdict } from './records.ts';

export type TestClass = 'regression' | 'flaky' | 'fixed' | 'new' | 'still-failing' | 'pass' | 'skip' | 'xfail' | 'xpass' | 'error' | 'gone';

/** Params that say which pass, boot or device, not which test. */
const VOLATILE = new Set(['dev', 'pass', 'boot', 'repeat']);

/** The params that choose what a test tests, sorted by name. */
export function identityParams(params: Record<string, string> | undefined): [string, string][] {
  return Object.entries(params ?? {})
    .filter(([k]) => !VOLATILE.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A test's identity within a cell: its name and the params that choose what it tests. */
export function testKey(t: Pick<TestResult, 'name' | 'params'>): string {
  const p = identityParams(t.params).map(([k, v]) => `${k}=${v}`);
  return p.length ? `${t.name}[${p.join(',')}]` : t.name;
}

const FROM_STATUS: Record<TestStatus, Verdict> = { pass: 'pass', fail: 'fail', timeout: 'fail', crash: 'fail', skip: 'skip', 'infra-error': 'error' };

/** Records written before verdicts existed carry only a status. */
export function verdictOf(t: Pick<TestResult, 'status' | 'verdict'>): Verdict {
  return t.verdict ?? FROM_STATUS[t.status];
}

export interface HistoryPoint {
  night: string;
  /** The test's main-run verdicts that night (one per pass). */
  verdicts: Verdict[];
}

export interface TestInput {
  /** Tonight's main run, one verdict per pass; empty when the test did not run tonight. */
  current: Verdict[];
  /** Tonight's reruns of this test. */
  reruns: Verdict[];
  /** The baseline night's verdicts, or null when the baseline did not run the test. */
  baseline: Verdict[] | null;
  /** The baseline night's reruns of the test (a failure there that passed on rerun was a flake, not a failure). */
  baselineReruns?: Verdict[];
  baselineNight: string | null;
  /** Earlier nights, oldest first, at most the history window. */
  history: HistoryPoint[];
  /** Whether any earlier night ran the test (history may be a window of it). */
  seenBefore: boolean;
}

export interface TestClassification {
  cls: TestClass;
  /** One line a person reads, e.g. "flaky 2/5, 14% over 30 nights". */
  detail: string;
  /** Failures over tonight's attempts (main run + reruns). */
  attempts: { failed: number; total: number };
  /** Nights with a failure, over the history window plus tonight. */
  nights: { failed: number; total: number };
}

const failed = (v: Verdict) => v === 'fail';
const passed = (v: Verdict) => v === 'pass' || v === 'xpass';
/** A baseline counts as failing when the test failed there, expected or not, and never passed (reruns included). */
const baselineBad = (vs: Verdict[]) => vs.some((v) => v === 'fail' || v === 'xfail') && !vs.some(passed);

function pct(n: number, d: number): string {
  return d ? `${Math.round((100 * n) / d)}%` : '0%';
}

export function classifyTest(i: TestInput): TestClassification {
  const ran = i.current.length > 0;
  const nightsFailed = i.history.filter((h) => h.verdicts.some(failed)).length + (i.current.some(failed) ? 1 : 0);
  const nights = { failed: nightsFailed, total: i.history.length + (ran ? 1 : 0) };
  const tries = [...i.current, ...i.reruns].filter((v) => failed(v) || passed(v));
  const attempts = { failed: tries.filter(failed).length, total: tries.length };
  const out = (cls: TestClass, detail: string): TestClassification => ({ cls, detail, attempts, nights });
  const rate = `${pct(nights.failed, nights.total)} over ${nights.total} night${nights.total === 1 ? '' : 's'}`;
  const since = i.baselineNight ? ` (passed on ${i.baselineNight})` : '';

  if (!ran) return out('gone', i.baselineNight ? `ran on ${i.baselineNight}, not tonight` : 'did not run tonight');
  if (!i.current.some(failed)) {
    if (i.current.every((v) => v === 'xfail')) return out('xfail', 'failed as expected');
    if (i.current.some((v) => v === 'xpass')) return out('xpass', 'expected to fail but passed: a fix, or a test that stopped testing');
    if (!i.current.some(passed)) return i.current.some((v) => v === 'error') ? out('error', 'the harness failed (not a verdict on the kernel)') : out('skip', 'skipped');
    const before = i.baseline ? [...i.baseline, ...(i.baselineReruns ?? [])] : (i.history.at(-1)?.verdicts ?? null);
    if (before && baselineBad(before)) return out('fixed', `passes now; failed on ${i.baseline ? i.baselineNight : i.history.at(-1)!.night}`);
    if (!i.seenBefore) return out('new', 'new test, passing');
    return out('pass', nights.failed ? `passing; ${rate} failed` : 'passing');
  }
  if (!i.seenBefore) return out('new', `new test, failing ${attempts.failed}/${attempts.total}`);
  if (attempts.failed < attempts.total) return out('flaky', `flaky ${attempts.failed}/${attempts.total}, ${rate}`);
  const before = i.baseline ? [...i.baseline, ...(i.baselineReruns ?? [])] : (i.history.at(-1)?.verdicts ?? null);
  if (before && baselineBad(before)) return out('still-failing', `still failing, ${rate}`);
  const reran = i.reruns.length ? `fails ${attempts.failed}/${attempts.total} with reruns` : `fails ${attempts.failed}/${attempts.total}, not rerun`;
  return out('regression', `${reran}${since}`);
}

/** Whether tonight's result asks for reruns: the test passed on the baseline and fails now. */
export function wantsRerun(current: Verdict[], baseline: Verdict[] | null): boolean {
  return current.some(failed) && baseline !== null && baseline.some(passed) && !baselineBad(baseline);
}

/** Order in reports: what needs a person first. */
export const CLASS_ORDER: TestClass[] = ['regression', 'new', 'flaky', 'still-failing', 'error', 'gone', 'fixed', 'xpass', 'xfail', 'skip', 'pass'];

export interface CrashSighting {
  signature: string;
  night: string;
  /** Position of the night in time (larger is later). */
  order: number;
}

export interface SignatureSummary {
  signature: string;
  isNew: boolean;
  firstSeen: string;
  lastSeen: string;
  /** Sightings (reports) across all nights up to and including this one. */
  count: number;
  nights: number;
}

/** New = never seen on an earlier night; known ones carry first/last seen and counts. Later nights are ignored. */
export function summarizeSignatures(sightings: CrashSighting[], night: string, nightOrder: number): SignatureSummary[] {
  const by = new Map<string, CrashSighting[]>();
  for (const s of sightings) if (s.order <= nightOrder) by.set(s.signature, [...(by.get(s.signature) ?? []), s]);
  const out: SignatureSummary[] = [];
  for (const [signature, list] of by) {
    if (!list.some((s) => s.night === night)) continue;
    const sorted = [...list].sort((a, b) => a.order - b.order);
    out.push({
      signature,
      isNew: sorted[0].night === night,
      firstSeen: sorted[0].night,
      lastSeen: sorted.filter((s) => s.night !== night).at(-1)?.night ?? night,
      count: list.length,
      nights: new Set(list.map((s) => s.night)).size,
    });
  }
  return out.sort((a, b) => Number(b.isNew) - Number(a.isNew) || (a.signature < b.signature ? -1 : 1));
}
