// Reports of bugs found by commit: the fixed rule on simulated nights (each
// clause on its own), the records in results/reports/ and the index's table
// built from them (and rebuilt without loss), `results reports` listing the
// open ones, and the nights after a sighting read back from the store.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIX_RULE, failureKey, fixNights, judgeFixed, loadBugReports, openBugReport, reportId, reportsRoot, saveBugReport, type BugReportRecord, type FixNight } from '../../harness/src/results/bug-reports.ts';
import { ResultsIndex, indexPath } from '../../harness/src/results/db.ts';
import type { Regression } from '../../harness/src/results/regressions.ts';
import { runNight } from '../../harness/src/workflows/nightly/index.ts';
import type { PrepareKernel } from '../../harness/src/workflows/nightly/plan.ts';
import type { KernelArtifact } from '../../harness/src/results/records.ts';
import { FakeLab, fakeArtifact, fakeConfig, tmp } from './nightly-fake.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const D = 'd'.repeat(40);

// A bug seen in 10 of 10 runs: the 95% lower bound on its rate is 0.05^(1/10) = 0.7411,
// and ceil(ln 0.05 / ln(1 - 0.7411)) = ceil(2.22) = 3 clean runs show it gone.
const seen10 = { rate: { hits: 10, runs: 10 }, lastSeen: { night: 'n1', commit: B } };
const night = (n: string, commit: string | null, cleanRuns: number, sawKey = false, descends?: boolean): FixNight => ({ night: n, commit, cleanRuns, sawKey, ...(descends === undefined ? {} : { descends }) });

t.test('the fixed rule', async (t) => {
  const v = judgeFixed(seen10, [night('n2', C, 1), night('n3', C, 1), night('n4', D, 1), night('n5', D, 5)]);
  t.match(v, { fixed: true, night: 'n4', range: { from: B, to: D }, cleanRuns: 3, needed: 3 }, 'fixed on the night the count reaches 3, in B..D');

  const same = judgeFixed(seen10, [night('n2', B, 5), night('n3', C, 2)]);
  t.match(same, { fixed: false, cleanRuns: 2, needed: 3 }, 'runs on the commit it was last seen on do not count');
  t.match((same as { why: string }).why, /2 of the 3 clean runs after bbbbbbbbbbbb \(last seen on n1\)/);

  const back = judgeFixed(seen10, [night('n2', C, 2), night('n3', D, 1, true), night('n4', C, 2), night('n5', A, 1)]);
  t.match(back, { fixed: true, night: 'n5', range: { from: D, to: A }, lastSeen: { night: 'n3', commit: D } }, 'a new sighting starts the count over from its commit');

  t.match(judgeFixed(seen10, [night('n2', C, 5, false, false)]), { fixed: false, cleanRuns: 0 }, 'a commit that does not descend from the last sighting says nothing');
  t.match(judgeFixed(seen10, [night('n2', null, 5)]), { fixed: false, cleanRuns: 0 }, 'a night without a commit says nothing');

  const unmeasured = judgeFixed({ rate: null, lastSeen: seen10.lastSeen }, [night('n2', C, 1000)]);
  t.match(unmeasured, { fixed: false, needed: Infinity });
  t.match((unmeasured as { why: string }).why, /no measured rate/);

  // A rarer bug needs more: 1 of 10 runs has a 95% lower bound of 1 - 0.95^(1/10), and ln 0.05 / (ln 0.95 / 10) = 584.04.
  t.match(judgeFixed({ rate: { hits: 1, runs: 10 }, lastSeen: seen10.lastSeen }, [night('n2', C, 584)]), { fixed: false, needed: 585 });
  t.match(judgeFixed({ rate: { hits: 10, runs: 10 }, lastSeen: seen10.lastSeen }, [night('n2', C, 1)], { ...FIX_RULE, miss: 0.001 }), { needed: 6 }, 'a smaller miss needs more runs: ceil(ln 0.001 / ln 0.2589) = 6');
});

const regression: Regression = {
  cell: { key: 'dev.smoke.ext4.default', test: 'a[fs=ext4]' },
  kernelKey: 'k1',
  good: { commit: A, night: 'night-3' },
  bad: { commit: B, night: 'night-4' },
  now: { commit: B, night: 'night-4' },
  evidence: { before: { failed: 0, runs: 3, nights: 3 }, after: { failed: 3, runs: 3 }, judged: { failed: 1, runs: 1 }, p: 0.05, by: 'hard', detail: '' },
};

t.test('records in results/reports/, the index table from them, and the command', async (t) => {
  const root = await tmp('results-bugs-');
  const now = new Date(Date.UTC(2026, 0, 5));
  const open = openBugReport(regression, { matchKey: 'BUG||dax_fault_iter|', title: 'kernel BUG in dax_fault_iter', now, rate: { hits: 4, runs: 10 } });
  t.equal(open.id, reportId(open));
  t.match(open.id, /^night-4-[0-9a-f]{12}$/);
  t.same({ status: open.status, range: open.range, firstSeen: open.firstSeen, lastSeen: open.lastSeen }, { status: 'open', range: { good: A, bad: B }, firstSeen: { night: 'night-4', commit: B }, lastSeen: { night: 'night-4', commit: B } });
  const other = openBugReport({ ...regression, bad: { commit: C, night: 'night-2' }, now: { commit: C, night: 'night-2' } }, { matchKey: failureKey('dev.smoke.ext4.default', 'b[fs=ext4]'), title: 'b fails', now });
  t.not(other.id, open.id);
  const fixed: BugReportRecord = {
    ...other,
    status: 'fixed',
    culprit: { commit: C, subject: 'mm: a change', author: 'Pat <pat@example.com>', link: null },
    fixed: { night: 'night-5', range: { from: C, to: D }, cleanRuns: 3, needed: 3 },
  };
  await saveBugReport(root, open, 'From: x\n\nmail\n');
  await saveBugReport(root, fixed);
  // Not reports: a stray directory, a record for another directory's id, a half-written file.
  await mkdir(join(reportsRoot(root), 'stray'), { recursive: true });
  await mkdir(join(reportsRoot(root), 'moved'), { recursive: true });
  await writeFile(join(reportsRoot(root), 'moved', 'report.json'), JSON.stringify(open));
  await mkdir(join(reportsRoot(root), 'half'), { recursive: true });
  await writeFile(join(reportsRoot(root), 'half', 'report.json'), '{"schema": 1, "id": "half"');
  t.same((await loadBugReports(root)).map((r) => r.record.id).sort(), [open.id, fixed.id].sort());
  t.equal(await readFile(join(reportsRoot(root), open.id, 'report.eml'), 'utf8'), 'From: x\n\nmail\n');

  let idx = await ResultsIndex.open(root);
  t.same(idx.reports({ status: 'open' }).map((r) => r.id), [open.id]);
  t.same(idx.reports().map((r) => [r.id, r.status]), [[open.id, 'open'], [fixed.id, 'fixed']], 'open first');
  t.equal(idx.openReport('BUG||dax_fault_iter|')?.id, open.id, 'a known crash finds its open report');
  t.equal(idx.openReport(fixed.matchKey), undefined, 'a fixed one is not open');
  t.same(idx.reports({ status: 'fixed' })[0], {
    id: fixed.id, status: 'fixed', match_key: fixed.matchKey, title: 'b fails', cell_key: 'dev.smoke.ext4.default', test_key: 'a[fs=ext4]', kernel_key: 'k1',
    good_commit: A, bad_commit: C, culprit_commit: C, culprit_subject: 'mm: a change', culprit_author: 'Pat <pat@example.com>', bisect_id: null,
    rate_hits: null, rate_runs: null, first_seen_night: 'night-2', last_seen_night: 'night-2', last_seen_commit: C, fixed_night: 'night-5', fixed_from: C, fixed_to: D,
    updated_at: now.toISOString(), dir: `reports/${fixed.id}`,
  });
  idx.close();

  for (const s of ['', '-wal', '-shm']) await rm(indexPath(root) + s, { force: true });
  idx = await ResultsIndex.open(root);
  t.same(idx.reports().map((r) => r.id), [open.id, fixed.id], 'a lost index loses no report');
  t.same(idx.runs(null), [], 'results/reports is not taken for a run directory');
  idx.close();

  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'harness/bin/dax-harness.js', 'results', ...args, '--results', root], { encoding: 'utf8' });
  const list = cli('reports');
  t.equal(list.status, 0, list.stderr);
  t.match(list.stdout, new RegExp(`^${open.id}  OPEN  kernel BUG in dax_fault_iter$`, 'm'));
  t.match(list.stdout, /^ {2}cell dev\.smoke\.ext4\.default, test a\[fs=ext4\]; first seen night-4, last night-4$/m);
  t.match(list.stdout, /^ {2}appeared in aaaaaaaaaaaa\.\.bbbbbbbbbbbb$/m);
  t.notMatch(list.stdout, /FIXED/, 'open ones only');
  const all = cli('reports', '--all');
  t.match(all.stdout, /FIXED  b fails\n.*\n {2}appeared in aaaaaaaaaaaa\.\.cccccccccccc; culprit cccccccccccc \("mm: a change"\) by Pat <pat@example\.com>\n {2}fixed in cccccccccccc\.\.dddddddddddd \(night night-5\)/);
  const json = cli('reports', '--json');
  t.same((JSON.parse(json.stdout) as { id: string; dir: string }[]).map((r) => [r.id, r.dir]), [[open.id, join(reportsRoot(root), open.id)]]);
  const extra = cli('reports', 'x');
  t.equal(extra.status, 2);
  t.match(extra.stderr, /reports takes no arguments/);
});

t.test('the nights after a sighting, from the store', async (t) => {
  const root = await tmp('results-bugs-fix-');
  const tree = await tmp('results-bugs-tree-');
  // Commits by night: the bug shows on B (nights 2-3), the ref moves to C (night 4, still there) and D (nights 5-6, gone).
  const commits: Record<number, string> = { 1: A, 2: B, 3: B, 4: C, 5: D, 6: D };
  const lab = new FakeLab(({ night }) => [{ name: 'a', status: night >= 2 && night <= 4 ? 'crash' : 'pass', ...(night >= 2 && night <= 4 ? { crash: 'sigA' } : {}) }]);
  const prepareKernel: PrepareKernel = async () =>
    ({ ...fakeArtifact('built'), kind: 'built', build: { source: tree, baseCommit: commits[lab.night], commit: commits[lab.night] } }) as unknown as KernelArtifact;
  const config = await fakeConfig({ kernels: [{ name: 'dev', git: tree, ref: 'for-next' }], suites: [{ name: 'smoke', modes: ['ext4'] }], rerunFailures: 0, repeat: 2 });
  for (const n of [1, 2, 3, 4, 5, 6]) {
    lab.night = n;
    await runNight({ config, resultsRoot: root, jobs: 1, shard: null, nightId: `night-${n}`, progress: () => {}, now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel });
  }
  const idx = await ResultsIndex.open(root);
  t.teardown(() => idx.close());
  const report = { matchKey: 'BUG||sigA|', cell: { key: 'dev.smoke.ext4.default', test: 'a[fs=ext4]' }, lastSeen: { night: 'night-3', commit: B } };
  const nights = fixNights(idx, report);
  t.same(nights, [
    { night: 'night-4', commit: C, sawKey: true, cleanRuns: 0 },
    { night: 'night-5', commit: D, sawKey: false, cleanRuns: 2 },
    { night: 'night-6', commit: D, sawKey: false, cleanRuns: 2 },
  ]);
  t.match(judgeFixed({ rate: { hits: 10, runs: 10 }, lastSeen: report.lastSeen }, nights), { fixed: true, night: 'night-6', range: { from: C, to: D }, cleanRuns: 4 });
  const failing = fixNights(idx, { ...report, matchKey: failureKey(report.cell.key, report.cell.test) });
  t.same(failing.map((n) => n.sawKey), [true, false, false], 'a failure key is seen where the test failed');
});
