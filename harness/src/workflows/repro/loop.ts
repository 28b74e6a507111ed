// The repro loop: run the ranked tests again and again in one booted guest
// (the guest reboots itself after a crash) until the reported crash comes
// back, any crash does (--any-crash), or the time budget is spent. Every
// other crash met on the way is kept and reported. The guest is an injected
// interface, so the loop is tested without one.
import type { CrashReport, TestStatus } from '../../results/records.ts';
import type { Candidate } from './candidates.ts';
import { matchCrash, type CrashMatch, type Sameness } from './match.ts';
import { wilson, type Rate } from './stats.ts';

/** One test's outcome in one pass. */
export interface TestRun {
  /** The candidate's id. */
  id: string;
  status: TestStatus;
  durationMs: number;
  /** Kernel reports the live oracle saw while the test ran. */
  crashes: CrashReport[];
  reason?: string;
}

/** One pass over the tests asked for. */
export interface Pass {
  /** One per test, in order; a test the guest did not get to (it died first) is absent. */
  runs: TestRun[];
  /** Reports seen outside any test (at boot, between tests). */
  crashes: CrashReport[];
  /** Time spent (re)booting the guest before the tests, or null when it was up. */
  bootMs: number | null;
  /** The guest or QEMU broke without a kernel report: the pass says nothing about the bug. */
  infraError: string | null;
  /** The run directory that holds the pass's console and logs, when there is one. */
  runDir?: string;
  /** Time inside the suite's own steps (its setup included): the rest of the pass is the loop's. */
  suiteMs?: number;
}

/**
 * What the loop needs from a guest. The lead implements it over the run
 * primitive: one plan (kernel, image, topology, the suites of the tests),
 * one guest kept up between passes.
 */
export interface ReproGuest {
  /**
   * Run these tests once each, in order. Boot first when no guest is up (the
   * first pass, or a crash took it down: guests run with oops=panic). Return
   * by `deadline` (epoch ms) where possible: time a test out rather than overrun.
   */
  runOnce(tests: readonly Candidate[], o: { deadline: number }): Promise<Pass>;
  /** Shut the guest down; called once, at the end, whatever happened. */
  close(): Promise<void>;
}

export interface LoopOptions {
  /** The reported crash. */
  want: CrashReport;
  /** Runnable tests, best first. */
  candidates: readonly Candidate[];
  budgetMs: number;
  /** Stop at any crash, not only the reported one. */
  anyCrash?: boolean;
  /** Runs of the reproducing test after its first reproduction, to measure the rate. */
  confirm?: number;
  /** Stop after this many passes (tests, benchmarks). */
  maxPasses?: number;
  now?: () => number;
  onPass?: (p: PassRecord) => void;
}

export interface PassRecord {
  index: number;
  test: string;
  status: TestStatus | 'infra-error' | 'not-run';
  durationMs: number;
  bootMs: number | null;
  matched: boolean;
  crashes: Array<{ title: string; verdict: Sameness }>;
  infraError: string | null;
  /** Loop time when the pass ended. */
  elapsedMs: number;
  runDir: string | null;
}

/** A crash met that is not the reported one. */
export interface MetCrash {
  report: CrashReport;
  verdict: Exclude<Sameness, 'same'>;
  why: string[];
  /** The test it happened in (null: at boot or between tests). */
  test: string | null;
  count: number;
  firstPass: number;
}

export interface TestTally {
  id: string;
  runs: number;
  /** Runs that showed the reported crash (or, with --any-crash, any crash). */
  hits: number;
  /** Runs that showed some other crash. */
  otherCrashes: number;
  infraErrors: number;
  /** Why the loop stopped trying it, if it did. */
  dropped: string | null;
  rate: Rate;
}

export type StopReason = 'reproduced' | 'any-crash' | 'budget' | 'passes' | 'no-tests';

export interface LoopResult {
  reproduced: boolean;
  stop: StopReason;
  /** The first run that showed the crash looked for. */
  first: { report: CrashReport; test: string; pass: number; match: CrashMatch; runDir: string | null } | null;
  /** Loop start to the end of that run (boots and earlier tests included). */
  timeToFirstMs: number | null;
  /** Rate of the test that reproduced it, over all its runs. */
  rate: Rate | null;
  tests: TestTally[];
  met: MetCrash[];
  passes: PassRecord[];
  elapsedMs: number;
}

/** A test whose passes break the guest this many times in a row is given up on. */
const INFRA_LIMIT = 2;

type Tally = TestTally & { weight: number; streak: number; rank: number };

/** What the loop knows between passes. */
interface LoopState {
  tallies: Map<string, Tally>;
  passes: PassRecord[];
  /** Other crashes met, by dedup key. */
  met: Map<string, MetCrash>;
  first: LoopResult['first'];
  timeToFirstMs: number | null;
  /** Runs of the reproducing test still to do for its rate. */
  confirmLeft: number;
}

type Ended = 'budget' | 'passes' | 'no-tests' | 'done';

export async function reproLoop(guest: ReproGuest, o: LoopOptions): Promise<LoopResult> {
  const now = o.now ?? Date.now;
  const start = now();
  const deadline = start + o.budgetMs;
  const st: LoopState = { tallies: new Map(), passes: [], met: new Map(), first: null, timeToFirstMs: null, confirmLeft: 0 };
  o.candidates.forEach((c, rank) => st.tallies.set(c.id, { id: c.id, runs: 0, hits: 0, otherCrashes: 0, infraErrors: 0, dropped: null, rate: wilson(0, 0), weight: Math.max(c.score, 1), streak: 0, rank }));
  const byId = new Map(o.candidates.map((c) => [c.id, c]));
  let ended: Ended = 'budget';

  try {
    for (;;) {
      const active = [...st.tallies.values()].filter((t) => t.dropped === null);
      const end = stopBeforePass(st, active, () => now() >= deadline, o.maxPasses);
      if (end) {
        ended = end;
        break;
      }
      const t = nextTest(st, active);
      if (st.first && t.dropped !== null) {
        st.confirmLeft = 0;
        continue;
      }
      const c: Candidate = byId.get(t.id)!;
      const pass = await guest.runOnce([c], { deadline });
      const { rec, hit } = judgePass(o, st, t, c, pass);
      rec.elapsedMs = now() - start;
      st.passes.push(rec);
      o.onPass?.(rec);
      if (st.first) st.confirmLeft--;
      else if (hit) {
        st.first = { report: hit.r, test: c.id, pass: rec.index, match: hit.m, runDir: rec.runDir };
        st.timeToFirstMs = rec.elapsedMs;
        st.confirmLeft = o.confirm ?? 0;
      }
    }
  } finally {
    await guest.close();
  }
  return loopResult(st, ended, now() - start);
}

/** Why the loop ends before another pass, or null to go on. The clock is read only when the earlier reasons do not hold. */
function stopBeforePass(st: LoopState, active: Tally[], pastDeadline: () => boolean, maxPasses: number | undefined): Ended | null {
  if (st.first && st.confirmLeft <= 0) return 'done';
  if (active.length === 0) return 'no-tests';
  if (pastDeadline()) return 'budget';
  if (maxPasses !== undefined && st.passes.length >= maxPasses) return 'passes';
  return null;
}

/**
 * After the first reproduction only its test runs (for the rate); before
 * it, tests take turns in proportion to their score (stride scheduling).
 */
function nextTest(st: LoopState, active: Tally[]): Tally {
  return st.first ? st.tallies.get(st.first.test)! : active.reduce((a, b) => ((b.runs + 1) / b.weight < (a.runs + 1) / a.weight ? b : a));
}

/** One pass of test `c` judged: its record, the crash it hit (the wanted one, or any with anyCrash), other crashes met, and the test's tally. */
function judgePass(o: LoopOptions, st: LoopState, t: Tally, c: Candidate, pass: Pass): { rec: PassRecord; hit: { r: CrashReport; m: CrashMatch } | null } {
  const index = st.passes.length;
  const run = pass.runs.find((r) => r.id === c.id);
  const rec: PassRecord = { index, test: c.id, status: run?.status ?? (pass.infraError ? 'infra-error' : 'not-run'), durationMs: run?.durationMs ?? 0, bootMs: pass.bootMs, matched: false, crashes: [], infraError: pass.infraError, elapsedMs: 0, runDir: pass.runDir ?? null };
  const seen: Array<{ r: CrashReport; test: string | null }> = [...(run?.crashes ?? []).map((r) => ({ r, test: c.id })), ...pass.crashes.map((r) => ({ r, test: null }))];
  let hit: { r: CrashReport; m: CrashMatch } | null = null;
  let other = false;
  for (const { r, test } of seen) {
    const m = matchCrash(o.want, r);
    rec.crashes.push({ title: r.title, verdict: m.verdict });
    if (m.verdict === 'same') {
      hit ??= { r, m };
      continue;
    }
    other = true;
    if (o.anyCrash) hit ??= { r, m };
    const k = r.dedupKey;
    const prev = st.met.get(k);
    if (prev) prev.count++;
    else st.met.set(k, { report: r, verdict: m.verdict, why: m.why, test, count: 1, firstPass: index });
  }
  if (pass.infraError && !run && seen.length === 0) {
    // Nothing learned: not a run of the test. Give up on a test that keeps breaking the guest.
    t.infraErrors++;
    if (++t.streak >= INFRA_LIMIT) t.dropped = `the guest broke ${t.streak} times in a row: ${pass.infraError}`;
  } else {
    t.streak = 0;
    if (run?.status === 'skip' && seen.length === 0) t.dropped = `skipped: ${run.reason ?? 'the test cannot run in this guest'}`;
    else {
      t.runs++;
      if (hit) t.hits++;
      if (other) t.otherCrashes++;
    }
  }
  rec.matched = hit !== null && hit.m.verdict === 'same';
  return { rec, hit };
}

function loopResult(st: LoopState, ended: Ended, elapsedMs: number): LoopResult {
  const { first } = st;
  const stop: StopReason = first ? (first.match.verdict === 'same' ? 'reproduced' : 'any-crash') : ended === 'done' ? 'budget' : ended;
  const tests = [...st.tallies.values()].map(({ weight: _w, streak: _s, rank: _r, ...t }) => ({ ...t, rate: wilson(t.hits, t.runs) }));
  const firstTally = first ? tests.find((x) => x.id === first.test)! : null;
  return {
    reproduced: first?.match.verdict === 'same',
    stop,
    first,
    timeToFirstMs: st.timeToFirstMs,
    rate: firstTally ? firstTally.rate : null,
    tests,
    met: [...st.met.values()],
    passes: st.passes,
    elapsedMs,
  };
}
