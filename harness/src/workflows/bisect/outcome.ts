// One run of a step's tests (as the run primitive records them) → the
// outcome the bisection counts. Kept pure so the environment that boots
// guests only collects records and the rules live in one tested place.
import type { CrashReport, TestResult } from '../../results/records.ts';
import type { RunOutcome } from './types.ts';

export interface RunEvidence {
  /** The tests of this run, in order (one pass of --test in the booted guest). */
  tests: TestResult[];
  /** Kernel reports seen during this run (boot included), in console order. */
  crashes: CrashReport[];
  /** The guest never became ready: a stable reason (e.g. "no ssh within 180 s"), or null. */
  bootFailure?: string | null;
  /** The harness or host broke (QEMU died, ssh lost without a report), or null. */
  infra?: string | null;
  /** Where the evidence is (run dir), for the report. */
  ref?: string;
}

/**
 * A kernel report decides the run whatever the tests said (the one that
 * ended the guest first, else the first); a guest that never came up without
 * one is a boot failure; then infra errors; a failed or timed-out test (not
 * an expected failure) is a failure; a run where every test skipped tested
 * nothing and counts as a failure too, so it can never make a step clean.
 */
export function runOutcome(e: RunEvidence): RunOutcome {
  const ref = e.ref ? { ref: e.ref } : {};
  const report = e.crashes.find((c) => c.fatal) ?? e.crashes[0];
  if (report) return { kind: 'crash', matchKey: report.matchKey, title: report.title, ...ref };
  if (e.bootFailure) return { kind: 'boot-fail', reason: e.bootFailure, ...ref };
  if (e.infra || e.tests.some((t) => t.status === 'infra-error')) {
    return { kind: 'infra', reason: e.infra ?? e.tests.find((t) => t.status === 'infra-error')!.reason };
  }
  const failed = e.tests.find((t) => (t.verdict ? t.verdict === 'fail' || t.verdict === 'error' : t.status === 'fail' || t.status === 'timeout' || t.status === 'crash'));
  if (failed) return { kind: 'fail', reason: `${failed.name}: ${failed.status}`, ...ref };
  if (e.tests.length === 0 || e.tests.every((t) => t.status === 'skip')) {
    return { kind: 'fail', reason: e.tests.length ? `${e.tests.map((t) => t.name).join(', ')}: skipped` : 'no test ran', ...ref };
  }
  return { kind: 'pass' };
}
