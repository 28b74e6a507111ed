// `dax-harness results`: the results store from the terminal — nights and
// runs, one of them, two nights compared, a test's history, reports, reindex.
import { stat } from 'node:fs/promises';
import { resolve, dirname } from 'node:path';
import { writeFileAtomic } from '../host/fsutil.ts';
import { defaultResultsRoot } from '../host/paths.ts';
import { ResultsIndex } from '../results/db.ts';
import { loadNightReport } from '../results/report.ts';
import { formatNightSummary, renderReport, REPORT_FILES, type ReportFormat } from '../results/reporters/index.ts';
import type { Verdict } from '../results/records.ts';
import { listGuests } from '../workflows/kept.ts';
import { LIMITS, wholeOption } from '../host/limits.ts';
import { forTerminal, lineForTerminal } from '../host/terminal.ts';
import { formatColumns } from '../host/table.ts';
import { defineCommand, parseCommand } from './command.ts';
import { reportError, usageError } from './exit.ts';

export const RESULTS_HELP = `usage: dax-harness results [COMMAND] [options]

commands:
  list (default)        nights, then runs made outside a night
  show ID               a night's summary, or a run's tests
  diff A B              tests whose outcome differs between nights (or runs) A and B
  history TEST          a test's outcome and duration night by night (TEST: name or
                        name[params] as the reports print it)
  report NIGHT          one report: --format text|junit|tap|kcidb|html (default text), -o FILE
  reports               open bug reports: the crash, its cell and test, the commit range
                        it appeared in, the culprit once bisected, where report.eml is;
                        --all adds the fixed ones with the range they were fixed in
  reindex               rebuild the index (RESULTS/index.sqlite) from the night and run
                        directories; nothing is lost when the index is deleted or damaged

options:
  --results DIR         results root (default: results/ in the repo, or $DAX_HARNESS_RESULTS)
  --cell KEY            history: only this cell
  --nights N            history: the last N nights (default 30)
  --format F, -o/--output FILE  report: format and output file (default stdout)
  --all                 reports: fixed ones too
  --json                list, show, diff, history, reports, reindex: print the data as JSON`;

export const RESULTS_SPEC = defineCommand({
  name: 'results',
  options: {
    results: { type: 'string' },
    cell: { type: 'string' },
    nights: { type: 'string' },
    format: { type: 'string', default: 'text' },
    output: { type: 'string', short: 'o' },
    all: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  positionals: true,
  manual: RESULTS_HELP,
  examples: [
    ['dax-harness results', 'nights and runs, newest first'],
    ['dax-harness results show 2026-12-07', "a night's summary"],
    ['dax-harness results diff 2026-12-06 2026-12-07', 'what changed between two nights'],
    ["dax-harness results history 'pmd_pte_mix.xfs' --nights 60", "a test's last 60 nights"],
    ['dax-harness results report 2026-12-07 --format junit -o junit.xml', 'one report for CI'],
    ['dax-harness results reports', 'bugs found and not fixed yet, with their culprits'],
    ['dax-harness results list --json', 'the same list as JSON'],
  ],
  exit: { 0: 'done' },
});

/** Everything here prints what runs and guests wrote (reasons, titles, test names): cleaned for the terminal. */
const out = (s: string) => console.log(forTerminal(s));

const table = (rows: string[][]) => formatColumns(rows);

const short = (vs: Verdict[]) => {
  const c = new Map<string, number>();
  for (const v of vs) c.set(v, (c.get(v) ?? 0) + 1);
  return [...c].map(([v, n]) => (n > 1 ? `${v}×${n}` : v)).join(',') || '—';
};

export async function resultsCommand(argv: string[]): Promise<number> {
  const a = parseCommand(RESULTS_SPEC, argv);
  if (typeof a === 'number') return a;
  const json = a.values.json;
  let limit: number;
  try {
    limit = wholeOption(a.values.nights, '--nights', LIMITS.nights, 30);
  } catch (e) {
    return reportError('results', e);
  }
  if (json && a.positionals[0] === 'report') return bad('report writes the --format it is given (kcidb is JSON): drop --json');
  const [cmd = 'list', ...args] = a.positionals;
  const root = a.values.results ? resolve(a.values.results) : defaultResultsRoot();
  if (!(await stat(root).catch(() => null))?.isDirectory()) {
    if (a.values.results) return bad(`${root} is not a results directory: give --results the directory 'dax-harness run' or 'nightly' wrote into`);
    if (json) data({ root, nights: [], runs: [], guests: [] });
    else out(`no results yet in ${root}`);
    return 0;
  }
  if (cmd === 'reindex') return reindex(root, json);
  const idx = await ResultsIndex.open(root);
  try {
    const sub = Object.hasOwn(SUBCOMMANDS, cmd) ? SUBCOMMANDS[cmd] : undefined;
    if (!sub) return bad(`unknown command "${cmd}": use list, show, diff, history, report, reports or reindex (see --help)`);
    return await sub({ idx, root, args, json, values: a.values, limit, want: (n, usage) => (args.length === n ? null : bad(`${cmd} takes ${usage}`)) });
  } finally {
    idx.close();
  }
}

/** --json: the data as it is; else the lines for people. */
const data = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + '\n');

const bad = (msg: string) => usageError('results', msg);

/** What a subcommand is given: the open index, its words after the subcommand, and the options. */
interface Sub {
  idx: ResultsIndex;
  root: string;
  args: string[];
  json: boolean | undefined;
  values: { cell?: string; format?: string; output?: string; all?: boolean };
  /** --nights, checked. */
  limit: number;
  /** null when the subcommand got n words, else the usage error's exit code. */
  want: (n: number, usage: string) => number | null;
}

/** `results reindex`: the index rebuilt from the run and night directories. */
async function reindex(root: string, json: boolean | undefined): Promise<number> {
  const idx = await ResultsIndex.rebuild(root);
  const n = idx.nights().length;
  const runs = (idx.db.prepare('SELECT count(*) AS c FROM runs').get() as { c: number }).c;
  const tests = (idx.db.prepare('SELECT count(*) AS c FROM tests').get() as { c: number }).c;
  idx.close();
  if (json) data({ root, nights: n, runs, tests });
  else out(`reindexed ${root}: ${n} nights, ${runs} runs, ${tests} test results`);
  return 0;
}

/** `results list`: nights, runs and kept guests, as tables. */
async function listResults(x: Sub): Promise<number> {
  const nights = x.idx.nights();
  if (x.json) {
    data({ root: x.root, nights, runs: x.idx.runs(null), guests: (await listGuests(x.root)).map((g) => ({ ...g.info, state: g.state })) });
    return 0;
  }
  if (nights.length) {
    out(table([['night', 'status', 'cells', 'started', 'baseline'], ...nights.map((n) => [n.id, n.status, String(n.cells), n.started_at, n.baseline ?? 'previous'])]));
  } else out('no nights yet');
  const runs = x.idx.runs(null);
  if (runs.length) {
    out('');
    out(table([['run', 'status', 'started', 'reason'], ...runs.map((r) => [r.id, r.status, r.started_at, r.reason])]));
  }
  const guests = await listGuests(x.root);
  if (guests.length) {
    out('');
    out(table([['guest of run', 'mode', 'ssh', 'since', 'state'], ...guests.map((g) => [g.info.run, g.info.mode, `127.0.0.1:${g.info.ssh.port}`, g.info.startedAt, g.state.up ? 'up (dax-harness attach / stop)' : `gone: ${g.state.why} (dax-harness stop cleans up)`])]));
  }
  return 0;
}

/** `results show`: one night's summary, or one run's tests. */
async function showResult(x: Sub): Promise<number> {
  const e = x.want(1, 'one night or run id');
  if (e !== null) return e;
  if (x.idx.night(x.args[0])) {
    const report = loadNightReport(x.idx, x.args[0]);
    if (x.json) data(report);
    else process.stdout.write(forTerminal(formatNightSummary(report)));
    return 0;
  }
  const run = x.idx.run(x.args[0]);
  if (!run) return bad(`${x.args[0]} is neither a night nor a run in ${x.root}: see 'dax-harness results list'`);
  const tests = x.idx.runTests(run.id);
  if (x.json) {
    data({ run, tests, dir: resolve(x.root, run.dir) });
    return 0;
  }
  out(`run ${run.id}: ${run.status.toUpperCase()}${run.reason ? ` — ${lineForTerminal(run.reason)}` : ''}${run.cell_key ? ` (cell ${run.cell_key}, night ${run.night_id})` : ''}`);
  if (tests.length) out(table([['test', 'verdict', 'status', 'time', 'reason'], ...tests.map((t) => [t.test_key, t.verdict, t.status, `${(t.duration_ms / 1000).toFixed(1)}s`, t.reason])]));
  out(`details: ${resolve(x.root, run.dir)}`);
  return 0;
}

/** `results diff`: the tests whose outcome differs between two nights or two runs. */
async function diffResults(x: Sub): Promise<number> {
  const e = x.want(2, 'two nights (or two runs): diff A B');
  if (e !== null) return e;
  const [A, B] = x.args;
  const side = (id: string) => {
    const m = new Map<string, Verdict[]>();
    const rows = x.idx.night(id) ? x.idx.tests(id).filter((t) => t.role === 'main') : x.idx.run(id) ? x.idx.runTests(id) : null;
    if (!rows) return null;
    for (const t of rows) {
      const k = `${x.idx.night(id) ? `${t.cell_key} ` : ''}${t.test_key}`;
      m.set(k, [...(m.get(k) ?? []), t.verdict]);
    }
    return m;
  };
  const ma = side(A);
  const mb = side(B);
  if (!ma || !mb) return bad(`${!ma ? A : B} is neither a night nor a run in ${x.root}: see 'dax-harness results list'`);
  const keys = [...new Set([...ma.keys(), ...mb.keys()])].sort();
  const rows = keys.filter((k) => short(ma.get(k) ?? []) !== short(mb.get(k) ?? [])).map((k) => [k, short(ma.get(k) ?? []), short(mb.get(k) ?? [])]);
  if (x.json) data({ a: A, b: B, tests: keys.length, differ: rows.map(([test]) => ({ test, a: ma.get(test!) ?? [], b: mb.get(test!) ?? [] })) });
  else if (!rows.length) out(`${A} and ${B}: every test has the same outcome (${keys.length} tests)`);
  else out(table([['test', A, B], ...rows]));
  return 0;
}

/** `results history`: one test's verdicts night by night, in each cell that ran it. */
async function testHistory(x: Sub): Promise<number> {
  const e = x.want(1, 'one test name: history TEST');
  if (e !== null) return e;
  const cells = x.idx.testCells(x.args[0]).filter((c) => !x.values.cell || c.cell_key === x.values.cell);
  if (!cells.length) return bad(`no night ran a test "${x.args[0]}"${x.values.cell ? ` in cell ${x.values.cell}` : ''}: names are as 'results show NIGHT' prints them`);
  if (x.json) {
    data(cells.map((c) => ({ cell: c.cell_key, test: c.test_key, nights: x.idx.history(c.cell_key, c.test_key, { limit: x.limit }) })));
    return 0;
  }
  for (const c of cells) {
    const h = x.idx.history(c.cell_key, c.test_key, { limit: x.limit });
    const failed = h.filter((x) => x.verdicts.includes('fail')).length;
    out(`${c.cell_key}  ${c.test_key}: failed on ${failed} of ${h.length} nights`);
    out(table([['night', 'verdicts', 'time'], ...h.map((x) => [x.night, short(x.verdicts), `${(x.durationsMs.reduce((s, d) => s + d, 0) / x.durationsMs.length / 1000).toFixed(1)}s`])]));
    out('');
  }
  return 0;
}

/** `results report`: one night as a report file (or on stdout). */
async function writeReport(x: Sub): Promise<number> {
  const e = x.want(1, 'one night: report NIGHT [--format F] [-o FILE]');
  if (e !== null) return e;
  if (!x.idx.night(x.args[0])) return bad(`${x.args[0]} is not a night in ${x.root}: see 'dax-harness results list'`);
  const f = x.values.format as ReportFormat;
  if (!(f in REPORT_FILES)) return bad(`--format "${f}" is not one of ${Object.keys(REPORT_FILES).join(', ')}`);
  const out = x.values.output ? resolve(x.values.output) : null;
  const text = renderReport(loadNightReport(x.idx, x.args[0]), f, x.root, out ? dirname(out) : process.cwd());
  if (out) await writeFileAtomic(out, text);
  // The machine formats go out as written; the text one is read on a terminal.
  else process.stdout.write(f === 'text' ? forTerminal(text) : text);
  return 0;
}

/** `results reports`: bug reports: open ones, or --all. */
async function bugReports(x: Sub): Promise<number> {
  const e = x.want(0, 'no arguments: reports [--all]');
  if (e !== null) return e;
  const rows = x.idx.reports(x.values.all ? {} : { status: 'open' });
  if (x.json) {
    data(rows.map((r) => ({ ...r, dir: resolve(x.root, r.dir) })));
    return 0;
  }
  if (!rows.length) {
    out(x.values.all ? 'no reports yet' : 'no open reports');
    return 0;
  }
  const sha = (c: string | null) => (c ? c.slice(0, 12) : '—');
  for (const r of rows) {
    out(`${r.id}  ${r.status.toUpperCase()}  ${lineForTerminal(r.title)}`);
    out(`  cell ${r.cell_key}, test ${r.test_key}; first seen ${r.first_seen_night}, last ${r.last_seen_night}`);
    out(`  appeared in ${sha(r.good_commit)}..${sha(r.bad_commit)}${r.culprit_commit || r.culprit_subject ? `; culprit ${r.culprit_commit ? `${sha(r.culprit_commit)} ` : ''}("${lineForTerminal(r.culprit_subject ?? '')}") by ${lineForTerminal(r.culprit_author ?? '')}` : r.bisect_id ? `; bisection ${r.bisect_id}` : ''}`);
    if (r.status === 'fixed') out(`  fixed in ${sha(r.fixed_from)}..${sha(r.fixed_to)} (night ${r.fixed_night})`);
    out(`  ${resolve(x.root, r.dir)}`);
  }
  return 0;
}

const SUBCOMMANDS: Record<string, (x: Sub) => Promise<number>> = { list: listResults, show: showResult, diff: diffResults, history: testHistory, report: writeReport, reports: bugReports };
