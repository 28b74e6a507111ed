// Shapes of the pure bisection: what it asks of its environment (build a
// step, test it N times), what it remembers (a JSON-serialisable state that
// an interrupted bisection resumes from) and what it concludes. The shapes
// that end up in bisect.json live in results/records.ts.
import type { BisectAttempt, BisectCheck, BisectEventRecord, BisectStatus, BisectVerdict, BisectVerifiedBy } from '../../results/records.ts';

export type { BisectStatus };
export type Verdict = BisectVerdict;
export type VerificationCheck = BisectCheck;
export type VerificationMethod = BisectVerifiedBy;
export type VerificationAttempt = BisectAttempt;
export type BisectEvent = BisectEventRecord;

/** Cause bisection finds the patch that broke it; fix bisection (--reverse) the one that fixed it. */
export type Direction = 'cause' | 'fix';

/**
 * What counts as the bug: a crash whose match key agrees with the one on the
 * crashing end (default), any crash, or any crash or test failure.
 */
export type BadMeaning = 'match' | 'any-crash' | 'any-failure';

/**
 * A kernel to build and test. For a series: the base plus the first `count`
 * patches, the whole series without patch `patch`, or the whole series with
 * patch `patch` reverted on top (git revert: a 3-way merge, which applies
 * where leaving the patch out does not when a later patch only sits near its
 * lines). For a git range: the first-parent commit `count` (0 = the good
 * ref), or the bad end with commit `patch` reverted (both `without` and
 * `revert`: over a range the leave-out is a revert).
 */
export type StepSpec = { kind: 'prefix'; count: number } | { kind: 'without'; patch: number } | { kind: 'revert'; patch: number };

/** One run of the test(s) in a booted guest. */
export type RunOutcome =
  | { kind: 'pass' }
  /** A kernel report (during boot or a test); `ref` points at its evidence (run dir, console log). */
  | { kind: 'crash'; matchKey: string; title: string; ref?: string }
  /** A test failed without a kernel report. */
  | { kind: 'fail'; reason: string; ref?: string }
  /** The guest never became ready and the console showed no report; `reason` is a stable key (e.g. "no ssh within 180 s"). */
  | { kind: 'boot-fail'; reason: string; ref?: string }
  /** The harness or host broke (QEMU died, ssh lost without a report): retried, never counted. */
  | { kind: 'infra'; reason: string };

export interface BuildOutcome {
  ok: boolean;
  /**
   * Hash of what the guest boots (bzImage and modules, or vmlinux and module
   * hashes): equal hashes mean the same kernel, tested once.
   */
  imageHash: string | null;
  /** When not ok: the patches did not apply, or make failed. */
  failure?: 'apply' | 'build';
  /** One line: why it failed, or what was built. */
  reason: string;
}

/** Lets the environment end a batch early once the verdict is certain. */
export interface StopRule {
  /** Stop once this many runs of the batch matched. */
  matching: number;
  /** The crash that matches, or null for any crash. */
  matchKey: string | null;
  /** Test failures without a crash match too (--any-failure). */
  failures: boolean;
}

export interface TestBatch {
  /** One entry per run, in order (infra errors included). */
  outcomes: RunOutcome[];
  /** Guests booted for this batch (the first one, and one after each crash or lost guest). */
  boots: number;
}

/**
 * What the bisection needs from the world. `test` runs the test(s) up to
 * `runs` times in one booted guest, rebooting only after a crash (or a lost
 * guest), and may return early: when `stop` is met, after a boot failure, or
 * after an infra error. `test` may be called for a step built by an earlier
 * process (a resumed bisection): the environment finds or rebuilds the kernel.
 */
export interface BisectEnv {
  build(step: StepSpec): Promise<BuildOutcome>;
  test(step: StepSpec, runs: number, stop: StopRule): Promise<TestBatch>;
}

/** Everything learnt about one kernel (pooled by image hash across the steps that built it). */
export interface Evidence {
  /** Runs that reached a result (infra errors and boot failures excluded). */
  runs: number;
  passes: number;
  crashes: Record<string, { title: string; count: number; ref?: string }>;
  /** Test failures without a report, by reason. */
  failures: Record<string, number>;
  bootFailures: Record<string, number>;
  infra: number;
  /** Batches in a row that produced no result at all (only infra errors). */
  infraStreak: number;
  boots: number;
  batches: number;
  /** Judged clean at some point: it stays in the confidence product even if a lower rate estimate later asks for more runs. */
  wasClean?: boolean;
}

export interface Budget {
  builds: number | null;
  boots: number | null;
  /** Total runs over the whole bisection. */
  runs: number | null;
}

export interface BisectSettings {
  direction: Direction;
  /** Number of patches (or commits) k: steps 0..k. */
  steps: number;
  bad: BadMeaning;
  /** The match key of the bug, when the user named it; otherwise learnt at the crashing end. */
  matchKey: string | null;
  /** A culprit is reported as confident only at or above this confidence (default 0.95). */
  targetConfidence: number;
  /** The per-verdict miss probability a clean verdict must reach (at most 0.05). */
  stepMiss: number;
  /** Level of the lower confidence bound put on the reproduction rate. */
  rateLevel: number;
  /** Matching crashes to collect on the crashing end before trusting the rate. */
  endCrashes: number;
  /** Runs (and boot attempts) one step may take before it is skipped as undecidable. */
  maxRunsPerStep: number;
  /** Batches in a row with only infra errors before the bisection stops. */
  maxInfraRetries: number;
  /** What a step adds, in messages: a patch of a series or a commit of a range. */
  unit?: 'patch' | 'commit';
  /** binary: midpoint (git bisect's choice); linear: every step from the clean end (a baseline). */
  strategy: 'binary' | 'linear';
  budget: Budget;
}

export interface BisectState {
  schema: 1;
  settings: BisectSettings;
  /** Step key ("p3" = prefix 3, "w5" = without 5) → build outcome. */
  builds: Record<string, BuildOutcome>;
  /** Image hash → what its runs showed. */
  evidence: Record<string, Evidence>;
  used: { builds: number; boots: number; runs: number };
  log: BisectEvent[];
}

export interface Verification {
  culprit: VerificationCheck;
  parent: VerificationCheck;
  /** The check the result rests on: the one that verified, else the last one tried. */
  leaveOut: VerificationCheck;
  agrees: boolean;
  /** The check of the fallback chain that verified the culprit, or null when none could. */
  by: VerificationMethod | null;
  /** Every check of the chain tried, in order, with why it verified or could not. */
  attempts: VerificationAttempt[];
}

export interface BisectOutcome {
  status: BisectStatus;
  /** One line for the user: what was found, or why not. */
  reason: string;
  /** Patch (or commit) number 1..k, when one is named. */
  culprit: number | null;
  /** For a range: the patch numbers it could be. */
  candidates: number[];
  confidence: number;
  confident: boolean;
  verification: Verification | null;
}

export type Action =
  | { kind: 'build'; step: StepSpec; why: string }
  | { kind: 'test'; step: StepSpec; runs: number; stop: StopRule; why: string }
  | { kind: 'done'; outcome: BisectOutcome };
