// One night as every reporter sees it, read from the index: cells, tests with
// their class against the baseline and history, crash signatures new or known.
// Everything is ordered by keys (never by finishing order), so a night merged
// from shards reports exactly like the same night run in one piece.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { classifyTest, summarizeSignatures, CLASS_ORDER, type TestClass, type TestClassification } from './classify.ts';
import type { CellRow, CrashRow, KernelRow, NightRow, ReportRow, ResultsIndex, RunRow, TestRow } from './db.ts';
import type { Frame, PageDump, Verdict } from './records.ts';

export interface ReportTest extends TestClassification {
  cellKey: string;
  key: string;
  name: string;
  params: Record<string, string>;
  verdicts: Verdict[];
  rerunVerdicts: Verdict[];
  statuses: string[];
  /** Mean duration of tonight's main-run passes. */
  durationMs: number;
  reason: string;
  /** Log of the first failing (else first) pass, relative to the results root. */
  log: string;
  baselineNight: string | null;
  expectedWhy: string | null;
  crashes: string[];
  /** Night by night up to tonight (oldest first): failed or not, mean duration. */
  history: { night: string; failed: boolean; durationMs: number }[];
}

export interface ReportCell {
  key: string;
  axes: { kernel: string; suite: string; mode: string; topology: string };
  kernelKey: string;
  status: string;
  reason: string;
  baselineNight: string | null;
  runs: RunRow[];
  tests: ReportTest[];
}

export interface ReportCrash {
  signature: string;
  title: string;
  type: string;
  matchKey: string;
  reason: string;
  isNew: boolean;
  firstSeen: string;
  lastSeen: string;
  count: number;
  nights: number;
  pageDump: PageDump | null;
  frames: Frame[];
  lines: string[];
  where: { cellKey: string; testKey: string | null; runId: string }[];
}

/** A bug report (results/reports/<id>/) that tonight's results belong to: found, seen again or fixed tonight. */
export interface ReportBug {
  id: string;
  status: 'open' | 'fixed';
  title: string;
  matchKey: string;
  cellKey: string;
  testKey: string;
  /** The regression: the last commit that passed and the first that failed. */
  range: { good: string; bad: string };
  /** The commit a bisection blamed, once it has. */
  culprit: { commit: string | null; subject: string; author: string } | null;
  bisectId: string | null;
  fixed: { night: string; from: string; to: string } | null;
  /** The report's directory and its mail, relative to the results root (the mail once there is a culprit to write to). */
  dir: string;
  eml: string | null;
}

export interface NightReport {
  night: NightRow;
  origin: string;
  kernels: KernelRow[];
  cells: ReportCell[];
  /** Every test of the night, what needs a person first. */
  tests: ReportTest[];
  crashes: ReportCrash[];
  /** Bug reports of tonight's cells found, seen again or fixed tonight, by id. */
  reports: ReportBug[];
  counts: Record<TestClass, number>;
}

/** The reports on one test of a cell. */
export function reportsOn(r: Pick<NightReport, 'reports'>, cellKey: string, testKey: string): ReportBug[] {
  return r.reports.filter((b) => b.cellKey === cellKey && b.testKey === testKey);
}

/** One line for a report, in every plain-text reporter: what, who is blamed, where its bisection and mail are. */
export function reportLine(b: ReportBug): string {
  const parts = [`report ${b.id} (${b.status}): ${b.title}`];
  if (b.culprit) parts.push(`culprit ${b.culprit.commit ? `${b.culprit.commit.slice(0, 12)} ` : ''}("${b.culprit.subject}") by ${b.culprit.author}`);
  else parts.push(`appeared in ${b.range.good.slice(0, 12)}..${b.range.bad.slice(0, 12)}, not bisected yet`);
  if (b.bisectId) parts.push(`bisection ${b.bisectId}`);
  if (b.fixed) parts.push(`fixed in ${b.fixed.from.slice(0, 12)}..${b.fixed.to.slice(0, 12)} (night ${b.fixed.night})`);
  if (b.eml) parts.push(`mail ${b.eml}`);
  return parts.join('; ');
}

/**
 * The reports tonight's results belong to: on a cell that ran tonight, and
 * first seen, last seen or fixed tonight, or whose crash showed tonight.
 */
export function nightReports(rows: ReportRow[], o: { night: string; cells: string[]; matchKeys: string[]; root: string }): ReportBug[] {
  const cells = new Set(o.cells);
  const keys = new Set(o.matchKeys);
  return rows
    .filter((x) => cells.has(x.cell_key) && (x.first_seen_night === o.night || x.last_seen_night === o.night || x.fixed_night === o.night || keys.has(x.match_key)))
    .map((x) => ({
      id: x.id,
      status: x.status,
      title: x.title,
      matchKey: x.match_key,
      cellKey: x.cell_key,
      testKey: x.test_key,
      range: { good: x.good_commit, bad: x.bad_commit },
      culprit: x.culprit_subject !== null ? { commit: x.culprit_commit, subject: x.culprit_subject, author: x.culprit_author ?? '' } : null,
      bisectId: x.bisect_id,
      fixed: x.fixed_night && x.fixed_from && x.fixed_to ? { night: x.fixed_night, from: x.fixed_from, to: x.fixed_to } : null,
      dir: x.dir,
      eml: existsSync(join(o.root, x.dir, 'report.eml')) ? `${x.dir}/report.eml` : null,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

const mean = (xs: number[]) => (xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : 0);

export function loadNightReport(index: ResultsIndex, nightId: string): NightReport {
  const night = index.night(nightId);
  if (!night) throw new Error(`no night ${nightId} in the index`);
  const runsByCell = new Map<string, RunRow[]>();
  for (const r of index.runs(nightId)) runsByCell.set(r.cell_key ?? '', [...(runsByCell.get(r.cell_key ?? '') ?? []), r]);
  const crashRows = index.crashes(nightId);
  const cells: ReportCell[] = index.cells(nightId).map((c: CellRow) => reportCell(index, night, c, runsByCell, crashRows));
  const crashes = reportCrashes(index, nightId, crashRows);

  const tests = cells
    .flatMap((c) => c.tests)
    .sort((a, b) => CLASS_ORDER.indexOf(a.cls) - CLASS_ORDER.indexOf(b.cls) || (a.cellKey < b.cellKey ? -1 : a.cellKey > b.cellKey ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const counts = Object.fromEntries(CLASS_ORDER.map((k) => [k, 0])) as Record<TestClass, number>;
  for (const t of tests) counts[t.cls]++;
  const reports = nightReports(index.reports(), { night: nightId, cells: cells.map((c) => c.key), matchKeys: crashes.map((c) => c.matchKey), root: index.root });
  return { night, origin: night.origin ?? 'dax_harness', kernels: index.kernels(nightId), cells, tests, crashes, reports, counts };
}

/** One cell of the night with its tests, each classified against the cell's baseline night. */
function reportCell(index: ResultsIndex, night: NightRow, c: CellRow, runsByCell: Map<string, RunRow[]>, crashRows: CrashRow[]): ReportCell {
  const nightId = night.id;
  const baselineNight = night.baseline ?? index.previousNightWithCell(nightId, c.cell_key);
  const rows = index.tests(nightId, c.cell_key);
  const baseline = new Map<string, Verdict[]>();
  const baselineReruns = new Map<string, Verdict[]>();
  if (baselineNight)
    for (const t of index.tests(baselineNight, c.cell_key)) {
      const m = t.role === 'main' ? baseline : baselineReruns;
      m.set(t.test_key, [...(m.get(t.test_key) ?? []), t.verdict]);
    }
  const keys = [...new Set(rows.filter((r) => r.role === 'main').map((r) => r.test_key))];
  // Tests the baseline ran and tonight's finished cell did not.
  if (c.status !== 'not-run' && c.status !== 'infra-error') for (const k of baseline.keys()) if (!keys.includes(k)) keys.push(k);
  keys.sort();
  const tests = keys.map((key) => reportTest(index, night, c, key, { rows, baseline, baselineReruns, baselineNight, runsByCell, crashRows }));
  return {
    key: c.cell_key,
    axes: { kernel: c.kernel, suite: c.suite, mode: c.mode, topology: c.topology },
    kernelKey: c.kernel_key,
    status: c.status,
    reason: c.reason,
    baselineNight,
    runs: runsByCell.get(c.cell_key) ?? [],
    tests,
  };
}

/** What reportTest reads besides the index: the cell's rows of tonight and its baseline's verdicts by test. */
interface CellContext {
  rows: TestRow[];
  baseline: Map<string, Verdict[]>;
  baselineReruns: Map<string, Verdict[]>;
  baselineNight: string | null;
  runsByCell: Map<string, RunRow[]>;
  crashRows: CrashRow[];
}

/** One test of a cell: tonight's passes and reruns, its class, its history and the crashes it hit. */
function reportTest(index: ResultsIndex, night: NightRow, c: CellRow, key: string, x: CellContext): ReportTest {
  const nightId = night.id;
  const { rows, baseline, baselineReruns, baselineNight, runsByCell, crashRows } = x;
  const main = rows.filter((r) => r.test_key === key && r.role === 'main');
  const reruns = rows.filter((r) => r.test_key === key && r.role === 'rerun');
  const hist = index.history(c.cell_key, key, { untilNight: nightId, limit: night.history_nights + 1 });
  const earlier = hist.filter((h) => h.night !== nightId);
  // The window is at least two nights, so any earlier night shows up in it.
  const seenBefore = earlier.length > 0;
  const verdicts = main.map((r) => r.verdict);
  const cls = classifyTest({
    current: verdicts,
    reruns: reruns.map((r) => r.verdict),
    baseline: baselineNight ? (baseline.get(key) ?? null) : null,
    baselineReruns: baselineReruns.get(key) ?? [],
    baselineNight,
    history: earlier.slice(-night.history_nights).map((h) => ({ night: h.night, verdicts: h.verdicts })),
    seenBefore,
  });
  const bad = main.find((r) => r.verdict === 'fail' || r.verdict === 'error') ?? main[0];
  const run = bad ? runsByCell.get(c.cell_key)?.find((r) => r.id === bad.run_id) : undefined;
  const sample = main[0];
  return {
    ...cls,
    cellKey: c.cell_key,
    key,
    name: sample?.name ?? key.replace(/\[.*$/, ''),
    params: sample ? (JSON.parse(sample.params) as Record<string, string>) : {},
    verdicts,
    rerunVerdicts: reruns.map((r) => r.verdict),
    statuses: main.map((r) => r.status),
    durationMs: mean(main.map((r) => r.duration_ms)),
    reason: bad?.reason ?? '',
    log: bad && run && bad.log ? `${run.dir}/${bad.log}` : '',
    baselineNight,
    expectedWhy: sample?.expected ? ((JSON.parse(sample.expected) as { why?: string }).why ?? null) : null,
    crashes: [...new Set(crashRows.filter((x) => x.cell_key === c.cell_key && x.test_key === key).map((x) => x.dedup_key))].sort(),
    history: hist.map((h) => ({ night: h.night, failed: h.verdicts.some((v) => v === 'fail'), durationMs: mean(h.durationsMs) })),
  };
}

/** The night's crash signatures, each new or known from earlier nights, with where it was seen tonight. */
function reportCrashes(index: ResultsIndex, nightId: string, crashRows: CrashRow[]): ReportCrash[] {
  const order = index.nightOrder(nightId);
  const nightOrders = new Map(index.nights().map((n, i) => [n.id, i]));
  const sigs = [...new Set(crashRows.map((c) => c.dedup_key))].sort();
  const summaries = summarizeSignatures(
    index.sightings(sigs).map((s) => ({ signature: s.signature, night: s.night, order: nightOrders.get(s.night) ?? 0 })),
    nightId,
    order,
  );
  return summaries.map((s) => {
    const rows = crashRows.filter((c) => c.dedup_key === s.signature);
    const c = rows[0];
    return {
      signature: s.signature,
      title: c.title,
      type: c.type,
      matchKey: c.match_key,
      reason: c.reason,
      isNew: s.isNew,
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      count: s.count,
      nights: s.nights,
      pageDump: c.page_dump ? (JSON.parse(c.page_dump) as PageDump) : null,
      frames: c.frames ? (JSON.parse(c.frames) as Frame[]) : [],
      lines: JSON.parse(c.lines) as string[],
      // Once per cell and test (reruns hit the same place again).
      where: [...new Map(rows.map((r) => [`${r.cell_key}\n${r.test_key}`, { cellKey: r.cell_key ?? '', testKey: r.test_key, runId: r.run_id }])).values()].sort((a, b) =>
        a.cellKey + (a.testKey ?? '') < b.cellKey + (b.testKey ?? '') ? -1 : 1,
      ),
    };
  });
}

/** Exit status of a night: 1 when it found something new and bad, 3 when the harness failed cells, else 0. */
export function nightExitCode(r: NightReport): number {
  if (r.counts.regression || r.crashes.some((c) => c.isNew) || r.tests.some((t) => t.cls === 'new' && t.attempts.failed)) return 1;
  if (r.cells.some((c) => c.status === 'infra-error' || c.status === 'not-run') || r.counts.error) return 3;
  return 0;
}
