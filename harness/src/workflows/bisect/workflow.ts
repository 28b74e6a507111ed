// The bisect workflow: a plan (what to bisect, which tests, what counts as
// bad) and an injected environment → a results directory holding state.json
// (rewritten after every action, what --resume reads), bisect.json and
// summary.txt. The environment that builds kernels and boots guests is
// supplied by the caller (makeEnv), so this file never touches a guest.
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../host/fsutil.ts';
import { claimRun, newRunId } from '../../results/store.ts';
import type { BisectRecord } from '../../results/records.ts';
import { setInterruptHandler } from '../../host/proc.ts';
import { confidence, newBisection, type NewBisection } from './engine.ts';
import { runBisection } from './driver.ts';
import { buildRecord, summaryText, type ReportMeta } from './report.ts';
import { BisectInputError, loadSeriesInput, type BisectTests, type StepsInput } from './input.ts';
import type { BadMeaning, BisectEnv, BisectOutcome, BisectSettings, BisectState, Direction } from './types.ts';
import { withSettings } from '../../host/errors.ts';
import { RESUME } from '../settings.ts';

/** Everything a step's build and test need, as the user asked for it. */
export interface BisectPlan {
  direction: Direction;
  input: StepsInput;
  /** debian:X.Y or a tree path (for a range: the tree holding it). */
  source: string;
  /** Base commit in a source tree for a series (null: HEAD or the series' base-commit). */
  ref: string | null;
  config: string[] | null;
  configBase: 'tinyconfig' | 'defconfig' | null;
  tests: BisectTests;
  ndctl: string | null;
  /** Seconds each stressor loops (0: one pass). */
  seconds: number;
  bad: BadMeaning;
  matchKey: string | null;
}

/** The plan as saved in state.json: the series' mails are re-read from its path on resume. */
export type SavedPlan = Omit<BisectPlan, 'input'> & {
  input: { kind: 'series'; spec: string; seriesHash: string } | Omit<Extract<StepsInput, { kind: 'range' }>, 'patches'>;
};

export interface SavedBisection {
  schema: 1;
  plan: SavedPlan;
  meta: ReportMeta;
  state: BisectState;
}

/**
 * Builds the environment for a plan; `dir` is the bisection's results
 * directory (for run dirs, build logs); `signal` aborts on SIGINT/SIGTERM.
 */
export type MakeEnv = (plan: BisectPlan, ctx: { dir: string; log: (line: string) => void; signal: AbortSignal }) => Promise<BisectEnv> | BisectEnv;

export interface BisectWorkflowOptions {
  resultsRoot: string;
  makeEnv: MakeEnv;
  progress: (line: string) => void;
  /** Engine settings the user chose (confidence, runs per step, budgets). */
  settings?: Partial<Pick<NewBisection, 'targetConfidence' | 'maxRunsPerStep' | 'budget'>>;
  /** On SIGINT/SIGTERM write bisect.json and summary.txt of what was learnt, then let the process exit (default true). */
  handleSignals?: boolean;
}

function savePlan(plan: BisectPlan): SavedPlan {
  const { patches: _p, ...range } = plan.input.kind === 'range' ? plan.input : { patches: null };
  const input = plan.input.kind === 'series' ? { kind: 'series' as const, spec: plan.input.spec, seriesHash: plan.input.series.hash } : (range as Extract<SavedPlan['input'], { kind: 'range' }>);
  return { ...plan, input };
}

const STATE_MAX_BYTES = 64 << 20;

export async function readSaved(dir: string): Promise<SavedBisection> {
  // A bisection's state is a few hundred KB; a file far past that is not one, and is not read whole.
  const size = (await stat(join(dir, 'state.json')).catch(() => null))?.size ?? 0;
  if (size > STATE_MAX_BYTES) throw new BisectInputError(withSettings`${RESUME} ${dir}/state.json is over ${STATE_MAX_BYTES >> 20} MiB: it was not written by dax-harness bisect`);
  const text = await readFile(join(dir, 'state.json'), 'utf8').catch(() => null);
  if (text === null) throw new BisectInputError(withSettings`${RESUME} ${dir} holds no state.json: give the directory a bisection wrote (results/bisect-<id>)`);
  let saved: SavedBisection;
  try {
    saved = JSON.parse(text) as SavedBisection;
  } catch {
    throw new BisectInputError(withSettings`${RESUME} ${dir}/state.json is not valid JSON: it was not written by dax-harness bisect`);
  }
  if (saved?.schema !== 1 || !saved.state || !saved.plan) throw new BisectInputError(withSettings`${RESUME} ${dir}/state.json is not a bisection state (schema ${saved?.schema})`);
  return saved;
}

/** The plan of a saved bisection, its series re-read and checked against what was bisected. */
export async function restorePlan(saved: SavedBisection): Promise<BisectPlan> {
  const p = saved.plan;
  if (p.input.kind === 'range') return { ...p, input: { ...p.input, patches: saved.meta.patches } };
  const input = await loadSeriesInput(p.input.spec);
  if (input.series.hash !== p.input.seriesHash) {
    throw new BisectInputError(withSettings`the series at ${p.input.spec} changed since the bisection started: start a new bisection instead of ${RESUME}`);
  }
  return { ...p, input };
}

/** Budgets and limits given on --resume replace the saved ones; the rest of the state stays. */
export function applySettings(state: BisectState, o: BisectWorkflowOptions['settings'] = {}): void {
  const s: BisectSettings = state.settings;
  if (o.targetConfidence !== undefined) s.targetConfidence = o.targetConfidence;
  if (o.maxRunsPerStep !== undefined) s.maxRunsPerStep = o.maxRunsPerStep;
  for (const k of ['builds', 'boots', 'runs'] as const) if (o.budget?.[k] !== undefined) s.budget[k] = o.budget[k]!;
}

export async function runBisectWorkflow(
  plan: BisectPlan,
  o: BisectWorkflowOptions,
  resume?: { dir: string; saved: SavedBisection },
): Promise<{ record: BisectRecord; dir: string }> {
  const k = plan.input.patches.length;
  let dir: string;
  let state: BisectState;
  let meta: ReportMeta;
  if (resume) {
    dir = resume.dir;
    state = resume.saved.state;
    meta = resume.saved.meta;
    applySettings(state, o.settings);
  } else {
    const claimed = await claimRun(o.resultsRoot, { makeId: () => `bisect-${newRunId()}` });
    const id = claimed.id;
    dir = claimed.dir;
    state = newBisection({ direction: plan.direction, steps: k, bad: plan.bad, matchKey: plan.matchKey, unit: plan.input.kind === 'range' ? 'commit' : 'patch', ...o.settings });
    meta = {
      id,
      input: { kind: plan.input.kind, spec: plan.input.spec, source: plan.source, tests: plan.tests.given, patches: k },
      patches: plan.input.patches,
      unit: plan.input.kind === 'range' ? 'commit' : 'patch',
      startedAt: new Date().toISOString(),
      endedAt: null,
    };
  }
  const saved = (): SavedBisection => ({ schema: 1, plan: savePlan(plan), meta, state });
  const stop = new AbortController();
  const conclude = async (outcome: BisectOutcome) => {
    meta.endedAt = new Date().toISOString();
    await writeJsonAtomic(join(dir, 'state.json'), saved());
    const record = buildRecord(state, outcome, meta);
    await writeJsonAtomic(join(dir, 'bisect.json'), record);
    await writeFileAtomic(join(dir, 'summary.txt'), summaryText(record) + '\n');
    return record;
  };
  if (o.handleSignals !== false) {
    setInterruptHandler(async (sig) => {
      stop.abort(new Error(`interrupted by ${sig}`));
      const reason = `interrupted by ${sig}; continue with dax-harness bisect --resume ${dir}`;
      await conclude({ status: 'interrupted', reason, culprit: null, candidates: [], confidence: confidence(state), confident: false, verification: null });
      o.progress(reason);
    });
  }
  let env: BisectEnv;
  try {
    env = await o.makeEnv(plan, { dir, log: o.progress, signal: stop.signal });
  } catch (e) {
    // Nothing happened yet: leave no half-started bisection behind.
    if (!resume) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  await writeJsonAtomic(join(dir, 'state.json'), saved());
  const outcome = await runBisection(state, env, {
    unit: meta.unit,
    // After a signal the interrupt handler owns the files.
    save: () => (stop.signal.aborted ? undefined : writeJsonAtomic(join(dir, 'state.json'), saved())),
    progress: (line) => o.progress(line),
  });
  return { record: await conclude(outcome), dir };
}
