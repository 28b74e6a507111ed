// The results index: an SQLite file (results/index.sqlite) over the night and
// run directories, for history queries and reports. It holds nothing the
// directories do not: a lost or corrupt index is rebuilt from them (reindex),
// and every write is one transaction, so a killed harness leaves the index as
// it was before or after, never between.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { abandoned } from './store.ts';
import { lockOwner } from '../host/lock.ts';
import { listNightDirs, loadCells, loadKernels, loadNight, nightDir, nightOwnerLock, nightsRoot, type NightCellRecord, type NightKernelRecord, type NightRecord } from './nights.ts';
import { testKey, verdictOf } from './classify.ts';
import { loadBugReports, reportsRoot, type BugReportRecord } from './bug-reports.ts';
import type { CrashReport, KernelArtifact, RunRecord, Verdict } from './records.ts';

const SCHEMA_VERSION = '2';

/** Added by schema 2, with kernels.git_commit (added last, so a migrated index and a new one have the same columns). */
const REPORTS_TABLE = `
CREATE TABLE reports(id TEXT PRIMARY KEY, status TEXT NOT NULL, match_key TEXT NOT NULL, title TEXT, cell_key TEXT, test_key TEXT, kernel_key TEXT,
  good_commit TEXT, bad_commit TEXT, culprit_commit TEXT, culprit_subject TEXT, culprit_author TEXT, bisect_id TEXT, rate_hits INTEGER, rate_runs INTEGER,
  first_seen_night TEXT, last_seen_night TEXT, last_seen_commit TEXT, fixed_night TEXT, fixed_from TEXT, fixed_to TEXT, updated_at TEXT, dir TEXT NOT NULL);
CREATE INDEX reports_key ON reports(match_key, status);
`;

const SCHEMA = `
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE nights(id TEXT PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL, config_hash TEXT, origin TEXT,
  shard TEXT, baseline TEXT, rerun_failures INTEGER, history_nights INTEGER, cells INTEGER, dir TEXT NOT NULL);
CREATE TABLE kernels(night_id TEXT NOT NULL, key TEXT NOT NULL, name TEXT, status TEXT, reason TEXT, spec TEXT, artifact TEXT, duration_ms INTEGER,
  prepared_at TEXT, patchset_hash TEXT, git_commit TEXT, PRIMARY KEY(night_id, key));
CREATE TABLE cells(night_id TEXT NOT NULL, cell_key TEXT NOT NULL, ord INTEGER, kernel_key TEXT, kernel TEXT, suite TEXT, mode TEXT, topology TEXT,
  plan TEXT, status TEXT, reason TEXT, started_at TEXT, ended_at TEXT, PRIMARY KEY(night_id, cell_key));
CREATE TABLE runs(id TEXT PRIMARY KEY, night_id TEXT, cell_key TEXT, role TEXT, rerun_tests TEXT, status TEXT, reason TEXT, started_at TEXT,
  ended_at TEXT, kernel TEXT, topology TEXT, accel TEXT, boot_ms INTEGER, dir TEXT NOT NULL);
CREATE TABLE tests(run_id TEXT NOT NULL, idx INTEGER NOT NULL, night_id TEXT, cell_key TEXT, role TEXT, test_key TEXT NOT NULL, name TEXT,
  params TEXT, status TEXT, verdict TEXT, expected TEXT, duration_ms INTEGER, reason TEXT, metrics TEXT, log TEXT, started_at TEXT,
  PRIMARY KEY(run_id, idx));
CREATE TABLE crashes(run_id TEXT NOT NULL, idx INTEGER NOT NULL, night_id TEXT, cell_key TEXT, role TEXT, test_key TEXT, type TEXT, title TEXT,
  fatal INTEGER, dedup_key TEXT, match_key TEXT, reason TEXT, page_dump TEXT, frames TEXT, lines TEXT, PRIMARY KEY(run_id, idx));
CREATE INDEX tests_history ON tests(cell_key, test_key);
CREATE INDEX tests_night ON tests(night_id, cell_key);
CREATE INDEX runs_night ON runs(night_id, cell_key);
CREATE INDEX crashes_sig ON crashes(dedup_key);
CREATE INDEX crashes_night ON crashes(night_id);
CREATE INDEX nights_time ON nights(started_at, id);
${REPORTS_TABLE}`;

export interface NightRow {
  id: string;
  started_at: string;
  ended_at: string | null;
  status: string;
  config_hash: string | null;
  origin: string | null;
  shard: string | null;
  baseline: string | null;
  rerun_failures: number;
  history_nights: number;
  cells: number;
  dir: string;
}

export interface CellRow {
  night_id: string;
  cell_key: string;
  ord: number;
  kernel_key: string;
  kernel: string;
  suite: string;
  mode: string;
  topology: string;
  plan: string;
  status: string;
  reason: string;
  started_at: string;
  ended_at: string;
}

export interface RunRow {
  id: string;
  night_id: string | null;
  cell_key: string | null;
  role: string;
  rerun_tests: string | null;
  status: string;
  reason: string;
  started_at: string;
  ended_at: string | null;
  kernel: string | null;
  topology: string | null;
  accel: string | null;
  boot_ms: number | null;
  dir: string;
}

export interface TestRow {
  run_id: string;
  idx: number;
  night_id: string | null;
  cell_key: string | null;
  role: string;
  test_key: string;
  name: string;
  params: string;
  status: string;
  verdict: Verdict;
  expected: string | null;
  duration_ms: number;
  reason: string;
  metrics: string;
  log: string;
  started_at: string;
}

export interface CrashRow {
  run_id: string;
  idx: number;
  night_id: string | null;
  cell_key: string | null;
  role: string;
  test_key: string | null;
  type: string;
  title: string;
  fatal: number;
  dedup_key: string;
  match_key: string;
  reason: string;
  page_dump: string | null;
  frames: string | null;
  lines: string;
}

export interface KernelRow {
  night_id: string;
  key: string;
  name: string;
  status: string;
  reason: string;
  spec: string;
  artifact: string | null;
  duration_ms: number;
  prepared_at: string;
  patchset_hash: string | null;
  /** The commit of the tree the kernel was built from (a git kernel's ref as resolved that night), else null. */
  git_commit: string | null;
}

export interface ReportRow {
  id: string;
  status: BugReportRecord['status'];
  match_key: string;
  title: string;
  cell_key: string;
  test_key: string;
  kernel_key: string;
  good_commit: string;
  bad_commit: string;
  culprit_commit: string | null;
  culprit_subject: string | null;
  culprit_author: string | null;
  bisect_id: string | null;
  rate_hits: number | null;
  rate_runs: number | null;
  first_seen_night: string;
  last_seen_night: string;
  last_seen_commit: string;
  fixed_night: string | null;
  fixed_from: string | null;
  fixed_to: string | null;
  updated_at: string;
  dir: string;
}

/** One night of a test in one cell, with the commit its kernel was built from. */
export interface CommitPoint {
  night: string;
  startedAt: string;
  /** null: the kernel is not from a git tree (or could not be prepared). */
  commit: string | null;
  kernelKey: string;
  patchsetHash: string | null;
  /** Main-run verdicts (one per pass) and reruns' verdicts. */
  main: Verdict[];
  reruns: Verdict[];
}

/**
 * The commit a night's kernel stands for on its tree's history: the ref as
 * resolved (the series, if any, sits on top of it). Only git kernels have
 * one; a Debian source's commit is the harness's own import of it.
 */
export function kernelCommit(spec: { kind?: unknown } | null, artifact: Pick<KernelArtifact, 'build'> | null): string | null {
  const c = artifact?.build?.baseCommit;
  return spec?.kind === 'git' && typeof c === 'string' && /^[0-9a-f]{40}$/.test(c) ? c : null;
}

/**
 * Each step brings an index written by the schema it is keyed by to the next
 * one, in place (a rebuild reads every night again). Steps only add: an older
 * harness that opens a newer index rebuilds it in its own schema, and nothing
 * is lost either way, since the directories hold everything.
 */
const MIGRATIONS: Record<string, (db: Database.Database) => void> = {
  '1': (db) => {
    db.exec('ALTER TABLE kernels ADD COLUMN git_commit TEXT');
    const set = db.prepare('UPDATE kernels SET git_commit = ? WHERE night_id = ? AND key = ?');
    for (const k of db.prepare('SELECT night_id, key, spec, artifact FROM kernels').all() as Pick<KernelRow, 'night_id' | 'key' | 'spec' | 'artifact'>[])
      set.run(kernelCommit(JSON.parse(k.spec) as { kind?: unknown }, k.artifact ? (JSON.parse(k.artifact) as KernelArtifact) : null), k.night_id, k.key);
    db.exec(REPORTS_TABLE);
  },
};

interface LoadedRun {
  record: RunRecord;
  dir: string;
  nightId: string | null;
  cellKey: string | null;
  role: string;
  rerunTests: string[] | null;
}

interface LoadedNight {
  night: NightRecord;
  dir: string;
  kernels: NightKernelRecord[];
  cells: NightCellRecord[];
  runs: LoadedRun[];
}

export const indexPath = (resultsRoot: string) => join(resultsRoot, 'index.sqlite');

/** A run as it stands: 'running' only while its harness still beats (a dead one's run is 'aborted'). */
async function readRun(dir: string): Promise<RunRecord | null> {
  try {
    const file = join(dir, 'run.json');
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    const r = JSON.parse(text) as RunRecord;
    if (!r || !Array.isArray(r.tests)) return null;
    const why = abandoned(r, st.mtimeMs);
    return why ? { ...r, status: 'aborted', reason: why } : r;
  } catch {
    return null;
  }
}

/** Everything a night directory says, read before the write transaction starts. */
async function loadNightDir(dir: string): Promise<LoadedNight | null> {
  let night = await loadNight(dir);
  if (!night) return null;
  // A 'running' night nobody owns any more: its process died (a killed CI job); resuming it is up to the user.
  if (night.status === 'running' && !(await lockOwner(nightOwnerLock(dirname(dirname(dir)), night.id)))) night = { ...night, status: 'aborted' as NightRecord['status'] };
  const cells = await loadCells(dir);
  const kernels = await loadKernels(dir);
  const runs: LoadedRun[] = [];
  for (const c of cells)
    for (const ref of c.runs) {
      const record = await readRun(join(dir, ref.dir));
      if (record) runs.push({ record, dir: join(dir, ref.dir), nightId: night.id, cellKey: c.key, role: ref.role, rerunTests: ref.tests ?? null });
    }
  return { night, dir, kernels, cells, runs };
}

/** Replace everything in `live` (schema included) by the database at `fresh`, in one write transaction. */
function swapIn(live: Database.Database, fresh: string): void {
  live.prepare('ATTACH DATABASE ? AS fresh').run(fresh);
  try {
    const objects = (schema: string) =>
      live.prepare(`SELECT type, name, sql FROM ${schema}.sqlite_master WHERE name NOT LIKE 'sqlite_%' AND sql IS NOT NULL`).all() as { type: string; name: string; sql: string }[];
    live
      .transaction(() => {
        for (const o of objects('main')) if (o.type === 'table') live.exec(`DROP TABLE main."${o.name}"`);
        const next = objects('fresh');
        for (const o of next) if (o.type === 'table') live.exec(o.sql);
        for (const o of next) if (o.type === 'table') live.exec(`INSERT INTO main."${o.name}" SELECT * FROM fresh."${o.name}"`);
        // Indexes after the rows: one sort each instead of a tree updated per row.
        for (const o of next) if (o.type === 'index') live.exec(o.sql);
      })
      .immediate();
  } finally {
    live.exec('DETACH DATABASE fresh');
  }
}

export class ResultsIndex {
  readonly db: Database.Database;
  readonly root: string;

  private constructor(db: Database.Database, root: string) {
    this.db = db;
    this.root = root;
  }

  /**
   * Opens (or creates) the index of a results root. An index that cannot be
   * read, or was written by another schema, is moved aside and rebuilt from
   * the directories.
   */
  static async open(resultsRoot: string): Promise<ResultsIndex> {
    const path = indexPath(resultsRoot);
    const fresh = !(await stat(path).catch(() => null));
    try {
      const idx = new ResultsIndex(ResultsIndex.connect(path), resultsRoot);
      if (fresh) {
        idx.db.exec(SCHEMA);
        idx.db.prepare('INSERT INTO meta VALUES (?, ?)').run('schema', SCHEMA_VERSION);
        await idx.syncAll();
        return idx;
      }
      const v = idx.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
      idx.db.prepare('SELECT count(*) FROM nights').get();
      if (v?.value === SCHEMA_VERSION || (v && idx.migrate(v.value))) {
        await idx.syncAll();
        return idx;
      }
      idx.close();
    } catch {
      // Not a database, or a damaged one: the directories still have everything.
    }
    return ResultsIndex.rebuild(resultsRoot);
  }

  private static connect(path: string): Database.Database {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 10000');
    return db;
  }

  /**
   * Builds a new index beside the live one, then copies it in with one
   * transaction: readers on other connections see the old index or the new
   * one, and no file under them (the index, its -wal and -shm) is replaced or
   * deleted. Only an index that is not a database at all, or is corrupt, is
   * moved aside (with its -wal and -shm, never deleted) for the new one.
   */
  static async rebuild(resultsRoot: string): Promise<ResultsIndex> {
    const path = indexPath(resultsRoot);
    const tmp = `${path}.rebuild-${process.pid}-${randomBytes(3).toString('hex')}`;
    const db = new Database(tmp);
    try {
      // A crash mid-rebuild leaves only the temp file, which is never opened: no journal, no fsync per night.
      db.pragma('journal_mode = OFF');
      db.pragma('synchronous = OFF');
      db.exec(SCHEMA);
      db.prepare('INSERT INTO meta VALUES (?, ?)').run('schema', SCHEMA_VERSION);
      const idx = new ResultsIndex(db, resultsRoot);
      await idx.syncAll(true);
      db.close();
      let live: Database.Database | null = null;
      try {
        live = ResultsIndex.connect(path);
        swapIn(live, tmp);
        return new ResultsIndex(live, resultsRoot);
      } catch (e) {
        live?.close();
        if (!/^SQLITE_(NOTADB|CORRUPT)/.test((e as { code?: string }).code ?? '')) throw e;
        // Nobody reads a damaged index usefully; its files are kept aside for a post-mortem.
        const aside = `${path}.damaged-${Date.now()}`;
        for (const s of ['', '-wal', '-shm']) await rename(path + s, aside + s).catch(() => {});
        const fh = await open(tmp, 'r+');
        await fh.sync();
        await fh.close();
        await rename(tmp, path);
        return new ResultsIndex(ResultsIndex.connect(path), resultsRoot);
      }
    } finally {
      if (db.open) db.close();
      await rm(tmp, { force: true });
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Brings an index of schema `from` to this one in place, in one write
   * transaction (another process may be migrating it at the same moment: the
   * second finds the work done). False when there is no way from `from`: the
   * caller rebuilds.
   */
  private migrate(from: string): boolean {
    if (!MIGRATIONS[from]) return false;
    try {
      this.db
        .transaction(() => {
          for (let v = (this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string }).value; v !== SCHEMA_VERSION; ) {
            const step = MIGRATIONS[v];
            if (!step) throw new Error(`no migration from schema ${v}`);
            step(this.db);
            v = String(Number(v) + 1);
            this.db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(v);
          }
        })
        .immediate();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Brings the index up to date with the directories: nights whose files
   * changed since they were indexed (running ones always), and plain run
   * directories not yet indexed or still running.
   */
  async syncAll(all = false): Promise<void> {
    const known = new Map((this.db.prepare('SELECT id, status, ended_at, cells FROM nights').all() as Pick<NightRow, 'id' | 'status' | 'ended_at' | 'cells'>[]).map((r) => [r.id, r]));
    for (const id of await listNightDirs(this.root)) {
      const dir = nightDir(this.root, id);
      if (!all) {
        const k = known.get(id);
        const n = await loadNight(dir);
        const cellCount = (await readdir(join(dir, 'cells')).catch(() => [])).filter((f) => f.endsWith('.json')).length;
        if (k && n && k.status === n.status && k.ended_at === n.endedAt && k.cells === cellCount && n.status !== 'running') continue;
      }
      await this.indexNight(dir);
    }
    await this.syncReports();
    const runsKnown = new Map((this.db.prepare('SELECT id, status FROM runs WHERE night_id IS NULL').all() as { id: string; status: string }[]).map((r) => [r.id, r.status]));
    let names: string[] = [];
    try {
      names = (await readdir(this.root, { withFileTypes: true })).filter((d) => d.isDirectory() && d.name !== 'nights' && d.name !== 'reports' && !d.name.startsWith('.')).map((d) => d.name);
    } catch {
      return;
    }
    const loaded: LoadedRun[] = [];
    for (const n of names.sort()) {
      const st = runsKnown.get(n);
      if (!all && st && st !== 'running') continue;
      const record = await readRun(join(this.root, n));
      if (record) loaded.push({ record, dir: join(this.root, n), nightId: null, cellKey: record.plan?.cellKey ?? null, role: 'main', rerunTests: null });
    }
    if (loaded.length) this.db.transaction(() => loaded.forEach((r) => this.writeRun(r)))();
  }

  /** The reports table as the report directories say (a few dozen files: read whole each time). */
  async syncReports(): Promise<void> {
    const reports = await loadBugReports(this.root);
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM reports').run();
      const ins = this.db.prepare('INSERT INTO reports VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)');
      for (const { record: r, dir } of reports)
        ins.run(r.id, r.status, r.matchKey, r.title, r.cell.key, r.cell.test, r.kernelKey, r.range.good, r.range.bad, r.culprit?.commit ?? null, r.culprit?.subject ?? null,
          r.culprit?.author ?? null, r.bisect, r.rate?.hits ?? null, r.rate?.runs ?? null, r.firstSeen.night, r.lastSeen.night, r.lastSeen.commit,
          r.fixed?.night ?? null, r.fixed?.range.from ?? null, r.fixed?.range.to ?? null, r.updatedAt, relative(this.root, dir));
    })();
  }

  /** (Re)indexes one night directory in a single transaction. */
  async indexNight(dir: string): Promise<void> {
    const n = await loadNightDir(dir);
    if (!n) return;
    this.db.transaction(() => {
      const id = n.night.id;
      for (const t of ['kernels', 'cells']) this.db.prepare(`DELETE FROM ${t} WHERE night_id = ?`).run(id);
      for (const t of ['runs', 'tests', 'crashes']) this.db.prepare(`DELETE FROM ${t} WHERE night_id = ?`).run(id);
      this.db
        .prepare('INSERT OR REPLACE INTO nights VALUES (?,?,?,?,?,?,?,?,?,?,?,?)')
        .run(id, n.night.startedAt, n.night.endedAt, n.night.status, n.night.configHash, n.night.origin, n.night.shard ? `${n.night.shard.index}/${n.night.shard.count}` : null,
          n.night.baseline, n.night.rerunFailures, n.night.historyNights, n.cells.length, relative(this.root, dir));
      const insK = this.db.prepare('INSERT INTO kernels VALUES (?,?,?,?,?,?,?,?,?,?,?)');
      for (const k of n.kernels)
        insK.run(id, k.key, k.name, k.status, k.reason, JSON.stringify(k.spec), k.artifact ? JSON.stringify(k.artifact) : null, k.durationMs, k.preparedAt, k.patchsetHash ?? null, kernelCommit(k.spec, k.artifact));
      const order = new Map(n.night.matrix.map((k, i) => [k, i]));
      const insC = this.db.prepare('INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)');
      for (const c of n.cells)
        insC.run(id, c.key, order.get(c.key) ?? -1, c.kernelKey, c.axes.kernel, c.axes.suite, c.axes.mode, c.axes.topology, JSON.stringify(c.plan), c.status, c.reason, c.startedAt, c.endedAt);
      for (const r of n.runs) this.writeRun(r);
    })();
  }

  private writeRun(r: LoadedRun): void {
    const rec = r.record;
    for (const t of ['runs', 'tests', 'crashes']) this.db.prepare(`DELETE FROM ${t} WHERE ${t === 'runs' ? 'id' : 'run_id'} = ?`).run(rec.id);
    this.db
      .prepare('INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)')
      .run(rec.id, r.nightId, r.cellKey, r.role, r.rerunTests ? JSON.stringify(r.rerunTests) : null, rec.status, rec.reason, rec.startedAt, rec.endedAt,
        rec.kernel ? JSON.stringify({ kind: rec.kernel.kind, release: rec.kernel.release, label: rec.kernel.label, key: rec.kernel.key, build: rec.kernel.build ? { ...rec.kernel.build, log: undefined } : undefined }) : null,
        JSON.stringify(rec.topology ?? null), rec.accel ? rec.accel.used : null, rec.bootMs, relative(this.root, r.dir));
    const insT = this.db.prepare('INSERT INTO tests VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)');
    rec.tests.forEach((t, i) =>
      insT.run(rec.id, i, r.nightId, r.cellKey, r.role, testKey(t), t.name, JSON.stringify(t.params ?? {}), t.status, verdictOf(t), t.expected ? JSON.stringify(t.expected) : null,
        Math.round(t.durationMs ?? 0), t.reason ?? '', JSON.stringify(t.metrics ?? {}), t.log ?? '', t.startedAt ?? null),
    );
    // Crashes sit in the run and in the test they landed in (the same reports):
    // one row each, tagged with that test.
    const owner = new Map<string, string>();
    for (const t of rec.tests) for (const c of t.crashes ?? []) owner.set(`${c.startLine}|${c.dedupKey}`, testKey(t));
    const all: CrashReport[] = [...(rec.crashes ?? [])];
    const seen = new Set(all.map((c) => `${c.startLine}|${c.dedupKey}`));
    for (const t of rec.tests) for (const c of t.crashes ?? []) if (!seen.has(`${c.startLine}|${c.dedupKey}`)) (all.push(c), seen.add(`${c.startLine}|${c.dedupKey}`));
    const insX = this.db.prepare('INSERT INTO crashes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)');
    all.forEach((c, i) =>
      insX.run(rec.id, i, r.nightId, r.cellKey, r.role, owner.get(`${c.startLine}|${c.dedupKey}`) ?? null, c.type, c.title, c.fatal ? 1 : 0, c.dedupKey, c.matchKey, c.reason ?? '',
        c.pageDump ? JSON.stringify(c.pageDump) : null, c.frames ? JSON.stringify(c.frames) : null, JSON.stringify(c.lines ?? [])),
    );
  }

  // ---- queries ----

  nights(): NightRow[] {
    return this.db.prepare('SELECT * FROM nights ORDER BY started_at, id').all() as NightRow[];
  }

  night(id: string): NightRow | undefined {
    return this.db.prepare('SELECT * FROM nights WHERE id = ?').get(id) as NightRow | undefined;
  }

  /** The night's position in time: nights before it, for "earlier" comparisons. */
  nightOrder(id: string): number {
    const n = this.night(id);
    if (!n) return -1;
    return (this.db.prepare('SELECT count(*) AS c FROM nights WHERE (started_at, id) < (?, ?)').get(n.started_at, n.id) as { c: number }).c;
  }

  cells(nightId: string): CellRow[] {
    return this.db.prepare('SELECT * FROM cells WHERE night_id = ? ORDER BY ord, cell_key').all(nightId) as CellRow[];
  }

  kernels(nightId: string): KernelRow[] {
    return this.db.prepare('SELECT * FROM kernels WHERE night_id = ? ORDER BY key').all(nightId) as KernelRow[];
  }

  runs(nightId: string | null): RunRow[] {
    return nightId === null
      ? (this.db.prepare('SELECT * FROM runs WHERE night_id IS NULL ORDER BY started_at, id').all() as RunRow[])
      : (this.db.prepare('SELECT * FROM runs WHERE night_id = ? ORDER BY cell_key, role, started_at, id').all(nightId) as RunRow[]);
  }

  run(id: string): RunRow | undefined {
    return this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
  }

  tests(nightId: string, cellKey?: string): TestRow[] {
    return cellKey === undefined
      ? (this.db.prepare('SELECT tests.* FROM tests JOIN runs ON runs.id = tests.run_id WHERE tests.night_id = ? ORDER BY tests.cell_key, tests.role, runs.started_at, runs.id, tests.idx').all(nightId) as TestRow[])
      : (this.db.prepare('SELECT tests.* FROM tests JOIN runs ON runs.id = tests.run_id WHERE tests.night_id = ? AND tests.cell_key = ? ORDER BY tests.role, runs.started_at, runs.id, tests.idx').all(nightId, cellKey) as TestRow[]);
  }

  runTests(runId: string): TestRow[] {
    return this.db.prepare('SELECT * FROM tests WHERE run_id = ? ORDER BY idx').all(runId) as TestRow[];
  }

  crashes(nightId: string): CrashRow[] {
    return this.db.prepare('SELECT * FROM crashes WHERE night_id = ? ORDER BY cell_key, role, run_id, idx').all(nightId) as CrashRow[];
  }

  /** The latest night before `nightId` that ran the cell (the default baseline). */
  previousNightWithCell(nightId: string, cellKey: string): string | null {
    const n = this.night(nightId);
    if (!n) return null;
    const r = this.db
      .prepare('SELECT nights.id FROM nights JOIN cells ON cells.night_id = nights.id AND cells.cell_key = ? WHERE (nights.started_at, nights.id) < (?, ?) ORDER BY nights.started_at DESC, nights.id DESC LIMIT 1')
      .get(cellKey, n.started_at, n.id) as { id: string } | undefined;
    return r?.id ?? null;
  }

  /**
   * One test's main-run verdicts and durations night by night (oldest first),
   * the last `limit` nights up to and including `untilNight` (all when absent).
   */
  history(cellKey: string, key: string, opts: { untilNight?: string; limit?: number } = {}): { night: string; startedAt: string; verdicts: Verdict[]; durationsMs: number[] }[] {
    const until = opts.untilNight ? this.night(opts.untilNight) : undefined;
    const rows = this.db
      .prepare(
        `SELECT tests.night_id AS night, nights.started_at AS started_at, tests.verdict AS verdict, tests.duration_ms AS duration_ms
         FROM tests JOIN nights ON nights.id = tests.night_id
         WHERE tests.cell_key = ? AND tests.test_key = ? AND tests.role = 'main' ${until ? 'AND (nights.started_at, nights.id) <= (?, ?)' : ''}
         ORDER BY nights.started_at, nights.id, tests.run_id, tests.idx`,
      )
      .all(...(until ? [cellKey, key, until.started_at, until.id] : [cellKey, key])) as { night: string; started_at: string; verdict: Verdict; duration_ms: number }[];
    const out: { night: string; startedAt: string; verdicts: Verdict[]; durationsMs: number[] }[] = [];
    for (const r of rows) {
      const last = out.at(-1);
      if (last?.night === r.night) {
        last.verdicts.push(r.verdict);
        last.durationsMs.push(r.duration_ms);
      } else out.push({ night: r.night, startedAt: r.started_at, verdicts: [r.verdict], durationsMs: [r.duration_ms] });
    }
    return opts.limit ? out.slice(-opts.limit) : out;
  }

  /**
   * A test's nights in one cell with the commit each night built (oldest
   * first), up to and including `untilNight`: the history findRegressions
   * and the fixed rule read. One indexed query (tests_history).
   */
  commitHistory(cellKey: string, key: string, opts: { untilNight?: string; limit?: number } = {}): CommitPoint[] {
    const until = opts.untilNight ? this.night(opts.untilNight) : undefined;
    const rows = this.db
      .prepare(
        `SELECT tests.night_id AS night, nights.started_at AS started_at, tests.role AS role, tests.verdict AS verdict, cells.kernel_key AS kernel_key,
           kernels.git_commit AS git_commit, kernels.patchset_hash AS patchset_hash
         FROM tests JOIN nights ON nights.id = tests.night_id
           JOIN cells ON cells.night_id = tests.night_id AND cells.cell_key = tests.cell_key
           LEFT JOIN kernels ON kernels.night_id = cells.night_id AND kernels.key = cells.kernel_key
         WHERE tests.cell_key = ? AND tests.test_key = ? ${until ? 'AND (nights.started_at, nights.id) <= (?, ?)' : ''}
         ORDER BY nights.started_at, nights.id, tests.run_id, tests.idx`,
      )
      .all(...(until ? [cellKey, key, until.started_at, until.id] : [cellKey, key])) as {
      night: string; started_at: string; role: string; verdict: Verdict; kernel_key: string; git_commit: string | null; patchset_hash: string | null;
    }[];
    const out: CommitPoint[] = [];
    for (const r of rows) {
      let p = out.at(-1);
      if (p?.night !== r.night) {
        p = { night: r.night, startedAt: r.started_at, commit: r.git_commit, kernelKey: r.kernel_key, patchsetHash: r.patchset_hash, main: [], reruns: [] };
        out.push(p);
      }
      (r.role === 'main' ? p.main : p.reruns).push(r.verdict);
    }
    return opts.limit ? out.slice(-opts.limit) : out;
  }

  /** Nights after `night` (in time order) that ran the cell, with the commit each built. */
  cellNightsAfter(cellKey: string, night: string): { night: string; commit: string | null }[] {
    const n = this.night(night);
    if (!n) return [];
    return this.db
      .prepare(
        `SELECT nights.id AS night, kernels.git_commit AS 'commit' FROM nights JOIN cells ON cells.night_id = nights.id AND cells.cell_key = ?
           LEFT JOIN kernels ON kernels.night_id = cells.night_id AND kernels.key = cells.kernel_key
         WHERE (nights.started_at, nights.id) > (?, ?) ORDER BY nights.started_at, nights.id`,
      )
      .all(cellKey, n.started_at, n.id) as { night: string; commit: string | null }[];
  }

  /** Whether a crash with this match key was seen on the night, in any cell. */
  matchKeySeen(nightId: string, matchKey: string): boolean {
    return this.db.prepare('SELECT 1 FROM crashes WHERE night_id = ? AND match_key = ? LIMIT 1').get(nightId, matchKey) !== undefined;
  }

  /** Reports, open ones first, newest first within each status. */
  reports(opts: { status?: BugReportRecord['status'] } = {}): ReportRow[] {
    const order = "ORDER BY status = 'open' DESC, first_seen_night DESC, id";
    return opts.status
      ? (this.db.prepare(`SELECT * FROM reports WHERE status = ? ${order}`).all(opts.status) as ReportRow[])
      : (this.db.prepare(`SELECT * FROM reports ${order}`).all() as ReportRow[]);
  }

  /** The open report for a crash's match key, if one is open: a known crash is linked to it, not bisected again. */
  openReport(matchKey: string): ReportRow | undefined {
    return this.db.prepare("SELECT * FROM reports WHERE match_key = ? AND status = 'open' ORDER BY first_seen_night LIMIT 1").get(matchKey) as ReportRow | undefined;
  }

  /** Cells (across nights) that ran a test of this name or key, for `results history TEST`. */
  testCells(nameOrKey: string): { cell_key: string; test_key: string }[] {
    return this.db
      .prepare('SELECT DISTINCT cell_key, test_key FROM tests WHERE (test_key = ? OR name = ?) AND cell_key IS NOT NULL ORDER BY cell_key, test_key')
      .all(nameOrKey, nameOrKey) as { cell_key: string; test_key: string }[];
  }

  /** Every night-run crash sighting of the given signatures, with its night's time order. */
  sightings(signatures: string[]): { signature: string; night: string; startedAt: string }[] {
    if (!signatures.length) return [];
    const q = this.db.prepare(
      'SELECT crashes.dedup_key AS signature, crashes.night_id AS night, nights.started_at AS startedAt FROM crashes JOIN nights ON nights.id = crashes.night_id WHERE crashes.dedup_key = ? ORDER BY nights.started_at, nights.id',
    );
    return signatures.flatMap((s) => q.all(s) as { signature: string; night: string; startedAt: string }[]);
  }
}

/** Where night and report directories are, for commands that list them. */
export { nightsRoot, reportsRoot };
