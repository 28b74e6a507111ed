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

export async function reproLoop(guest: ReproGuest, o: LoopOptions): Promise<LoopResult> {
  const now = o.now ?? Date.now;
  const start = now();
  const deadline = start + o.budgetMs;
  type Tally = TestTally & { weight: number; streak: number; rank: number };
  const tallies = new Map<string, Tally>();
  o.candidates.forEach((c, rank) => tallies.set(c.id, { id: c.id, runs: 0, hits: 0, otherCrashes: 0, infraErrors: 0, dropped: null, rate: wilson(0, 0), weight: Math.max(c.score, 1), streak: 0, rank }));
  const byId = new Map(o.candidates.map((c) => [c.id, c]));
  const passes: PassRecord[] = [];
  const met = new Map<string, MetCrash>();
  let first: LoopResult['first'] = null;
  let timeToFirstMs: number | null = null;
  let confirmLeft = 0;
  let ended: 'budget' | 'passes' | 'no-tests' | 'done' = 'budget';

  try {
    for (;;) {
      const active = [...tallies.values()].filter((t) => t.dropped === null);
      if (first && confirmLeft <= 0) {
        ended = 'done';
        break;
      }
      if (active.length === 0) {
        ended = 'no-tests';
        break;
      }
      if (now() >= deadline) {
        ended = 'budget';
        break;
      }
      if (o.maxPasses !== undefined && passes.length >= o.maxPasses) {
        ended = 'passes';
        break;
      }
      // After the first reproduction only its test runs (for the rate); before
      // it, tests take turns in proportion to their score (stride scheduling).
      const t: Tally = first ? tallies.get(first.test)! : active.reduce((a, b) => ((b.runs + 1) / b.weight < (a.runs + 1) / a.weight ? b : a));
      if (first && t.dropped !== null) {
        confirmLeft = 0;
        continue;
      }
      const c: Candidate = byId.get(t.id)!;
      const pass = await guest.runOnce([c], { deadline });
      const index = passes.length;
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
        const prev = met.get(k);
        if (prev) prev.count++;
        else met.set(k, { report: r, verdict: m.verdict, why: m.why, test, count: 1, firstPass: index });
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
      rec.elapsedMs = now() - start;
      passes.push(rec);
      o.onPass?.(rec);
      if (first) confirmLeft--;
      else if (hit) {
        first = { report: hit.r, test: c.id, pass: index, match: hit.m, runDir: rec.runDir };
        timeToFirstMs = rec.elapsedMs;
        confirmLeft = o.confirm ?? 0;
      }
    }
  } finally {
    await guest.close();
  }

  const stop: StopReason = first ? (first.match.verdict === 'same' ? 'reproduced' : 'any-crash') : ended === 'done' ? 'budget' : ended;
  const tests = [...tallies.values()].map(({ weight: _w, streak: _s, rank: _r, ...t }) => ({ ...t, rate: wilson(t.hits, t.runs) }));
  const firstTally = first ? tests.find((x) => x.id === first!.test)! : null;
  return {
    reproduced: first?.match.verdict === 'same',
    stop,
    first,
    timeToFirstMs,
    rate: firstTally ? firstTally.rate : null,
    tests,
    met: [...met.values()],
    passes,
    elapsedMs: now() - start,
  };
}
