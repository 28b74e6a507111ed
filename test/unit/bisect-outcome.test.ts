// A run of a step's tests, as the run primitive records it, becomes one of
// the outcomes the bisection counts.
import t from 'tap';
import { runOutcome } from '../../harness/src/workflows/bisect/outcome.ts';
import type { CrashReport, TestResult } from '../../harness/src/results/records.ts';

const test = (name: string, status: TestResult['status'], extra: Partial<TestResult> = {}): TestResult => ({
  name,
  params: {},
  status,
  reason: `${name} said ${status}`,
  startedAt: '2026-01-01T00:00:00Z',
  durationMs: 10,
  log: `tests/${name}.log`,
  crashes: [],
  metrics: {},
  ...extra,
});
const crash = (title: string, matchKey: string, fatal: boolean): CrashReport => ({ type: 'BUG', title, fatal, dedupKey: matchKey, matchKey, startLine: 0, endLine: 1, lines: [] });

t.test('a kernel report decides the run, the fatal one first', async (t) => {
  const warn = crash('WARNING in xfs_ilock', 'WARNING|xfs_ilock', false);
  const bug = crash('kernel BUG in dax_insert_pfn_pmd', 'BUG|dax_insert_pfn_pmd', true);
  t.same(runOutcome({ tests: [test('smoke-ext4', 'crash')], crashes: [warn, bug], ref: 'results/r1' }), { kind: 'crash', matchKey: 'BUG|dax_insert_pfn_pmd', title: 'kernel BUG in dax_insert_pfn_pmd', ref: 'results/r1' });
  t.match(runOutcome({ tests: [test('smoke-ext4', 'pass')], crashes: [warn] }), { kind: 'crash', matchKey: 'WARNING|xfs_ilock' });
  // A crash during boot is still the crash, not a boot failure.
  t.match(runOutcome({ tests: [], crashes: [bug], bootFailure: 'no ssh within 180 s' }), { kind: 'crash' });
});

t.test('boot failures, infra errors, failures, skips and passes', async (t) => {
  t.same(runOutcome({ tests: [], crashes: [], bootFailure: 'no ssh within 180 s' }), { kind: 'boot-fail', reason: 'no ssh within 180 s' });
  t.same(runOutcome({ tests: [test('a', 'pass')], crashes: [], infra: 'qemu exited' }), { kind: 'infra', reason: 'qemu exited' });
  t.same(runOutcome({ tests: [test('a', 'pass'), test('b', 'infra-error')], crashes: [] }), { kind: 'infra', reason: 'b said infra-error' });
  t.same(runOutcome({ tests: [test('a', 'pass'), test('b', 'timeout')], crashes: [] }), { kind: 'fail', reason: 'b: timeout' });
  t.same(runOutcome({ tests: [test('a', 'fail', { verdict: 'xfail' }), test('b', 'pass')], crashes: [] }), { kind: 'pass' }, 'an expected failure is not a failure');
  t.same(runOutcome({ tests: [test('a', 'skip'), test('b', 'skip')], crashes: [] }), { kind: 'fail', reason: 'a, b: skipped' }, 'nothing tested is never clean');
  t.same(runOutcome({ tests: [test('a', 'skip'), test('b', 'pass')], crashes: [] }), { kind: 'pass' });
});
