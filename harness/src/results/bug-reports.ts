// Reports: one per bug a night found and a bisection blamed (or is blaming),
// from the night it was first seen until a later night shows it fixed. Each
// lives in results/reports/<id>/ (report.json, and report.eml once there is a
// culprit to write to), written atomically; the index's reports table is
// read from these files, so losing the index loses no report.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonical, sha256, writeFileAtomic, writeJsonAtomic } from '../host/fsutil.ts';
import { childPath, isSafeId } from '../host/limits.ts';
import { rateLowerBound, runsNeeded } from './stats.ts';
import type { ResultsIndex } from './db.ts';
import type { Regression } from './regressions.ts';

export interface BugReportRecord {
  schema: 1;
  id: string;
  status: 'open' | 'fixed';
  /**
   * What a later night must show for the bug to be "still there": a crash's
   * match key, or failureKey(cell, test) for a test that fails without a
   * kernel report.
   */
  matchKey: string;
  title: string;
  cell: { key: string; test: string };
  /** The kernel line (tree, ref, series, config) the commits belong to. */
  kernelKey: string;
  /** The regression: the last commit that passed and the first that failed. */
  range: { good: string; bad: string };
  culprit: { commit: string | null; subject: string; author: string; link: string | null } | null;
  /** The bisection that named the culprit (or is looking for it). */
  bisect: string | null;
  /** How often the bug shows per run where it is: the fixed rule needs it. */
  rate: { hits: number; runs: number } | null;
  firstSeen: { night: string; commit: string };
  lastSeen: { night: string; commit: string };
  fixed: { night: string; range: { from: string; to: string }; cleanRuns: number; needed: number } | null;
  createdAt: string;
  updatedAt: string;
}

export const reportsRoot = (resultsRoot: string) => join(resultsRoot, 'reports');

const FAILURE_PREFIX = 'failure|';

/** The match key of a regression without a kernel report: the test failing in its cell is the bug showing. */
export const failureKey = (cellKey: string, testKey: string) => `${FAILURE_PREFIX}${cellKey}|${testKey}`;

/** A report's id: the night it was first seen and a hash of what makes it this bug (a later regression of the same crash is another report). */
export function reportId(r: Pick<BugReportRecord, 'matchKey' | 'cell' | 'range' | 'firstSeen'>): string {
  const night = r.firstSeen.night.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  return `${night}-${sha256(canonical([r.matchKey, r.cell.key, r.cell.test, r.range.bad])).slice(0, 12)}`;
}

/** A new open report for a regression the night found. */
export function openBugReport(g: Regression, o: { matchKey: string; title: string; now: Date; rate?: BugReportRecord['rate']; bisect?: string | null }): BugReportRecord {
  const firstSeen = { night: g.bad.night, commit: g.bad.commit };
  const base = { matchKey: o.matchKey, cell: { key: g.cell.key, test: g.cell.test }, range: { good: g.good.commit, bad: g.bad.commit }, firstSeen };
  return {
    schema: 1,
    id: reportId(base),
    status: 'open',
    ...base,
    title: o.title,
    kernelKey: g.kernelKey,
    culprit: null,
    bisect: o.bisect ?? null,
    rate: o.rate ?? null,
    lastSeen: { night: g.now.night, commit: g.now.commit },
    fixed: null,
    createdAt: o.now.toISOString(),
    updatedAt: o.now.toISOString(),
  };
}

/** Writes a report's record (and its mail, when given) into results/reports/<id>/. */
export async function saveBugReport(resultsRoot: string, r: BugReportRecord, eml?: string): Promise<string> {
  const dir = childPath(reportsRoot(resultsRoot), r.id);
  if (!dir) throw new Error(`report id ${JSON.stringify(r.id).slice(0, 80)} is not a plain name`);
  await mkdir(dir, { recursive: true });
  if (eml !== undefined) await writeFileAtomic(join(dir, 'report.eml'), eml);
  await writeJsonAtomic(join(dir, 'report.json'), r);
  return dir;
}

const isCommit = (v: unknown) => typeof v === 'string' && v.length > 0;
const isSeen = (v: unknown) => typeof v === 'object' && v !== null && typeof (v as { night?: unknown }).night === 'string' && isCommit((v as { commit?: unknown }).commit);

/** Enough of a record to index and judge; anything less is a half-written or foreign file and is skipped. */
function wellFormed(r: unknown, dirName: string): r is BugReportRecord {
  const x = r as Partial<BugReportRecord> | null;
  return (
    !!x && x.id === dirName && (x.status === 'open' || x.status === 'fixed') && typeof x.matchKey === 'string' && typeof x.title === 'string' &&
    typeof x.cell?.key === 'string' && typeof x.cell.test === 'string' && typeof x.kernelKey === 'string' && isCommit(x.range?.good) && isCommit(x.range?.bad) &&
    isSeen(x.firstSeen) && isSeen(x.lastSeen) && typeof x.updatedAt === 'string'
  );
}

/** Every readable report under the results root, by id. */
export async function loadBugReports(resultsRoot: string): Promise<{ record: BugReportRecord; dir: string }[]> {
  const root = reportsRoot(resultsRoot);
  const names = (await readdir(root).catch(() => [] as string[])).filter(isSafeId).sort();
  const out: { record: BugReportRecord; dir: string }[] = [];
  for (const n of names) {
    try {
      const r: unknown = JSON.parse(await readFile(join(root, n, 'report.json'), 'utf8'));
      if (wellFormed(r, n)) out.push({ record: r, dir: join(root, n) });
    } catch {
      // Not a report directory, or its record is being written for the first time.
    }
  }
  return out;
}

// ---- fixed detection ----

/** One night after the report's last sighting, as the fixed rule reads it. */
export interface FixNight {
  night: string;
  /** The commit the night built for the report's cell; null when it is not on a git line. */
  commit: string | null;
  /** Whether the bug showed that night (its match key, in any cell). */
  sawKey: boolean;
  /** Runs of the report's test in its cell that passed that night (main run and reruns). */
  cleanRuns: number;
  /** False when the commit does not descend from the last commit the bug was seen on (a ref moved back): the night says nothing of a fix. */
  descends?: boolean;
}

export interface FixRule {
  /** Chance, at most, that a bug still there would have shown in none of the clean runs counted. */
  miss: number;
  /** Confidence of the lower bound put on the bug's measured rate. */
  level: number;
}

export const FIX_RULE: FixRule = { miss: 0.05, level: 0.95 };

export type FixVerdict = {
  /** The last sighting after these nights (a night that saw the bug again moves it). */
  lastSeen: { night: string; commit: string };
  cleanRuns: number;
  needed: number;
} & ({ fixed: true; night: string; range: { from: string; to: string } } | { fixed: false; why: string });

/**
 * The fixed rule. A report is fixed on the first night by which, since the
 * bug was last seen, its test has passed in its cell at least `needed` times
 * on commits after the last one the bug was seen on, and the bug's match key
 * appeared on none of those nights (in any cell). needed = the clean runs in
 * which a bug of the measured rate's lower bound (`level` confidence) would
 * show at least once with probability 1 - miss: ceil(ln miss / ln(1 - rate)).
 * A night that sees the key again starts the count over from it. Runs on the
 * last-seen commit itself do not count (the code did not change: a bug that
 * stops showing there is luck, not a fix), nor runs on a commit that does not
 * descend from it. The fix lies in (range.from, range.to]: from the last
 * commit it was seen on to the commit of the night that completed the count.
 * Without a measured rate no count is enough: the report stays open.
 */
export function judgeFixed(r: Pick<BugReportRecord, 'rate' | 'lastSeen'>, nights: readonly FixNight[], rule: FixRule = FIX_RULE): FixVerdict {
  const rate = r.rate && r.rate.hits > 0 && r.rate.runs >= r.rate.hits ? rateLowerBound(r.rate.hits, r.rate.runs, rule.level) : 0;
  const needed = runsNeeded(rate, rule.miss);
  let lastSeen = { ...r.lastSeen };
  let clean = 0;
  for (const n of nights) {
    if (n.sawKey) {
      lastSeen = { night: n.night, commit: n.commit ?? lastSeen.commit };
      clean = 0;
      continue;
    }
    if (!n.commit || n.commit === lastSeen.commit || n.descends === false) continue;
    clean += n.cleanRuns;
    if (clean >= needed) return { fixed: true, night: n.night, range: { from: lastSeen.commit, to: n.commit }, cleanRuns: clean, needed, lastSeen };
  }
  const why = Number.isFinite(needed)
    ? `${clean} of the ${needed} clean runs after ${lastSeen.commit.slice(0, 12)} (last seen on ${lastSeen.night}) that would show a bug of this rate`
    : 'the bug has no measured rate, so no number of clean runs shows it gone';
  return { fixed: false, why, cleanRuns: clean, needed, lastSeen };
}

/** What the fixed rule needs from the index: the nights after the report's last sighting that ran its cell. */
export function fixNights(index: ResultsIndex, r: Pick<BugReportRecord, 'matchKey' | 'cell' | 'lastSeen'>): FixNight[] {
  const failure = r.matchKey.startsWith(FAILURE_PREFIX);
  return index.cellNightsAfter(r.cell.key, r.lastSeen.night).map(({ night, commit }) => {
    const verdicts = index.tests(night, r.cell.key).filter((t) => t.test_key === r.cell.test).map((t) => t.verdict);
    const sawKey = failure ? verdicts.includes('fail') : index.matchKeySeen(night, r.matchKey);
    return { night, commit, sawKey, cleanRuns: verdicts.filter((v) => v === 'pass' || v === 'xpass').length };
  });
}
