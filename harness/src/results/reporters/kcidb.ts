// KCIDB I/O v5.3 for KernelCI: one checkout and one build per kernel of the
// night, one test per (cell, test) with a dotted path, each crash signature
// as an issue with an incident per test it hit, and each bug report (a
// regression with its bisected culprit) as an issue with an incident on its
// test (on the cell's build when the test did not run). Statuses follow
// KCIDB's meanings: the harness failing is ERROR (a test it could not finish)
// or MISS (a cell it could not run), never FAIL.
import { createHash } from 'node:crypto';
import { identityParams } from '../classify.ts';
import { reportLine, type NightReport, type ReportBug, type ReportCell, type ReportTest } from '../report.ts';
import type { KernelArtifact, Verdict } from '../records.ts';

type Status = 'FAIL' | 'ERROR' | 'MISS' | 'PASS' | 'DONE' | 'SKIP';
/** KCIDB's priority order, highest first: the summary of several runs is the highest. */
const PRIORITY: Status[] = ['FAIL', 'ERROR', 'MISS', 'PASS', 'DONE', 'SKIP'];

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** KCIDB's patchset_hash: sha256 over the newline-terminated sha256 of each patch, in order; '' for none. */
export function kcidbPatchsetHash(patches: string[]): string {
  return patches.length ? hex(patches.map((p) => `${hex(p)}\n`).join('')) : '';
}

const VERDICT_STATUS: Record<Verdict, Status> = {
  pass: 'PASS',
  xpass: 'PASS',
  // Expected failures are failures of the tested code that are known: still FAIL, marked in misc.
  fail: 'FAIL',
  xfail: 'FAIL',
  skip: 'SKIP',
  error: 'ERROR',
};

export function summaryStatus(verdicts: Verdict[]): Status {
  const s = verdicts.map((v) => VERDICT_STATUS[v]);
  return PRIORITY.find((p) => s.includes(p)) ?? 'MISS';
}

/** A path segment KCIDB accepts ([a-zA-Z0-9_-]+). */
const seg = (s: string) => s.replace(/[^a-zA-Z0-9_-]+/g, '_').replace(/^_+|_+$/g, '') || '_';

export function testPath(cell: ReportCell, t: Pick<ReportTest, 'name' | 'params'>): string {
  // The stressor target is the cell's mode, already in the cell's path.
  const params = identityParams(t.params)
    .filter(([k]) => k !== 'target')
    .map(([, v]) => seg(String(v)));
  return [seg(cell.axes.suite), seg(t.name), ...params].join('.');
}

export function formatKcidb(r: NightReport): string {
  const o = r.origin;
  const night = r.night.id;
  const id: IdOf = (...parts: string[]) => `${o}:${[night, ...parts].join('/')}`;
  const { checkouts, builds, buildOf } = kcidbKernels(r, id);
  const { tests, testIds } = kcidbTests(r, id, buildOf);

  const buildIdOfCell = (cellKey: string) => {
    const cell = r.cells.find((x) => x.key === cellKey);
    return buildOf.get(cell?.kernelKey ?? '') ?? id(cell?.axes.kernel ?? 'unknown', 'build');
  };
  const { issues, incidents } = crashIssues(r, testIds, buildIdOfCell);
  for (const b of r.reports) {
    const { issue, incident } = reportIssue(b, { origin: o, night, testId: testIds.get(`${b.cellKey}\n${b.testKey}`), buildId: buildIdOfCell(b.cellKey) });
    issues.push(issue);
    incidents.push(incident);
  }
  return JSON.stringify({ version: { major: 5, minor: 3 }, checkouts, builds, tests, issues, incidents }, null, 2) + '\n';
}

/** A KCIDB id under tonight's night: `<origin>:<night>/<parts...>`. */
type IdOf = (...parts: string[]) => string;

/** One checkout and one build per kernel of the night; buildOf maps a kernel key to its build's id. */
function kcidbKernels(r: NightReport, id: IdOf): { checkouts: Record<string, unknown>[]; builds: Record<string, unknown>[]; buildOf: Map<string, string> } {
  const o = r.origin;
  const checkouts: Record<string, unknown>[] = [];
  const builds: Record<string, unknown>[] = [];
  const buildOf = new Map<string, string>();
  for (const k of r.kernels) {
    const spec = JSON.parse(k.spec) as { kind: string; tree?: string; ref?: string; version?: string; pkg?: string };
    const art = k.artifact ? (JSON.parse(k.artifact) as KernelArtifact) : null;
    const b = art?.build;
    const checkout: Record<string, unknown> = {
      id: id(k.name, 'checkout'),
      origin: o,
      tree_name: k.name,
      start_time: k.prepared_at,
      comment: art?.label ?? (spec.kind === 'debian' ? `Debian linux-source-${spec.version}` : spec.kind === 'git' ? `${spec.tree}${spec.ref ? ` at ${spec.ref}` : ''}` : (spec.pkg ?? 'Debian stock kernel')),
      misc: { kind: spec.kind, ...(b ? { source: b.source, series: b.series.map((p) => p.title) } : {}) },
    };
    if (k.patchset_hash !== null) checkout.patchset_hash = k.patchset_hash;
    if (b && /^[0-9a-f]{40}$/.test(b.baseCommit) && spec.kind === 'git') checkout.git_commit_hash = b.baseCommit;
    if (spec.kind === 'git' && spec.ref) checkout.git_repository_branch = spec.ref;
    if (k.status === 'ok') checkout.valid = true;
    checkouts.push(checkout);
    const build: Record<string, unknown> = {
      id: id(k.name, 'build'),
      checkout_id: checkout.id,
      origin: o,
      start_time: k.prepared_at,
      duration: k.duration_ms / 1000,
      architecture: 'x86_64',
      status: k.status === 'ok' ? 'PASS' : k.status === 'fail' ? 'FAIL' : 'ERROR',
      misc: { release: art?.release ?? null, artifact_key: art?.key ?? null, ...(k.reason ? { reason: k.reason } : {}) },
    };
    if (b) {
      build.compiler = b.compiler;
      build.config_name = [b.configBase, ...b.configFragments].join('+');
    }
    if (k.reason) build.log_excerpt = k.reason.slice(0, 16384);
    builds.push(build);
    buildOf.set(k.key, build.id as string);
  }
  return { checkouts, builds, buildOf };
}

/**
 * One test per (cell, test) that ran, or one MISS per cell that did not;
 * testIds maps `cell\ntest` to the test's id.
 */
function kcidbTests(r: NightReport, id: IdOf, buildOf: Map<string, string>): { tests: Record<string, unknown>[]; testIds: Map<string, string> } {
  const o = r.origin;
  const tests: Record<string, unknown>[] = [];
  const testIds = new Map<string, string>();
  for (const c of r.cells) {
    const build_id = buildOf.get(c.kernelKey) ?? id(c.axes.kernel, 'build');
    const environment = { comment: `${c.axes.topology} topology, ${c.axes.mode}`, misc: { cell: c.key, topology: c.axes.topology, mode: c.axes.mode } };
    if (c.status === 'not-run' || (c.status === 'infra-error' && !c.tests.length)) {
      tests.push({ id: id(c.key), build_id, origin: o, path: seg(c.axes.suite), status: 'MISS', comment: c.reason.slice(0, 1000), environment, misc: { cell: c.key } });
      continue;
    }
    for (const t of c.tests) {
      if (t.cls === 'gone') continue;
      const tid = id(c.key, seg(t.key));
      testIds.set(`${c.key}\n${t.key}`, tid);
      const test: Record<string, unknown> = {
        id: tid,
        build_id,
        origin: o,
        path: testPath(c, t),
        status: summaryStatus(t.verdicts),
        duration: t.durationMs / 1000,
        comment: t.detail,
        environment,
        misc: { class: t.cls, verdicts: t.verdicts, reruns: t.rerunVerdicts, ...(t.expectedWhy ? { expected_failure: t.expectedWhy } : {}), ...(t.log ? { log: t.log } : {}) },
      };
      if (t.reason) test.log_excerpt = t.reason.slice(0, 16384);
      tests.push(test);
    }
  }
  return { tests, testIds };
}

/** Each crash signature as an issue, with one incident per test it hit (the cell's build when no test). */
function crashIssues(r: NightReport, testIds: Map<string, string>, buildIdOfCell: (cellKey: string) => string): { issues: Record<string, unknown>[]; incidents: Record<string, unknown>[] } {
  const o = r.origin;
  const night = r.night.id;
  const issues: Record<string, unknown>[] = [];
  const incidents: Record<string, unknown>[] = [];
  for (const c of r.crashes) {
    const issueId = `${o}:crash/${hex(c.signature).slice(0, 16)}`;
    issues.push({
      id: issueId,
      version: 1,
      origin: o,
      report_subject: c.title,
      comment: c.title,
      categories: [`runtime.${seg(c.type.toLowerCase())}`],
      culprit: { code: true, tool: false, harness: false },
      misc: { signature: c.signature, match_key: c.matchKey, new: c.isNew, first_seen: c.firstSeen, last_seen: c.lastSeen, count: c.count, nights: c.nights },
    });
    const done = new Set<string>();
    for (const w of c.where) {
      const tid = w.testKey ? testIds.get(`${w.cellKey}\n${w.testKey}`) : undefined;
      const target = tid ? { test_id: tid } : { build_id: buildIdOfCell(w.cellKey) };
      const key = tid ?? `${w.cellKey}`;
      if (done.has(key)) continue;
      done.add(key);
      incidents.push({ id: `${issueId}/${night}/${seg(w.cellKey)}${w.testKey ? `/${seg(w.testKey)}` : ''}`, origin: o, issue_id: issueId, issue_version: 1, present: true, ...target });
    }
  }
  return { issues, incidents };
}

/**
 * A bug report as a KCIDB issue (the culprit is the tested code) and its
 * incident tonight: present while the report is open, not present on the
 * night that fixed it. The incident names the test when it ran, else the
 * build of the report's cell.
 */
export function reportIssue(b: ReportBug, o: { origin: string; night: string; testId?: string; buildId: string }): { issue: Record<string, unknown>; incident: Record<string, unknown> } {
  const issueId = `${o.origin}:report/${seg(b.id)}`;
  const issue = {
    id: issueId,
    version: 1,
    origin: o.origin,
    report_subject: b.title,
    comment: reportLine(b).slice(0, 1000),
    culprit: { code: true, tool: false, harness: false },
    misc: {
      report_id: b.id,
      status: b.status,
      match_key: b.matchKey,
      cell: b.cellKey,
      test: b.testKey,
      range: b.range,
      culprit: b.culprit,
      bisect: b.bisectId,
      fixed: b.fixed,
      mail: b.eml,
    },
  };
  const target = o.testId ? { test_id: o.testId } : { build_id: o.buildId };
  const incident = { id: `${issueId}/${o.night}`, origin: o.origin, issue_id: issueId, issue_version: 1, present: b.status === 'open', ...target };
  return { issue, incident };
}
