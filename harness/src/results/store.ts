// Run directories under results/: one per run, run.json rewritten atomically
// at every state change so a run that dies half-way still says so. While a
// run lasts its harness beats a heartbeat into run.json; whoever reads the
// results later sees a 'running' run whose harness is gone (SIGKILL, power
// loss) as 'aborted', never as running forever.
import { mkdir, readdir, readFile, rmdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { leaseEntry, removeDeadTemps, writeFileAtomic } from '../host/fsutil.ts';
import { pidAlive } from '../host/pid.ts';
import type { RunRecord } from './records.ts';
import { envValue } from '../host/env.ts';

/** How often a running harness refreshes run.json. */
export const HEARTBEAT_MS = 15_000;
/** A heartbeat older than this means the harness is gone (six beats missed). */
export const HEARTBEAT_STALE_MS = 6 * HEARTBEAT_MS;

export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Make the run directory `id` under root; it must not exist (EEXIST otherwise: another run has that id). */
export async function createRunDir(root: string, id: string): Promise<string> {
  await mkdir(root, { recursive: true });
  const dir = join(root, id);
  await mkdir(dir);
  await mkdir(join(dir, 'tests'));
  return dir;
}

export interface ClaimOptions {
  /** Makes a candidate id (default newRunId; tests force collisions with it). */
  makeId?: () => string;
  /** Where the run's scratch directory (NVDIMM files, sockets) goes: the id is claimed there too. */
  workRoot?: string;
  /** Folders made inside the run directory (default: tests). */
  subdirs?: string[];
}

/**
 * A run id nobody else has, by construction: its run directory and its work
 * directory are both created exclusively (no `mkdir -p`), and an id taken in
 * either is dropped for a new one. Ids are a second and 16 random bits, so two
 * runs started together can draw the same one; they must never share
 * directories (the second would delete the first's NVDIMM files at its end).
 * The work directory is leased to this process, so `cache prune` can tell an
 * orphan (its run's harness died) from a live one.
 */
export async function claimRun(root: string, o: ClaimOptions = {}): Promise<{ id: string; dir: string; workDir: string | null }> {
  // The fault matrix forces a collision through the real CLI: its first draw is an id another run holds.
  let forced = o.makeId ? undefined : envValue('DAX_HARNESS_TEST_RUN_ID');
  const makeId =
    o.makeId ??
    (() => {
      const id = forced ?? newRunId();
      forced = undefined;
      return id;
    });
  await mkdir(root, { recursive: true });
  if (o.workRoot) await mkdir(o.workRoot, { recursive: true });
  for (let tries = 0; tries < 50; tries++) {
    const id = makeId();
    const dir = join(root, id);
    if (!(await mkdirExclusive(dir))) continue;
    if (o.workRoot) {
      const workDir = join(o.workRoot, id);
      if (!(await mkdirExclusive(workDir))) {
        await rmdir(dir); // made by this call a moment ago, still empty
        continue;
      }
      await leaseEntry(workDir);
    }
    for (const d of o.subdirs ?? ['tests']) await mkdir(join(dir, d));
    return { id, dir, workDir: o.workRoot ? join(o.workRoot, id) : null };
  }
  throw new Error(`could not find a free run id under ${root} in 50 tries`);
}

async function mkdirExclusive(dir: string): Promise<boolean> {
  try {
    await mkdir(dir);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

// One queue per run directory: a heartbeat serialised before the final state
// change must not land after it and bring 'running' back.
const queues = new Map<string, Promise<void>>();

/** Write run.json; a 'running' record is stamped with this harness and the time (each save is a heartbeat). */
export function saveRun(dir: string, run: RunRecord): Promise<void> {
  if (run.status === 'running') run.harness = { pid: process.pid, hostname: hostname(), heartbeatAt: new Date().toISOString() };
  const text = JSON.stringify(run, null, 2) + '\n';
  const prev = queues.get(dir) ?? Promise.resolve();
  const next = prev.catch(() => {}).then(() => writeFileAtomic(join(dir, 'run.json'), text));
  queues.set(dir, next);
  void next.finally(() => queues.get(dir) === next && queues.delete(dir)).catch(() => {});
  return next;
}

/**
 * Beat the run's heartbeat into run.json every intervalMs while it is
 * 'running'. Returns stop(), which waits for a write in flight.
 */
export function startHeartbeat(dir: string, run: RunRecord, intervalMs = HEARTBEAT_MS): () => Promise<void> {
  let last: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (run.status !== 'running') return;
    // A failed beat (disk full) must not take the run down; the next one retries.
    last = saveRun(dir, run).catch(() => {});
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await last;
  };
}

/** Why a 'running' record's harness is gone, or null while it may still be alive. */
export function abandoned(run: RunRecord, fileMtimeMs: number, now = Date.now(), host = hostname()): string | null {
  if (run.status !== 'running') return null;
  const h = run.harness;
  const beat = h ? Date.parse(h.heartbeatAt) : fileMtimeMs;
  if (h && h.hostname === host && !pidAlive(h.pid)) return `the harness (pid ${h.pid}) died without finishing the run; last heartbeat ${h.heartbeatAt}`;
  if (!(now - beat <= HEARTBEAT_STALE_MS)) {
    const who = h ? `the harness (pid ${h.pid} on ${h.hostname})` : 'the harness';
    return `${who} stopped beating at ${new Date(beat).toISOString()} (host lost or harness killed)`;
  }
  return null;
}

/** A run as it stands: a dead harness's 'running' run is 'aborted'. Temp files of interrupted writes are cleaned. */
export async function loadRun(dir: string): Promise<RunRecord> {
  await removeDeadTemps(dir);
  const file = join(dir, 'run.json');
  const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
  const run = JSON.parse(text) as RunRecord;
  const why = abandoned(run, st.mtimeMs);
  return why ? { ...run, status: 'aborted', reason: why } : run;
}

/** Every run under a results root, newest first; directories without a readable run.json are skipped. */
export async function loadRuns(root: string): Promise<Array<{ dir: string; run: RunRecord }>> {
  const out: Array<{ dir: string; run: RunRecord }> = [];
  for (const id of (await readdir(root).catch(() => [] as string[])).sort().reverse()) {
    const dir = join(root, id);
    const run = await loadRun(dir).catch(() => null);
    if (run) out.push({ dir, run });
  }
  return out;
}
