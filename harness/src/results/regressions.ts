// Which tests a commit broke: per cell and test, the last commit on which the
// test passed and the first after it on which it failed, kept only when the
// runs since (reruns above all) show more than the flakiness the store
// measured before.
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
  /** Runs after good that must all fail, on a test that never failed before, to be called a regression without the statistics. */
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
  /** The night judged (the bug shows there). */
  now: { commit: string; night: string };
  evidence: {
    /** Main-run failures over attempts on the nights up to good (the last `window` of them). */
    before: { failed: number; runs: number; nights: number };
    /** After good: every rerun, and the main runs of every night but the one judged. */
    after: { failed: number; runs: number };
    /** The judged night's main run: why it is judged, so not evidence; for people. */
    judged: { failed: number; runs: number };
    /** Fisher's one-sided p-value of after against before. */
    p: number;
    /** 'hard': every run after failed and none before had; 'rate': the p-value is at most alpha. */
    by: 'hard' | 'rate';
    detail: string;
  };
}

const isFail = (v: Verdict) => v === 'fail';
const isPass = (v: Verdict) => v === 'pass' || v === 'xpass';
const counted = (vs: Verdict[]) => ({ failed: vs.filter(isFail).length, runs: vs.filter((v) => isFail(v) || isPass(v)).length });
const cleanPass = (p: CommitPoint) => p.main.some(isPass) && !p.main.some(isFail);

/**
 * The regressions in the newest night of each history. The night judged must
 * have failed in its main run. Its kernel line is the nights with a commit and
 * the same kernel key and series; nights with only skips or harness errors say
 * nothing and are passed over. Each night of the line whose main run passed
 * with no failure is a candidate `good`, provided no later night is on its
 * commit (a failure on a commit that passed is not a commit's doing). For a
 * candidate:
 *
 *   before = main runs of the nights up to and including it (`window` nights);
 *   after  = every rerun after it, and the main runs of the nights after it
 *            but the one judged (that one is why we look: it is the selection,
 *            not evidence; a night reruns only because its main run failed,
 *            so reruns are fresh samples);
 *   it holds when every run after failed (at least `hardReruns`) and none
 *   before had ('hard'), or Fisher's one-sided exact test of after against
 *   before gives p <= alpha ('rate').
 *
 * The candidate kept is the strongest (hard first, then the smallest p; on a
 * tie the earlier, whose range holds the other's). bad is the first night
 * after it that failed. A flaky bug can pass on its own commit: that pass is
 * not a candidate while the bug shows again on the commit, so it cannot hide
 * the regression; it counts as an "after" run against it instead.
 */
export function findRegressions(histories: readonly CellHistory[], rule: RegressionRule = REGRESSION_RULE): Regression[] {
  const out: Regression[] = [];
  for (const h of histories) {
    const now = h.points.at(-1);
    if (!now?.commit || !now.main.some(isFail)) continue;
    const line = h.points.filter((p) => p.commit && p.kernelKey === now.kernelKey && p.patchsetHash === now.patchsetHash && (p.main.some(isFail) || p.main.some(isPass)));
    let best: { i: number; score: number; p: number; hard: boolean; before: ReturnType<typeof counted>; nights: number; after: ReturnType<typeof counted> } | null = null;
    for (let i = 0; i < line.length - 1; i++) {
      const later = line.slice(i + 1);
      if (!cleanPass(line[i]!) || later.some((p) => p.commit === line[i]!.commit)) continue;
      const beforeNights = line.slice(0, i + 1).slice(-rule.window);
      const before = counted(beforeNights.flatMap((p) => p.main));
      const after = counted([...later.flatMap((p) => p.reruns), ...later.slice(0, -1).flatMap((p) => p.main)]);
      if (!after.runs) continue;
      const p = fisherGreater(before.failed, before.runs, after.failed, after.runs);
      const hard = before.failed === 0 && after.failed === after.runs && after.runs >= rule.hardReruns;
      const score = hard ? -1 : p;
      if (!best || score < best.score) best = { i, score, p, hard, before, nights: beforeNights.length, after };
    }
    if (!best || (!best.hard && best.p > rule.alpha)) continue;
    const good = line[best.i]!;
    const bad = line.slice(best.i + 1).find((p) => p.main.some(isFail))!;
    const { before, after } = best;
    const detail = best.hard
      ? `failed all ${after.runs} runs after ${good.commit!.slice(0, 12)}; never failed in ${before.runs} runs over ${best.nights} nights up to it`
      : `failed ${after.failed} of ${after.runs} runs after ${good.commit!.slice(0, 12)} against ${before.failed} of ${before.runs} runs over ${best.nights} nights up to it (p = ${best.p.toPrecision(2)})`;
    out.push({
      cell: { ...h.cell },
      kernelKey: now.kernelKey,
      good: { commit: good.commit!, night: good.night },
      bad: { commit: bad.commit!, night: bad.night },
      now: { commit: now.commit, night: now.night },
      evidence: { before: { ...before, nights: best.nights }, after, judged: counted(now.main), p: best.p, by: best.hard ? 'hard' : 'rate', detail },
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
