// Reports from the store: KCIDB validated against a JSON Schema written from
// the KCIDB v5 spec, JUnit, TAP, and the HTML report loaded in headless
// Debian chromium (no server, no network).
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import puppeteer from 'puppeteer-core';
import { runNight } from '../../harness/src/workflows/nightly/index.ts';
import { ResultsIndex } from '../../harness/src/results/db.ts';
import { writeNightReports } from '../../harness/src/results/reporters/index.ts';
import { kcidbPatchsetHash } from '../../harness/src/results/reporters/kcidb.ts';
import { saveBugReport, type BugReportRecord } from '../../harness/src/results/bug-reports.ts';
import { nightReports, reportLine } from '../../harness/src/results/report.ts';
import { FakeLab, fakeConfig, tmp } from './nightly-fake.ts';

const root = await tmp('results-reports-');
const lab = new FakeLab(({ night, cell }) => [
  { name: 'setup.fsdax', status: 'pass', ...(night >= 2 && cell.includes('ext4') ? { crash: 'known-sig' } : {}) },
  { name: 'dax_smoke', status: night === 3 && cell.includes('ext4') ? 'crash' : 'pass', durationMs: 2000 + 300 * night, ...(night === 3 && cell.includes('ext4') ? { crash: 'new-sig' } : {}) },
  { name: 'known_bug', status: 'fail', verdict: 'xfail' },
  { name: 'lost_ssh', status: night === 3 ? 'infra-error' : 'pass' },
]);
const raw = { origin: 'dax_harness', kernels: [{ name: 'stock', stock: true }, { name: 'broken', package: 'linux-image-none' }], suites: [{ name: 'smoke' }] };
const prepareKernel: typeof lab.prepareKernel = async (spec, log) => {
  if (spec.kind === 'stock' && spec.pkg === 'linux-image-none') throw new Error('apt-get download: no such package');
  return lab.prepareKernel(spec, log);
};
for (const n of [1, 2, 3]) {
  lab.night = n;
  await runNight({ config: await fakeConfig(raw), resultsRoot: root, jobs: 1, shard: null, nightId: `night-${n}`, progress: () => {}, now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel });
}
// Bug reports: one whose bisection named a culprit tonight (its mail written), one fixed tonight on
// a cell whose kernel never built (its test did not run), and two that are not tonight's.
const G = 'a'.repeat(40);
const BAD = 'b'.repeat(40);
const bug = (id: string, o: Partial<BugReportRecord>): BugReportRecord => ({
  schema: 1, id, status: 'open', matchKey: `BUG||${id}|`, title: `kernel BUG in ${id}`, cell: { key: 'stock.smoke.ext4.default', test: 'dax_smoke[fs=ext4]' }, kernelKey: 'k',
  range: { good: G, bad: BAD }, culprit: null, bisect: null, rate: { hits: 5, runs: 5 }, firstSeen: { night: 'night-3', commit: BAD }, lastSeen: { night: 'night-3', commit: BAD },
  fixed: null, createdAt: '2026-01-03T00:00:00Z', updatedAt: '2026-01-03T00:00:00Z', ...o,
});
await saveBugReport(root, bug('r-culprit', { title: 'kernel BUG in dax_fault_iter', culprit: { commit: 'c'.repeat(40), subject: 'fs/dax: take the folio <ref> early', author: 'Pat <pat@example.com>', link: null }, bisect: 'bisect-r1' }), 'From: x\n\nmail\n');
await saveBugReport(root, bug('r-fixed', { status: 'fixed', cell: { key: 'broken.smoke.xfs.default', test: 'dax_smoke[fs=xfs]' }, firstSeen: { night: 'night-1', commit: G }, lastSeen: { night: 'night-2', commit: G }, fixed: { night: 'night-3', range: { from: G, to: BAD }, cleanRuns: 3, needed: 3 } }));
await saveBugReport(root, bug('r-old', { firstSeen: { night: 'night-1', commit: G }, lastSeen: { night: 'night-1', commit: G } }));
await saveBugReport(root, bug('r-elsewhere', { cell: { key: 'other.smoke.ext4.default', test: 'dax_smoke[fs=ext4]' } }));
const dir = join(root, 'nights', 'night-3');
const idx = await ResultsIndex.open(root);
const report = await writeNightReports(idx, 'night-3', dir);
idx.close();
const read = (f: string) => readFile(join(dir, f), 'utf8');

t.test('KCIDB v5 output validates and uses KCIDB statuses as defined', async (t) => {
  const schema = JSON.parse(await readFile(new URL('../../harness/src/results/reporters/kcidb-v5.schema.json', import.meta.url), 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: true });
  addFormats.default(ajv);
  const validate = ajv.compile(schema);
  const data = JSON.parse(await read('kcidb.json'));
  t.ok(validate(data), JSON.stringify(validate.errors, null, 1));
  t.same(data.version, { major: 5, minor: 3 });
  const ids = [...data.checkouts, ...data.builds, ...data.tests, ...data.issues, ...data.incidents].map((x: { id: string }) => x.id);
  t.ok(ids.every((i: string) => /^[a-z0-9_]+:/.test(i) && i.startsWith('dax_harness:')), 'ids are origin:...');
  t.equal(new Set(ids).size, ids.length, 'ids are unique');
  const byPath = (p: string) => data.tests.filter((x: { path: string }) => x.path === p).map((x: { status: string }) => x.status);
  t.same(byPath('smoke.dax_smoke.ext4'), ['FAIL'], 'a crashing test is FAIL');
  t.same(byPath('smoke.lost_ssh.ext4'), ['ERROR'], 'the harness losing a test is ERROR, not FAIL');
  t.same(data.tests.filter((x: { build_id: string }) => x.build_id.includes('broken')).map((x: { status: string }) => x.status), ['MISS', 'MISS'], 'cells whose kernel could not be had are MISS');
  t.equal(data.builds.find((b: { id: string }) => b.id.includes('broken')).status, 'ERROR', 'a download failure is the harness\'s: ERROR');
  const crashIssues = data.issues.filter((i: { id: string }) => i.id.startsWith('dax_harness:crash/'));
  t.equal(crashIssues.length, 2, 'one issue per crash signature');
  t.ok(
    data.incidents.filter((i: { issue_id: string }) => i.issue_id.startsWith('dax_harness:crash/')).every((i: { issue_id: string; test_id?: string }) => i.test_id && crashIssues.some((x: { id: string }) => x.id === i.issue_id)),
    'crash incidents link issues to tests',
  );
  t.ok(data.incidents.every((i: { issue_id: string }) => data.issues.some((x: { id: string }) => x.id === i.issue_id)), 'every incident names an issue of the file');
  const bad = structuredClone(data);
  bad.tests[0].status = 'XFAIL';
  t.notOk(validate(bad), 'the schema refuses statuses KCIDB does not have');
  const bad2 = structuredClone(data);
  bad2.tests[0].id = 'Dax Harness:x';
  t.notOk(validate(bad2), 'and ids without a valid origin');
  const bad3 = structuredClone(data);
  bad3.version.minor = 4;
  t.notOk(validate(bad3), 'and minor versions past 3');
});

t.test("KCIDB: each of tonight's bug reports is an issue with an incident on its test, else its cell's build", async (t) => {
  const data = JSON.parse(await read('kcidb.json'));
  const reportIssues = data.issues.filter((i: { id: string }) => i.id.startsWith('dax_harness:report/'));
  t.same(reportIssues.map((i: { id: string }) => i.id), ['dax_harness:report/r-culprit', 'dax_harness:report/r-fixed'], 'the reports of tonight only');
  const culprit = reportIssues[0];
  t.match(culprit, { version: 1, origin: 'dax_harness', report_subject: 'kernel BUG in dax_fault_iter', culprit: { code: true, tool: false, harness: false } });
  t.match(culprit.misc, { report_id: 'r-culprit', status: 'open', culprit: { commit: 'c'.repeat(40), subject: 'fs/dax: take the folio <ref> early' }, bisect: 'bisect-r1', mail: 'reports/r-culprit/report.eml' });
  t.match(culprit.comment, /^report r-culprit \(open\): kernel BUG in dax_fault_iter; culprit cccccccccccc \("fs\/dax: take the folio <ref> early"\) by Pat <pat@example\.com>; bisection bisect-r1; mail reports\/r-culprit\/report\.eml$/);
  const incidentOf = (issue: string) => data.incidents.filter((i: { issue_id: string }) => i.issue_id === issue);
  const test = data.tests.find((x: { path: string; build_id: string }) => x.path === 'smoke.dax_smoke.ext4' && !x.build_id.includes('broken'));
  t.same(incidentOf(culprit.id), [{ id: `${culprit.id}/night-3`, origin: 'dax_harness', issue_id: culprit.id, issue_version: 1, present: true, test_id: test.id }], 'on the failing test, present');
  const fixed = incidentOf('dax_harness:report/r-fixed');
  t.equal(fixed.length, 1);
  t.match(fixed[0], { present: false, build_id: 'dax_harness:night-3/broken/build' }, 'fixed tonight: not present; the test never ran, so the build');
  t.notOk('test_id' in fixed[0]);
  t.ok(data.builds.some((b: { id: string }) => b.id === fixed[0].build_id), 'a build of this file');
});

t.test('the night picks its reports: tonight\'s cells, and found, seen, fixed or crashing tonight', async (t) => {
  const row = (o: Partial<Parameters<typeof nightReports>[0][number]>) => ({
    id: 'x', status: 'open' as const, match_key: 'k', title: 't', cell_key: 'c1', test_key: 'a', kernel_key: 'k', good_commit: G, bad_commit: BAD, culprit_commit: null, culprit_subject: null,
    culprit_author: null, bisect_id: null, rate_hits: null, rate_runs: null, first_seen_night: 'n1', last_seen_night: 'n1', last_seen_commit: BAD, fixed_night: null, fixed_from: null,
    fixed_to: null, updated_at: '', dir: 'reports/x', ...o,
  });
  const pick = (rows: ReturnType<typeof row>[], matchKeys: string[] = []) => nightReports(rows, { night: 'n2', cells: ['c1'], matchKeys, root }).map((b) => b.id);
  t.same(pick([row({ id: 'first', first_seen_night: 'n2' }), row({ id: 'last', last_seen_night: 'n2' }), row({ id: 'fixed', fixed_night: 'n2' }), row({ id: 'old' })]), ['first', 'fixed', 'last'].sort());
  t.same(pick([row({ id: 'crashed' })], ['k']), ['crashed'], 'its crash showed tonight');
  t.same(pick([row({ id: 'other', cell_key: 'c2', first_seen_night: 'n2' })]), [], 'a cell that did not run tonight');
  const [b] = nightReports([row({ first_seen_night: 'n2' })], { night: 'n2', cells: ['c1'], matchKeys: [], root });
  t.equal(b!.eml, null, 'no mail before a culprit');
  t.equal(reportLine(b!), 'report x (open): t; appeared in aaaaaaaaaaaa..bbbbbbbbbbbb, not bisected yet');
});

t.test('patchset_hash is sha256 over the newline-terminated sha256 of each patch', async (t) => {
  const h = (s: string) => createHash('sha256').update(s).digest('hex');
  t.equal(kcidbPatchsetHash(['a\n', 'b\n']), h(`${h('a\n')}\n${h('b\n')}\n`));
  t.equal(kcidbPatchsetHash([]), '');
});

t.test('JUnit and TAP', async (t) => {
  const junit = await read('junit.xml');
  t.match(junit, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites /);
  t.match(junit, /<testcase classname="stock.smoke.ext4.default" name="dax_smoke\[fs=ext4\]" time="2.900">(<properties>.*?<\/properties>)?<failure type="regression"/);
  t.match(junit, /name="known_bug\[fs=ext4\]" time="1.000"><skipped message="expected failure: known bug on 6.1"\/>/);
  t.match(junit, /name="lost_ssh\[fs=xfs\]" time="1.000"><error /);
  t.equal((junit.match(/<testsuite /g) ?? []).length, 4);
  const tap = await read('results.tap');
  const lines = tap.split('\n');
  t.equal(lines[0], 'TAP version 14');
  const plan = Number(/^1\.\.(\d+)$/m.exec(tap)![1]);
  t.equal(lines.filter((l) => /^(not )?ok \d+ /.test(l)).length, plan, 'the plan counts the test lines');
  t.match(tap, /^not ok \d+ - stock\.smoke\.ext4\.default known_bug\[fs=ext4\] # TODO expected failure: known bug on 6\.1$/m);
  t.match(tap, /^not ok \d+ - broken\.smoke\.ext4\.default # harness: kernel broken could not be prepared/m);
});

t.test('JUnit: the failing case carries its report as properties and in its system-out', async (t) => {
  const junit = await read('junit.xml');
  // A case runs to the next one or the end of its suite (its system-out may hold several lines).
  const cases = junit.split(/(?=<testcase )|(?=<\/testsuite>)/).filter((c) => c.startsWith('<testcase ')).map((c) => c.trimEnd());
  const failing = cases.find((l) => l.includes('classname="stock.smoke.ext4.default" name="dax_smoke[fs=ext4]"'))!;
  t.match(
    failing,
    /<properties><property name="dax-harness\.report" value="r-culprit"\/><property name="dax-harness\.culprit" value="cccccccccccc fs\/dax: take the folio &lt;ref&gt; early"\/><property name="dax-harness\.mail" value="reports\/r-culprit\/report\.eml"\/><\/properties><failure /,
  );
  t.match(failing, /<system-out>log: [^<]*\nreport r-culprit \(open\): kernel BUG in dax_fault_iter; culprit cccccccccccc \(&quot;fs\/dax: take the folio &lt;ref&gt; early&quot;\) by Pat &lt;pat@example\.com&gt;; bisection bisect-r1; mail reports\/r-culprit\/report\.eml<\/system-out><\/testcase>$/);
  t.equal(cases.filter((l) => l.includes('dax-harness.report')).length, 1, 'only the case the report is on (the fixed one\'s test never ran)');
});

t.test('the terminal summary puts regressions first', async (t) => {
  const s = await read('summary.txt');
  t.ok(s.indexOf('REGRESSIONS') < s.indexOf('NEW CRASH SIGNATURES'));
  t.match(s, /REGRESSIONS \(1\):\n  stock\.smoke\.ext4\.default  dax_smoke\[fs=ext4\]: fails 5\/5 with reruns \(passed on night-2\)/);
  t.match(s, /known crash signatures \(1\):\n  BUG: known-sig .*first night-2, last night-2/);
  t.equal(report.counts.regression, 1);
  t.match(s, /\nBUG REPORTS \(2\):\n {2}report r-culprit \(open\): kernel BUG in dax_fault_iter; culprit cccccccccccc .*\n {2}report r-fixed \(fixed\): .*fixed in aaaaaaaaaaaa\.\.bbbbbbbbbbbb \(night night-3\)\n/);
});

t.test('the HTML report loads from disk in headless chromium without errors and shows rows and plots', async (t) => {
  const chromium = '/usr/bin/chromium';
  t.ok(existsSync(chromium), 'Debian chromium is installed (.ci/run installs it)');
  if (!existsSync(chromium)) return;
  const html = await read('report.html');
  t.notMatch(html, /<script[^>]+src=|<link[^>]+href=/i, 'no script or stylesheet is loaded from elsewhere');
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${(e as Error).message}`));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(join(dir, 'report.html')).href, { waitUntil: 'load' });
    await page.waitForSelector('body[data-plots]', { timeout: 10000 });
    t.same(problems, [], 'no console errors');
    t.same(requests.filter((u) => !u.startsWith('file:')), [], 'no network');
    const facts = await page.evaluate(() => ({
      regressions: [...document.querySelectorAll('#regressions-table tr.test-row')].map((r) => (r as HTMLElement).dataset.testKey),
      rows: document.querySelectorAll('#tests-table tr.test-row').length,
      plots: document.querySelectorAll('#tests-table .plot').length,
      drawn: document.querySelectorAll('#tests-table .plot[data-drawn] canvas').length,
      crashes: [...document.querySelectorAll('.crash h3')].map((h) => h.textContent),
      pageDump: document.querySelector('.crash table.pagedump')?.textContent ?? '',
      stack: document.querySelector('.crash pre.stack')?.textContent ?? '',
      cells: document.querySelectorAll('#cells-table tr.cell-row').length,
      reports: [...document.querySelectorAll('#reports-table tr.report-row')].map((r) => [(r as HTMLElement).dataset.report, (r as HTMLElement).dataset.status, r.querySelector('a[href$="report.eml"]')?.getAttribute('href') ?? null]),
      reportLinks: [...document.querySelectorAll('#regressions-table a.report-link')].map((a) => [a.getAttribute('href'), a.textContent]),
      culprit: document.querySelector('#report-r-culprit')?.textContent ?? '',
    }));
    t.same(facts.reports, [['r-culprit', 'open', '../../reports/r-culprit/report.eml'], ['r-fixed', 'fixed', null]], 'tonight\'s reports, the mail linked from the night\'s directory');
    t.same(facts.reportLinks, [['#report-r-culprit', 'report: culprit found']], 'the regression links its report');
    t.match(facts.culprit, /cccccccccccc “fs\/dax: take the folio <ref> early” by Pat <pat@example\.com>/);
    t.same(facts.regressions, ['dax_smoke[fs=ext4]']);
    t.equal(facts.rows, report.tests.length);
    t.equal(facts.plots, 2 * report.tests.length, 'a failure-rate and a duration plot per test');
    t.equal(facts.drawn, facts.plots, 'every plot drawn on a canvas');
    t.same(facts.crashes, ['NEW BUG: new-sig', 'BUG: known-sig']);
    t.match(facts.pageDump, /refcount0/);
    t.match(facts.stack, /free_pages\+0x10\s+mm\/page_alloc\.c:100/);
    t.equal(facts.cells, 4);
    await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});
