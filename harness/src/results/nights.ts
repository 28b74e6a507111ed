// Night directories: results/nights/<night>/ holds night.json (what the night
// is), kernels/<key>.json (each kernel prepared once), cells/<cell>.json (one
// per finished cell: the resume marker) and runs/<run-id>/ (run directories as
// `dax-harness run` writes them). Every file is written atomically; the index
// (db.ts) is rebuilt from these alone.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../host/fsutil.ts';
import type { KernelArtifact, RunStatus } from './records.ts';

export interface NightRecord {
  schema: 1;
  id: string;
  configFile: string;
  configHash: string;
  /** KCIDB origin the reports use. */
  origin: string;
  shard: { index: number; count: number } | null;
  /** Every cell key of the full (unsharded) matrix, in matrix order: merge orders by it. */
  matrix: string[];
  /** The cells this night (or shard) runs. */
  cells: string[];
  /** The night given with --baseline, or null for "the previous night that ran the cell". */
  baseline: string | null;
  rerunFailures: number;
  historyNights: number;
  startedAt: string;
  endedAt: string | null;
  /** 'aborted' only as the index shows a 'running' night whose process is gone; never written. */
  status: 'running' | 'done' | 'interrupted' | 'aborted';
}

export interface NightRunRef {
  id: string;
  /** Run directory relative to the night directory. */
  dir: string;
  role: 'main' | 'rerun';
  /** For reruns: the test keys this run reran. */
  tests?: string[];
}

export interface NightCellRecord {
  schema: 1;
  key: string;
  axes: { kernel: string; suite: string; mode: string; topology: string };
  kernelKey: string;
  /** The cell plan as run (the nightly's CellPlan, stored as data). */
  plan: Record<string, unknown>;
  /** The main run's status, or 'not-run' when its kernel could not be prepared. */
  status: RunStatus | 'not-run';
  reason: string;
  runs: NightRunRef[];
  startedAt: string;
  endedAt: string;
}

export interface NightKernelRecord {
  schema: 1;
  key: string;
  name: string;
  spec: Record<string, unknown>;
  /** ok; fail = the kernel's own fault (patch did not apply, compile error); error = the harness's (download, disk). */
  status: 'ok' | 'fail' | 'error';
  reason: string;
  artifact: KernelArtifact | null;
  /** KCIDB's patchset hash of the applied series ('' without one); absent when the series could not be read. */
  patchsetHash?: string;
  durationMs: number;
  preparedAt: string;
}

export const nightsRoot = (resultsRoot: string) => join(resultsRoot, 'nights');
export const nightDir = (resultsRoot: string, id: string) => join(nightsRoot(resultsRoot), id);
/** Where the lease of the process running a night lives (beside the nights, never copied with one). */
export const nightOwnerLock = (resultsRoot: string, id: string) => join(nightsRoot(resultsRoot), '.owners', `${id}.lock`);

/** Cell keys are made of [a-z0-9_-.]; file names keep them as they are. */
const cellFile = (dir: string, key: string) => join(dir, 'cells', `${key}.json`);

export async function saveNight(dir: string, n: NightRecord): Promise<void> {
  await writeJsonAtomic(join(dir, 'night.json'), n);
}

export async function loadNight(dir: string): Promise<NightRecord | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'night.json'), 'utf8')) as NightRecord;
  } catch {
    return null;
  }
}

export async function saveCell(dir: string, c: NightCellRecord): Promise<void> {
  await writeJsonAtomic(cellFile(dir, c.key), c);
}

export async function saveKernel(dir: string, k: NightKernelRecord): Promise<void> {
  await writeJsonAtomic(join(dir, 'kernels', `${k.key}.json`), k);
}

async function loadAll<T>(dir: string): Promise<T[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  } catch {
    return [];
  }
  const out: T[] = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(await readFile(join(dir, n), 'utf8')) as T);
    } catch {
      // An unreadable cell file is a cell that did not finish: it is rerun.
    }
  }
  return out;
}

export const loadCells = (dir: string) => loadAll<NightCellRecord>(join(dir, 'cells'));
export const loadKernels = (dir: string) => loadAll<NightKernelRecord>(join(dir, 'kernels'));

/** Night ids under a results root (directories holding a night.json). */
export async function listNightDirs(resultsRoot: string): Promise<string[]> {
  try {
    const names = await readdir(nightsRoot(resultsRoot), { withFileTypes: true });
    return names.filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort();
  } catch {
    return [];
  }
}
