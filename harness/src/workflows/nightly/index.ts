// The nightly workflow: a config's matrix (or one shard of it) run cell by
// cell over --jobs guests, each kernel prepared once, failures that passed on
// the baseline rerun, every finished cell written down so the same command
// resumes an interrupted night. Judging and reports read the results index.
import { availableParallelism } from 'node:os';
import { cp, mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ResultsIndex } from '../../results/db.ts';
import { listNightDirs, loadCells, loadNight, nightDir, nightOwnerLock, nightsRoot, saveCell, saveKernel, saveNight, type NightCellRecord, type NightKernelRecord, type NightRecord, type NightRunRef } from '../../results/nights.ts';
import { testKey, verdictOf, wantsRerun } from '../../results/classify.ts';
import type { KernelArtifact, TestStatus, Verdict } from '../../results/records.ts';
import { expandMatrix, shardCells, uniqueKernels, type NightConfig, type Shard } from './config.ts';
import type { CellOutcome, CheckCell, MatrixCell, KernelSpec, PrepareKernel, RunCell } from './plan.ts';
import { loadSeries } from '../../kernel/index.ts';
import { kcidbPatchsetHash } from '../../results/reporters/index.ts';
import { GuestPool } from '../guest-pool.ts';
import { suiteByName } from '../../suites/index.ts';
import { reserveSpace } from '../../host/space.ts';
import { describeOwner, tryLock, type HeldLock } from '../../host/lock.ts';
import { childPath, isSafeId } from '../../host/limits.ts';
import { InputError, withSettings } from '../../host/errors.ts';
import { cellsStatus } from '../../host/eta.ts';
import { BASELINE, NIGHT, RESULTS, SHARD } from '../settings.ts';

export class NightlyInputError extends InputError {}

export interface NightlyOptions {
  config: NightConfig;
  resultsRoot: string;
  jobs: number;
  shard: Shard | null;
  /** The night's id (CI passes one so shards agree); default: resume the unfinished night of this config, or today's date. */
  nightId?: string;
  /** Compare every cell with this night instead of the previous night that ran it. */
  baseline?: string;
  /** Overrides the config's rerunFailures. */
  rerunFailures?: number;
  /** Host cores shared by the guests (default: this machine's). */
  cores?: number;
  /** Boot every cell's guest afresh instead of running cells that would boot the same guest in one. */
  freshGuests?: boolean;
  progress: (msg: string) => void;
  signal?: AbortSignal;
  now?: () => Date;
}

export interface NightlyDeps {
  runCell: RunCell;
  prepareKernel: PrepareKernel;
  /** Judges every cell's inputs before the night starts (bad input is thrown, exit 2). */
  checkCell?: CheckCell;
  /** Whether a failed preparation is the kernel's fault ('fail': patch or compile) or the harness's ('error'). */
  kernelFault?: (e: unknown) => 'fail' | 'error';
}

export interface NightOutcome {
  nightId: string;
  dir: string;
  /** Cells finished by an earlier invocation of the same night. */
  skipped: string[];
  ran: string[];
  interrupted: boolean;
  /** The results disk filled up: the night stopped (unfinished, resumable) and says why. */
  diskFull?: string;
}

// ENOSPC from a file write; SQLITE_FULL from the results index.
const isDiskFull = (e: unknown) => ['ENOSPC', 'SQLITE_FULL'].includes(String((e as NodeJS.ErrnoException | null)?.code));

/** vCPUs per guest so that `jobs` guests share the host's cores. */
export function cpusPerGuest(cores: number, jobs: number): number {
  return Math.max(1, Math.floor(cores / jobs));
}

/** Runs `fn` over items with at most `jobs` at once, in order of the items; stops handing out work once `stop()` says so. */
export async function pool<T>(items: T[], jobs: number, fn: (item: T) => Promise<void>, stop: () => boolean = () => false): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
}

/** One async section at a time (the index is written by whichever guest finishes). */
function serial() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const p = tail.then(fn, fn);
    tail = p.catch(() => undefined);
    return p;
  };
}

function dateId(d: Date): string {
  return d.toISOString().slice(0, 10);
}

async function chooseNight(o: NightlyOptions, now: Date): Promise<{ id: string; existing: NightRecord | null }> {
  const sameShard = (n: NightRecord) => (n.shard?.index ?? 0) === (o.shard?.index ?? 0) && (n.shard?.count ?? 0) === (o.shard?.count ?? 0);
  if (o.nightId) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(o.nightId)) throw new NightlyInputError(withSettings`${NIGHT} "${o.nightId}" is not a usable name: use letters, digits, . _ -`);
    const existing = await loadNight(nightDir(o.resultsRoot, o.nightId));
    if (existing && existing.configHash !== o.config.hash)
      throw new NightlyInputError(withSettings`${NIGHT} ${o.nightId} was run with another config (${existing.configFile}): choose another ${NIGHT} or run that config`);
    if (existing && !sameShard(existing))
      throw new NightlyInputError(withSettings`${NIGHT} ${o.nightId} was run as shard ${existing.shard ? `${existing.shard.index}/${existing.shard.count}` : 'none'}: give the same ${SHARD} or another ${NIGHT}`);
    return { id: o.nightId, existing };
  }
  // The same command after a Ctrl-C or a crash picks up its unfinished night, even past midnight.
  const ids = await listNightDirs(o.resultsRoot);
  const open: NightRecord[] = [];
  for (const id of ids) {
    const n = await loadNight(nightDir(o.resultsRoot, id));
    if (n && n.status !== 'done' && n.configHash === o.config.hash && sameShard(n)) open.push(n);
  }
  open.sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1));
  if (open.length) return { id: open.at(-1)!.id, existing: open.at(-1)! };
  const base = dateId(now);
  let id = base;
  for (let i = 2; ids.includes(id); i++) id = `${base}.${i}`;
  return { id, existing: null };
}

/**
 * The night to run, owned by this process: one live process per night, so two
 * runs of one config never run its cells twice. A night whose owner died
 * (its lease stopped beating) is taken over and resumed.
 */
async function ownNight(o: NightlyOptions, now: () => Date): Promise<{ id: string; existing: NightRecord | null; owner: HeldLock }> {
  for (;;) {
    const chosen = await chooseNight(o, now());
    const r = await tryLock(nightOwnerLock(o.resultsRoot, chosen.id));
    if ('holder' in r) {
      throw new NightlyInputError(`night ${chosen.id} of ${o.config.file} is being run by ${describeOwner(r.holder)}: wait for it to end, or stop it and run this again to resume`);
    }
    // Chosen before it was ours: its owner may have finished it meanwhile.
    const current = await loadNight(nightDir(o.resultsRoot, chosen.id));
    if (!o.nightId && current?.status === 'done' && chosen.existing?.status !== 'done') {
      await r.release();
      continue;
    }
    return { id: chosen.id, existing: current ?? chosen.existing, owner: r };
  }
}

export async function runNight(o: NightlyOptions, deps: NightlyDeps): Promise<NightOutcome> {
  const now = o.now ?? (() => new Date());
  const { matrix, cells } = await nightCells(o, deps);
  await mkdir(o.resultsRoot, { recursive: true });
  const index = await ResultsIndex.open(o.resultsRoot);
  let owner: HeldLock | null = null;
  try {
    if (o.baseline && !index.night(o.baseline))
      throw new NightlyInputError(withSettings`${BASELINE} ${o.baseline} is not a night in ${o.resultsRoot}: choose one that 'dax-harness results' lists`);
    const owned = await ownNight(o, now);
    owner = owned.owner;
    const { id, existing } = owned;
    const lost = owner.signal;
    const dir = nightDir(o.resultsRoot, id);
    await mkdir(join(dir, 'runs'), { recursive: true });
    const night = nightRecord(o, id, existing, matrix.map((c) => c.key), cells.map((c) => c.key), now);
    await saveNight(dir, night);
    // Room for the night's last record when its cells fill the disk.
    const releaseSpace = await reserveSpace(dir);
    const write = serial();
    await write(() => index.indexNight(dir));
    const { todo, skipped } = await unfinishedCells(o, dir, id, cells, matrix.length);
    const kernels = await prepareKernels(o, deps, dir, todo, now);
    const run: NightRun = {
      o,
      deps,
      now,
      night,
      dir,
      index,
      write,
      kernels,
      cpus: cpusPerGuest(o.cores ?? availableParallelism(), o.jobs),
      // Cells that would boot the same guest run one after another in it (see guest-pool.ts).
      guests: o.freshGuests ? undefined : new GuestPool(),
      ran: [],
      interrupted: false,
      diskFull: null,
      ended: 0,
      cellMs: [],
      todo: todo.length,
    };
    try {
      await pool(todo, o.jobs, (plan) => runCellOrStop(run, plan), () => run.interrupted || run.diskFull !== null || Boolean(o.signal?.aborted) || lost.aborted);
    } finally {
      await run.guests?.close();
    }
    // Another process took the night over (this one stalled past its lease): its record is theirs now.
    if (lost.aborted) throw new Error(`night ${id}: ${(lost.reason as Error).message}`);

    const interrupted = run.interrupted || Boolean(o.signal?.aborted) || run.diskFull !== null;
    await releaseSpace();
    night.status = interrupted ? 'interrupted' : 'done';
    night.endedAt = interrupted ? null : now().toISOString();
    await saveNight(dir, night);
    await write(() => index.indexNight(dir));
    return { nightId: id, dir, skipped, ran: run.ran, interrupted, ...(run.diskFull ? { diskFull: run.diskFull } : {}) };
  } finally {
    await owner?.release();
    index.close();
  }
}

/** The whole matrix and this shard's cells, every cell's inputs checked before anything starts. */
async function nightCells(o: NightlyOptions, deps: NightlyDeps): Promise<{ matrix: MatrixCell[]; cells: MatrixCell[] }> {
  const matrix = await expandMatrix(o.config);
  if (!matrix.length) throw new NightlyInputError(`${o.config.file}: the matrix is empty (exclude: removes every cell): remove an exclude entry`);
  const cells = shardCells(matrix, o.shard);
  if (deps.checkCell) for (const c of cells) await deps.checkCell(c);
  return { matrix, cells };
}

/** The night's record as it starts (or resumes: its baseline and start time stay). */
function nightRecord(o: NightlyOptions, id: string, existing: NightRecord | null, matrix: string[], cells: string[], now: () => Date): NightRecord {
  return {
    schema: 1,
    id,
    configFile: o.config.file,
    configHash: o.config.hash,
    origin: o.config.origin,
    shard: o.shard,
    matrix,
    cells,
    baseline: o.baseline ?? existing?.baseline ?? null,
    rerunFailures: o.rerunFailures ?? o.config.rerunFailures,
    historyNights: o.config.historyNights,
    startedAt: existing?.startedAt ?? now().toISOString(),
    endedAt: null,
    status: 'running',
  };
}

/** The cells an earlier invocation of this night has not finished; says how many there are. */
async function unfinishedCells(o: NightlyOptions, dir: string, id: string, cells: MatrixCell[], matrixSize: number): Promise<{ todo: MatrixCell[]; skipped: string[] }> {
  const finished = new Set((await loadCells(dir)).map((c) => c.key));
  const todo = cells.filter((c) => !finished.has(c.key));
  const skipped = cells.filter((c) => finished.has(c.key)).map((c) => c.key);
  if (skipped.length) o.progress(`night ${id}: ${skipped.length} of ${cells.length} cells already finished, ${todo.length} to run`);
  else o.progress(`night ${id}: ${todo.length} cells${o.shard ? ` (shard ${o.shard.index}/${o.shard.count} of ${matrixSize})` : ''}, ${o.jobs} at a time`);
  return { todo, skipped };
}

/** Kernels first, one at a time (a build already takes both cores), each once for all its cells; a failure is recorded, not thrown. */
async function prepareKernels(o: NightlyOptions, deps: NightlyDeps, dir: string, todo: MatrixCell[], now: () => Date): Promise<Map<string, NightKernelRecord>> {
  const kernels = new Map<string, NightKernelRecord>();
  for (const k of uniqueKernels(todo)) {
    if (o.signal?.aborted) break;
    const t0 = now().getTime();
    o.progress(`kernel ${k.name}: preparing`);
    let artifact: KernelArtifact | null = null;
    let status: NightKernelRecord['status'] = 'ok';
    let reason = '';
    try {
      artifact = await deps.prepareKernel(k.spec, (m) => o.progress(`kernel ${k.name}: ${m}`));
    } catch (e) {
      status = deps.kernelFault?.(e) ?? 'error';
      reason = e instanceof Error ? e.message : String(e);
      o.progress(`kernel ${k.name}: ${status === 'fail' ? 'FAILED' : 'ERROR'} — ${reason}`);
    }
    const patchsetHash = await seriesHash(k.spec);
    const rec: NightKernelRecord = { schema: 1, key: k.key, name: k.name, spec: k.spec as Record<string, unknown>, status, reason, artifact, ...(patchsetHash !== undefined ? { patchsetHash } : {}), durationMs: now().getTime() - t0, preparedAt: now().toISOString() };
    kernels.set(k.key, rec);
    await saveKernel(dir, rec);
  }
  return kernels;
}

/** What the cells of one night share while it runs, and what they tell it back. */
interface NightRun {
  o: NightlyOptions;
  deps: NightlyDeps;
  now: () => Date;
  night: NightRecord;
  dir: string;
  index: ResultsIndex;
  /** Index writes, one at a time. */
  write: ReturnType<typeof serial>;
  kernels: Map<string, NightKernelRecord>;
  cpus: number;
  guests: GuestPool | undefined;
  /** Cells finished by this invocation. */
  ran: string[];
  /** A cell saw the night interrupted: no new cell starts, and the night is left to resume. */
  interrupted: boolean;
  /** Why the results disk stopped the night, once it has. */
  diskFull: string | null;
  /** For the ETA: cells ended tonight by this process, how long those that ran took, and how many it set out to run. */
  ended: number;
  cellMs: number[];
  todo: number;
}

const tally = (run: NightRun) => cellsStatus({ done: run.ended, total: run.todo, durationsMs: run.cellMs, parallel: run.o.jobs });

type CellHooks = Parameters<RunCell>[1];

/**
 * A full results disk stops the night cleanly: cells running now finish
 * (each run records it as its infrastructure error), no new one starts,
 * and the night stays unfinished so the same command resumes it.
 */
async function runCellOrStop(run: NightRun, plan: MatrixCell): Promise<void> {
  try {
    await runNightCell(run, plan);
  } catch (e) {
    if (!isDiskFull(e)) throw e;
    run.diskFull ??= `no space left on the device holding ${(e as NodeJS.ErrnoException).path ?? run.dir}`;
    run.o.progress(`${plan.key}: STOPPED — ${run.diskFull}`);
  }
}

/** One cell of the night: its main run, reruns of what newly fails, and its record. */
async function runNightCell(run: NightRun, plan: MatrixCell): Promise<void> {
  const { o, dir } = run;
  const startedAt = run.now().toISOString();
  const k = run.kernels.get(plan.kernelKey);
  const finish = (status: NightCellRecord['status'], reason: string, runs: NightRunRef[]) => finishCell(run, plan, startedAt, status, reason, runs);
  // Not prepared at all: the night was interrupted before its kernel.
  if (!k) {
    run.interrupted = true;
    return;
  }
  if (!k.artifact) return finish('not-run', `kernel ${plan.axes.kernel} could not be prepared: ${k.reason}`, []);
  const hooks: CellHooks = {
    kernel: k.artifact,
    cpus: run.cpus,
    resultsRoot: join(dir, 'runs'),
    progress: (phase: string, msg: string) => o.progress(`${plan.key} [${phase}] ${msg}`),
    signal: o.signal ?? new AbortController().signal,
    guests: run.guests,
  };
  o.progress(`${plan.key}: start`);
  let main: CellOutcome | null;
  try {
    main = await attemptCell(run, hooks, plan);
  } catch (e) {
    // Not the cell's fault: it is run again when the night resumes.
    if (isDiskFull(e)) throw e;
    // The cell's own preparation failed (its image, its suite's needs): it did not run tonight.
    const why = e instanceof Error ? e.message : String(e);
    await finish('not-run', `could not prepare the cell: ${why}`, []);
    return o.progress(`${plan.key}: NOT RUN — ${why} · ${tally(run)}`);
  }
  if (!main) {
    run.interrupted = true;
    return;
  }
  const runs: NightRunRef[] = [{ id: main.record.id, dir: rel(dir, main.runDir), role: 'main' }];
  if (!(await rerunNewFailures(run, hooks, plan, main, runs))) {
    run.interrupted = true;
    return;
  }
  await finish(main.record.status, main.record.reason, runs);
  run.ran.push(plan.key);
  run.cellMs.push(run.now().getTime() - Date.parse(startedAt));
  o.progress(`${plan.key}: ${main.record.status.toUpperCase()}${main.record.reason ? ` — ${main.record.reason}` : ''} · ${tally(run)}`);
}

async function finishCell(run: NightRun, plan: MatrixCell, startedAt: string, status: NightCellRecord['status'], reason: string, runs: NightRunRef[]): Promise<void> {
  run.ended++;
  await saveCell(run.dir, { schema: 1, key: plan.key, axes: plan.axes, kernelKey: plan.kernelKey, plan: plan as unknown as Record<string, unknown>, status, reason, runs, startedAt, endedAt: run.now().toISOString() });
  await run.write(() => run.index.indexNight(run.dir));
}

/** One guest; null when the night was interrupted (the cell is redone on resume). */
async function attemptCell(run: NightRun, hooks: CellHooks, cell: MatrixCell, fresh = false): Promise<CellOutcome | null> {
  const { signal } = run.o;
  if (signal?.aborted) return null;
  try {
    // A rerun judges a failure: always a guest of its own.
    const out = await run.deps.runCell(cell, fresh ? { ...hooks, guests: undefined } : hooks);
    return out.record.status === 'interrupted' ? null : out;
  } catch (e) {
    if (signal?.aborted) return null;
    throw e;
  }
}

/**
 * Tests that passed on the baseline night and fail now, run again (each
 * rerun a run of the cell, added to `runs`). False when the night was
 * interrupted meanwhile.
 */
async function rerunNewFailures(run: NightRun, hooks: CellHooks, plan: MatrixCell, main: CellOutcome, runs: NightRunRef[]): Promise<boolean> {
  const { o, night, index } = run;
  const times = night.rerunFailures;
  const baselineNight = night.baseline ?? index.previousNightWithCell(night.id, plan.key);
  const rerun = times > 0 && baselineNight ? rerunSelection(plan, main.record.tests, baselineVerdicts(index, baselineNight, plan.key), times) : null;
  if (!rerun) return true;
  o.progress(`${plan.key}: ${rerun.keys.length} test(s) passed on ${baselineNight} and fail now: rerunning ${times} time(s)`);
  for (const cell of rerun.cells) {
    const again = await attemptCell(run, hooks, cell, true).catch((e: unknown) => e as Error);
    if (!again) return false;
    // A rerun that could not even be prepared leaves the main run's verdicts standing.
    if (again instanceof Error) {
      o.progress(`${plan.key}: rerun not run — ${again.message}`);
      break;
    }
    runs.push({ id: again.record.id, dir: rel(run.dir, again.runDir), role: 'rerun', tests: rerun.keys });
  }
  return true;
}

/** KCIDB's patchset hash of a built kernel's series; undefined when it cannot be read (the report then leaves it out). */
async function seriesHash(spec: KernelSpec): Promise<string | undefined> {
  if (spec.kind === 'stock') return undefined;
  if (!spec.series) return '';
  try {
    const s = await loadSeries(spec.series, spec.kind === 'git' ? spec.tree : undefined);
    return kcidbPatchsetHash(s.patches.map((p) => p.mail));
  } catch {
    return undefined;
  }
}

function rel(nightDirPath: string, runDir: string): string {
  const r = resolve(runDir).slice(resolve(nightDirPath).length + 1);
  return r || runDir;
}

function baselineVerdicts(index: ResultsIndex, night: string, cellKey: string): Map<string, Verdict[]> {
  const out = new Map<string, Verdict[]>();
  for (const t of index.tests(night, cellKey)) if (t.role === 'main') out.set(t.test_key, [...(out.get(t.test_key) ?? []), t.verdict]);
  return out;
}

/** Steps of every guest rather than tests: they are rerun by booting again, not by a pass. */
const GUEST_STEPS = new Set(['boot', 'kernel']);

/**
 * The guests that rerun the tests that passed on the baseline and fail now,
 * `times` attempts each: stressors and ndctl select those tests, the smoke
 * (one filesystem per cell) reruns the cell. Tests are rerun as passes in one
 * guest; a failing boot (or a report outside any test) is rerun by `times`
 * guests of one pass, since a guest boots once.
 */
export function rerunSelection(
  plan: MatrixCell,
  tests: { name: string; params: Record<string, string>; status: TestStatus; verdict?: Verdict }[],
  baseline: Map<string, Verdict[]>,
  times: number,
): { cells: MatrixCell[]; keys: string[] } | null {
  const current = new Map<string, { verdicts: Verdict[]; name: string; params: Record<string, string> }>();
  for (const t of tests) {
    const k = testKey(t);
    const e = current.get(k) ?? { verdicts: [], name: t.name, params: t.params };
    e.verdicts.push(verdictOf(t));
    current.set(k, e);
  }
  const picked = [...current].filter(([k, e]) => wantsRerun(e.verdicts, baseline.get(k) ?? null));
  if (!picked.length) return null;
  const keys = picked.map(([k]) => k);
  const chosen = picked.filter(([, e]) => !GUEST_STEPS.has(e.name));
  // The suite says how a test's id (as run printed it) reads and which plan fields run it.
  const suite = suiteByName(plan.suite);
  const names = [...new Set(chosen.map(([, e]) => suite.idOf(e)))];
  const cell: MatrixCell = !names.length || !suite.planTests(names).tests ? { ...plan } : { ...plan, tests: suite.planTests(names).tests };
  if (chosen.length < picked.length) return { cells: Array.from({ length: times }, () => ({ ...cell, repeat: 1 })), keys };
  return { cells: [{ ...cell, repeat: times }], keys };
}

// ---- merge ----

/** A night directory given directly, or a results root / nights folder holding exactly one night. */
async function findNightDir(p: string): Promise<string> {
  const abs = resolve(p);
  if (await loadNight(abs)) return abs;
  for (const base of [join(abs, 'nights'), abs]) {
    const names = await readdir(base).catch(() => [] as string[]);
    const nights: string[] = [];
    for (const n of names) if (await loadNight(join(base, n))) nights.push(join(base, n));
    if (nights.length === 1) return nights[0];
    if (nights.length > 1) throw new NightlyInputError(`${p} holds ${nights.length} nights: give the night's own directory (${nights[0]})`);
  }
  throw new NightlyInputError(`${p} is not a night directory (no night.json): give the directory a shard's 'dax-harness nightly' wrote`);
}

/**
 * Shards of one night → one night under `intoRoot`, as if it had run
 * unsharded: cells in matrix order, runs copied as they are.
 */
export async function mergeNights(paths: string[], intoRoot: string, progress: (m: string) => void = () => {}): Promise<{ nightId: string; dir: string; missing: string[] }> {
  if (!paths.length) throw new NightlyInputError('merge needs at least one shard directory');
  const shards: { dir: string; night: NightRecord }[] = [];
  for (const p of paths) {
    const dir = await findNightDir(p);
    shards.push({ dir, night: (await loadNight(dir))! });
  }
  const first = shards[0].night;
  // The id comes from a file anyone could have written: it names a directory only if it is one plain name.
  if (!isSafeId(first.id) || !childPath(nightsRoot(resolve(intoRoot)), first.id))
    throw new NightlyInputError(`${shards[0].dir}/night.json names night ${JSON.stringify(first.id)?.slice(0, 80)}, not a usable night id (letters, digits, . _ -): give the directory a shard's 'dax-harness nightly' wrote`);
  for (const s of shards) {
    if (s.night.id !== first.id) throw new NightlyInputError(withSettings`${s.dir} is night ${s.night.id}, ${shards[0].dir} is ${first.id}: merge the shards of one night (give every shard the same ${NIGHT})`);
    if (s.night.configHash !== first.configHash) throw new NightlyInputError(`${s.dir} ran another config than ${shards[0].dir}: shards must run the same config file`);
  }
  const seen = new Set<string>();
  for (const s of shards) {
    const tag = s.night.shard ? `${s.night.shard.index}/${s.night.shard.count}` : 'unsharded';
    if (seen.has(tag)) throw new NightlyInputError(`shard ${tag} is given twice (${s.dir}): give each shard once`);
    seen.add(tag);
  }
  const target = nightDir(resolve(intoRoot), first.id);
  if (await stat(join(target, 'night.json')).catch(() => null))
    throw new NightlyInputError(withSettings`${target} already exists: merge into another ${RESULTS}, or remove that night first`);
  for (const s of shards) {
    for (const sub of ['cells', 'kernels', 'runs']) {
      const from = join(s.dir, sub);
      if (await stat(from).catch(() => null)) await cp(from, join(target, sub), { recursive: true, force: false, errorOnExist: false });
    }
    progress(`merged ${s.dir}`);
  }
  const count = first.shard?.count ?? 1;
  const missing = first.shard ? Array.from({ length: count }, (_, i) => `${i + 1}/${count}`).filter((t) => !seen.has(t)) : [];
  const all = shards.every((s) => s.night.status === 'done') && !missing.length;
  const merged: NightRecord = {
    ...first,
    shard: null,
    cells: first.matrix.filter((k) => shards.some((s) => s.night.cells.includes(k))),
    baseline: first.baseline,
    startedAt: shards.map((s) => s.night.startedAt).sort()[0],
    endedAt: all ? shards.map((s) => s.night.endedAt ?? '').sort().at(-1)! : null,
    status: all ? 'done' : 'interrupted',
  };
  await saveNight(target, merged);
  const index = await ResultsIndex.open(resolve(intoRoot));
  try {
    await index.indexNight(target);
  } finally {
    index.close();
  }
  return { nightId: first.id, dir: target, missing };
}
