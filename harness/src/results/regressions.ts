// Which tests a commit broke: per cell and test, the last commit on which the
// test passed and the first after it on which it failed, kept only when the
// night's reruns show more than the flakiness the store measured before.
// These are what a night hands to bisection. findRegressions is pure; the
// loader below reads its input from the index.
import { fisherGreater } from './stats.ts';
import type { CommitPoint, ResultsIndex } from './db.ts';
import type { Verdict } from './records.ts';

export interface CellHistory {
  /** The store's identity of a cell (kernel.suite.mode.topology from the config's names) and the test in it. */
  cell: { key: string; test: string };
  /** The test's nights in the cell, oldest first, the night being judged last. */
  points: CommitPoint[];
}

export interface RegressionRule {
  /** Largest one-sided Fisher p-value (reruns now against runs before) still called a regression. */
  alpha: number;
  /** Nights up to the last pass whose main runs give the rate before. */
  window: number;
  /** Reruns that must all fail for a test that never failed before to be called a regression without the statistics. */
  hardReruns: number;
}

export const REGRESSION_RULE: RegressionRule = { alpha: 0.05, window: 30, hardReruns: 2 };

export interface Regression {
  cell: { key: string; test: string };
  /** Tree, ref, series and config of the kernel line: the range is bisected with it. */
  kernelKey: string;
  /** The last commit the test passed on, and the night. */
  good: { commit: string; night: string };
  /** The first commit after it the test failed on, and the night. */
  bad: { commit: string; night: string };
  /** The night judged (the bug still shows there). */
  now: { commit: string; night: string };
  evidence: {
    /** Main-run failures over main-run attempts up to the good night, within the window. */
    before: { failed: number; runs: number; nights: number };
    /** Rerun failures over reruns on the failing nights (good excluded). */
    reruns: { failed: number; runs: number };
    /** Main-run failures over attempts on the failing nights, for people (not in the test: these runs chose themselves). */
    main: { failed: number; runs: number };
    /** Fisher's one-sided p-value of the reruns against the rate before. */
    p: number;
    /** 'hard': every rerun failed and the test never had; 'rate': the p-value is below alpha. */
    by: 'hard' | 'rate';
    detail: string;
  };
}

const isFail = (v: Verdict) => v === 'fail';
const isPass = (v: Verdict) => v === 'pass' || v === 'xpass';
const counted = (vs: Verdict[]) => ({ failed: vs.filter(isFail).length, runs: vs.filter((v) => isFail(v) || isPass(v)).length });

/**
 * The regressions in the newest night of each history. A test regressed when:
 *
 * 1. good: the latest night on the kernel line (same kernel key and series as
 *    the night judged, with a commit) whose main run passed with no failure;
 * 2. every later night on the line that ran it failed in its main run (a night
 *    with only skips or harness errors says nothing and is passed over), the
 *    night judged among them; bad is the first of them;
 * 3. none of them is on the good commit, and bad's commit differs from it (a
 *    failure on the commit that passed is not a commit's doing);
 * 4. the reruns of those failing nights confirm it against the store's rate
 *    before (main-run attempts on the line up to good, `window` nights):
 *    either every rerun failed, there were at least `hardReruns`, and the test
 *    never failed before ('hard'); or Fisher's one-sided exact test of rerun
 *    failures against failures before gives p <= alpha ('rate').
 *
 * Only reruns are tested: a night reruns a test because its main run failed,
 * so the main runs' failures are the selection, not evidence (they are kept
 * in `evidence.main` for people). Reruns are the unbiased sample of "now".
 */
export function findRegressions(histories: readonly CellHistory[], rule: RegressionRule = REGRESSION_RULE): Regression[] {
  const out: Regression[] = [];
  for (const h of histories) {
    const now = h.points.at(-1);
    if (!now?.commit || !now.main.some(isFail)) continue;
    const line = h.points.filter((p) => p.commit && p.kernelKey === now.kernelKey && p.patchsetHash === now.patchsetHash);
    const informative = line.filter((p) => p.main.some(isFail) || p.main.some(isPass));
    let goodAt = informative.length - 1;
    while (goodAt >= 0 && !(informative[goodAt]!.main.some(isPass) && !informative[goodAt]!.main.some(isFail))) goodAt--;
    if (goodAt < 0) continue;
    const good = informative[goodAt]!;
    const failing = informative.slice(goodAt + 1);
    if (!failing.length || failing.some((p) => p.commit === good.commit)) continue;
    const bad = failing[0]!;
    const beforeNights = informative.slice(0, goodAt + 1).slice(-rule.window);
    const before = counted(beforeNights.flatMap((p) => p.main));
    const reruns = counted(failing.flatMap((p) => p.reruns));
    const main = counted(failing.flatMap((p) => p.main));
    if (!reruns.runs) continue;
    const p = fisherGreater(before.failed, before.runs, reruns.failed, reruns.runs);
    const hard = before.failed === 0 && reruns.failed === reruns.runs && reruns.runs >= rule.hardReruns;
    if (!hard && p > rule.alpha) continue;
    const detail = hard
      ? `failed all ${reruns.runs} reruns; never failed in ${before.runs} runs over ${beforeNights.length} nights before`
      : `failed ${reruns.failed} of ${reruns.runs} reruns against ${before.failed} of ${before.runs} runs over ${beforeNights.length} nights before (p = ${p.toPrecision(2)})`;
    out.push({
      cell: { ...h.cell },
      kernelKey: now.kernelKey,
      good: { commit: good.commit!, night: good.night },
      bad: { commit: bad.commit!, night: bad.night },
      now: { commit: now.commit, night: now.night },
      evidence: { before: { ...before, nights: beforeNights.length }, reruns, main, p, by: hard ? 'hard' : 'rate', detail },
    });
  }
  return out;
}

/**
 * The histories findRegressions judges for night `nightId`: every test that
 * failed in a main run that night, in every cell of the night, over the
 * nights up to it (the config's history window plus the night itself).
 */
export function regressionHistories(index: ResultsIndex, nightId: string, window = REGRESSION_RULE.window): CellHistory[] {
  const failed = new Map<string, { key: string; test: string }>();
  for (const t of index.tests(nightId)) if (t.role === 'main' && t.verdict === 'fail' && t.cell_key) failed.set(`${t.cell_key}\n${t.test_key}`, { key: t.cell_key, test: t.test_key });
  return [...failed.values()].map((cell) => ({ cell, points: index.commitHistory(cell.key, cell.test, { untilNight: nightId, limit: window + 1 }) }));
}
