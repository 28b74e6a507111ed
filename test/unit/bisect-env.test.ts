// The guest environment's pure parts: which kernel a step is (series subset,
// range commit, revert), one run record → one outcome per pass, the stop
// rule, the kernel image hash. The pipeline's revert is in series-sandbox.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelImageHash, meetsStop, passOutcomes, stepKernelInputs } from '../../harness/src/workflows/bisect/environment.ts';
import type { Series } from '../../harness/src/kernel/series.ts';
import type { CrashReport, RunRecord, TestResult } from '../../harness/src/results/records.ts';

const patch = (n: number) => ({ number: n, total: 4, version: 1, title: `p${n}`, from: 'A <a@b>', date: null, messageId: null, origin: `x#${n}`, mail: `mail ${n}` });
const series: Series = { patches: [1, 2, 3, 4].map(patch), version: 1, cover: null, baseCommit: 'abc123', prerequisites: [], rangeBase: null, hash: 'full', notes: [], source: '/s.mbox' };
const seriesPlan = { input: { kind: 'series' as const, spec: '/s.mbox', series, patches: [] }, ref: null };

t.test('a series step is a subset of the series on the same base', async (t) => {
  const base = stepKernelInputs(seriesPlan, { kind: 'prefix', count: 0 });
  const s0 = base.series as Series;
  t.same(s0.patches, [], 'the base applies nothing');
  t.equal(s0.baseCommit, 'abc123', 'but keeps the base-commit, like every other step');
  t.notOk('ref' in base);
  const p2 = stepKernelInputs(seriesPlan, { kind: 'prefix', count: 2 }).series as Series;
  t.same(p2.patches.map((p) => p.number), [1, 2]);
  const w3 = stepKernelInputs(seriesPlan, { kind: 'without', patch: 3 }).series as Series;
  t.same(w3.patches.map((p) => p.number), [1, 2, 4]);
  const all = stepKernelInputs(seriesPlan, { kind: 'prefix', count: 4 }).series as Series;
  t.equal(new Set([s0.hash, p2.hash, w3.hash, all.hash]).size, 4, 'each subset has its own content hash (its own cached kernel)');
  t.equal(all.hash, (stepKernelInputs(seriesPlan, { kind: 'prefix', count: 4 }).series as Series).hash, 'and the same subset the same one');
  t.equal(stepKernelInputs({ ...seriesPlan, ref: 'v6.1' }, { kind: 'prefix', count: 1 }).ref, 'v6.1', '--ref is the base of every step');
});

t.test('a series revert step: the whole series, then the patch reverted on top', async (t) => {
  const r3 = stepKernelInputs(seriesPlan, { kind: 'revert', patch: 3 });
  t.same((r3.series as Series).patches.map((p) => p.number), [1, 2, 3, 4], 'every patch applied, the culprit included');
  t.same(r3.revertPatches, [3]);
  t.equal((r3.series as Series).hash, (stepKernelInputs(seriesPlan, { kind: 'prefix', count: 4 }).series as Series).hash, 'on the bad end\'s series');
  t.notOk('revertPatches' in stepKernelInputs(seriesPlan, { kind: 'without', patch: 3 }), 'a leave-out reverts nothing');
  t.equal(stepKernelInputs({ ...seriesPlan, ref: 'v6.1' }, { kind: 'revert', patch: 2 }).ref, 'v6.1');
});

t.test('a range step is a first-parent commit, or the end with one commit reverted', async (t) => {
  const plan = { input: { kind: 'range' as const, spec: 'g..b', repo: '/r', from: 'g0', to: 'c3', commits: ['c1', 'c2', 'c3'], patches: [] }, ref: null };
  t.same(stepKernelInputs(plan, { kind: 'prefix', count: 0 }), { ref: 'g0' });
  t.same(stepKernelInputs(plan, { kind: 'prefix', count: 2 }), { ref: 'c2' });
  t.same(stepKernelInputs(plan, { kind: 'without', patch: 2 }), { ref: 'c3', revert: ['c2'] });
  t.same(stepKernelInputs(plan, { kind: 'revert', patch: 2 }), { ref: 'c3', revert: ['c2'] }, 'over a range leaving out is reverting');
});

const crash = (title: string, matchKey: string, fatal = false): CrashReport => ({ type: 'WARNING', title, fatal, dedupKey: matchKey, matchKey, startLine: 0, endLine: 1, lines: [] });
const result = (name: string, status: TestResult['status'], params: Record<string, string>, extra: Partial<TestResult> = {}): TestResult => ({
  name,
  params,
  status,
  reason: `${name}: ${status}`,
  startedAt: '2026-01-01T00:00:00Z',
  durationMs: 1,
  log: 'x.log',
  crashes: [],
  metrics: {},
  ...extra,
});
const rec = (tests: TestResult[], status: RunRecord['status'] = 'pass', reason = ''): Pick<RunRecord, 'tests' | 'status' | 'reason'> => ({ tests, status, reason });

t.test('one outcome per pass, in pass order', async (t) => {
  const warn = crash('WARNING in dax_disassociate_entry', 'W|dax_disassociate_entry');
  const r = rec([
    result('boot', 'pass', { pass: '1' }),
    result('pmd_pte_mix', 'pass', { pass: '1', fs: 'ext4' }),
    result('pmd_pte_mix', 'crash', { pass: '2', fs: 'ext4' }, { crashes: [warn] }),
    result('pmd_pte_mix', 'fail', { pass: '3', fs: 'ext4' }),
  ]);
  t.same(passOutcomes(r, 'runs/r1'), [
    { kind: 'pass' },
    { kind: 'crash', matchKey: 'W|dax_disassociate_entry', title: 'WARNING in dax_disassociate_entry', ref: 'runs/r1' },
    { kind: 'fail', reason: 'pmd_pte_mix: fail', ref: 'runs/r1' },
  ]);
  // A cell that ran once carries no pass numbers.
  t.same(passOutcomes(rec([result('boot', 'pass', {}), result('smoke', 'pass', { fs: 'ext4' })])), [{ kind: 'pass' }]);
});

t.test('a report outside any test belongs to the last pass; a crash while booting is a crash', async (t) => {
  const bug = crash('kernel BUG in dax_iomap_pmd_fault', 'B|dax_iomap_pmd_fault', true);
  const loose = rec([result('boot', 'pass', { pass: '1' }), result('a', 'pass', { pass: '1' }), result('a', 'pass', { pass: '2' }), result('kernel', 'crash', {}, { crashes: [bug] })]);
  t.same(passOutcomes(loose).map((o) => o.kind), ['pass', 'crash']);
  const atBoot = rec([result('boot', 'crash', { pass: '1' }, { crashes: [bug] })], 'fail');
  t.same(passOutcomes(atBoot).map((o) => o.kind), ['crash']);
});

t.test('a guest that never came up: boot failure by how far it got; QEMU itself: infra', async (t) => {
  const stuck = rec([result('boot', 'infra-error', { pass: '1' }, { reason: 'no ssh within 180 s (took 180.2 s)', metrics: { boot_phase: 'kernel' } })], 'infra-error', 'no ssh');
  const o = passOutcomes(stuck);
  t.equal(o.length, 1);
  t.equal(o[0]!.kind, 'boot-fail');
  t.match((o[0] as { reason: string }).reason, /^guest not ready: stopped after the kernel started/, 'a stable reason: no timings in it');
  const qemu = rec([result('boot', 'infra-error', { pass: '1' }, { reason: 'QEMU exited 1', metrics: { boot_phase: 'qemu' } })], 'infra-error', 'QEMU exited 1');
  t.same(passOutcomes(qemu), [{ kind: 'infra', reason: 'QEMU exited 1' }]);
  t.same(passOutcomes(rec([], 'infra-error', 'disk full')), [{ kind: 'infra', reason: 'disk full' }], 'nothing recorded at all is infra');
  const lost = rec([result('boot', 'pass', { pass: '1' }), result('a', 'pass', { pass: '1' }), result('a', 'infra-error', { pass: '2' })], 'infra-error', 'guest lost');
  t.same(passOutcomes(lost).map((x) => x.kind), ['pass', 'infra']);
});

t.test('the stop rule: matching crashes, any crash, failures', async (t) => {
  const c = { kind: 'crash' as const, matchKey: 'K', title: 'T' };
  const f = { kind: 'fail' as const, reason: 'x' };
  t.ok(meetsStop(c, { matching: 2, matchKey: 'K', failures: false }));
  t.notOk(meetsStop({ ...c, matchKey: 'other' }, { matching: 2, matchKey: 'K', failures: false }), 'another crash is noise');
  t.ok(meetsStop({ ...c, matchKey: 'other' }, { matching: 2, matchKey: null, failures: false }));
  t.notOk(meetsStop(f, { matching: 2, matchKey: null, failures: false }));
  t.ok(meetsStop(f, { matching: 2, matchKey: null, failures: true }));
  t.notOk(meetsStop({ kind: 'pass' }, { matching: 1, matchKey: null, failures: true }));
});

t.test('the image hash: bzImage and module files, nothing else', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'daxh-img-'));
  const mods = join(d, 'modules');
  mkdirSync(join(mods, 'lib/modules/6.1.0/kernel/fs'), { recursive: true });
  writeFileSync(join(d, 'bzImage'), 'kernel');
  writeFileSync(join(mods, 'lib/modules/6.1.0/kernel/fs/a.ko'), 'A');
  writeFileSync(join(mods, 'lib/modules/6.1.0/modules.dep'), 'x');
  const a = { bzImage: join(d, 'bzImage'), modulesRoot: mods };
  const h1 = await kernelImageHash(a);
  t.equal(await kernelImageHash(a), h1, 'stable');
  writeFileSync(join(mods, 'lib/modules/6.1.0/modules.dep'), 'y');
  t.equal(await kernelImageHash(a), h1, 'depmod output does not count');
  writeFileSync(join(mods, 'lib/modules/6.1.0/kernel/fs/a.ko'), 'B');
  const h2 = await kernelImageHash(a);
  t.not(h2, h1, 'a module does');
  writeFileSync(join(d, 'bzImage'), 'kernel2');
  t.not(await kernelImageHash(a), h2, 'the kernel does');
});
