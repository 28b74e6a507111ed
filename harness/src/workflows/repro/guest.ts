// The repro loop's guest over the run primitive. Each candidate test is a
// cell plan of its own (prepared once, lazily); tests whose cells boot the
// same guest (kernel, image, topology, modules, kernel words, shares) run in
// one executing cell, test by test as the loop asks, through the cell's pass
// hook. After a pass that met a kernel report the cell ends, so the next pass
// boots a fresh guest: a WARN_ON_ONCE stays quiet and a leaked reference stays
// leaked in the old one. One guest is up at a time.
import type { CrashReport, RunRecord, TestResult, TestStatus } from '../../results/records.ts';
import { topologyHash } from '../../vm/topology.ts';
import { sha256 } from '../../host/fsutil.ts';
import { executeCell, prepareCell, type CellPlan, type KernelChoice, type PreparedCell, type RunOutcome } from '../cell/index.ts';
import type { Accel } from '../../results/records.ts';
import type { Candidate } from './candidates.ts';
import { suiteByName } from '../../suites/index.ts';
import type { Pass, ReproGuest, TestRun } from './loop.ts';
import { timerDelay } from '../../host/limits.ts';

export interface CellGuestOptions {
  kernel: KernelChoice;
  ndctl: string | null;
  /** Stressor seconds (0: the manifest's); pattern seed. */
  seconds: number;
  seed: number;
  accel?: Accel;
  /** Where the cells' run directories go. */
  runsRoot: string;
  progress: (line: string) => void;
  /** Stops the cell in flight (^C). */
  signal?: AbortSignal;
  /** Passes one executing cell may hold (tests, benchmarks); default: as many as the loop asks for. */
  maxPassesPerBoot?: number;
}

/** The run primitive's plan for one candidate test. */
export function candidatePlan(c: Candidate, o: Pick<CellGuestOptions, 'kernel' | 'ndctl' | 'seconds' | 'seed' | 'accel'>): CellPlan {
  return {
    kernel: o.kernel,
    suite: c.suite,
    ...suiteByName(c.suite).planTests([c.id]),
    ...(suiteByName(c.suite).tree && o.ndctl ? { ndctl: o.ndctl } : {}),
    seconds: o.seconds,
    seed: o.seed,
    ...(o.accel ? { accel: o.accel } : {}),
  };
}

/** Cells with the same key boot the same guest, so their tests can share it. */
export function guestKey(p: Pick<PreparedCell, 'kernel' | 'image' | 'modules' | 'topology' | 'cmdlineExtra' | 'extras' | 'prepared' | 'accel'>): string {
  return sha256(
    'repro-guest-v1',
    p.kernel.key,
    p.image.key,
    p.modules?.key ?? '',
    topologyHash(p.topology),
    JSON.stringify(p.cmdlineExtra),
    JSON.stringify(p.extras),
    JSON.stringify(p.prepared.shares ?? []),
    p.accel.used,
  ).slice(0, 16);
}

const WORSE: TestStatus[] = ['crash', 'infra-error', 'timeout', 'fail', 'skip', 'pass'];

/**
 * One pass of the loop from what the cell recorded meanwhile: boot steps and
 * reports outside any test are the pass's own; everything else is the
 * candidate's run (its setup steps included), judged by its worst step.
 */
export function passFromResults(id: string, results: readonly TestResult[], loose: readonly CrashReport[], infraError: string | null): Pass {
  const boots = results.filter((r) => r.name === 'boot');
  const outside = results.filter((r) => r.name === 'kernel');
  const mine = results.filter((r) => r.name !== 'boot' && r.name !== 'kernel');
  const crashes = [...boots.flatMap((b) => b.crashes), ...outside.flatMap((r) => r.crashes), ...loose];
  let run: TestRun | null = null;
  if (mine.length) {
    const main = mine.filter((r) => !r.name.startsWith('setup.'));
    const judged = main.length ? main : mine;
    const worst = [...judged].sort((a, b) => WORSE.indexOf(a.status) - WORSE.indexOf(b.status))[0]!;
    const anyCrash = mine.find((r) => r.status === 'crash');
    const decisive = anyCrash ?? worst;
    run = {
      id,
      status: decisive.status,
      durationMs: mine.reduce((s, r) => s + r.durationMs, 0),
      crashes: mine.flatMap((r) => r.crashes),
      ...(decisive.reason ? { reason: decisive.reason } : {}),
    };
  }
  const bootMs = boots.length ? boots.reduce((s, b) => s + b.durationMs, 0) : null;
  const failedBoot = boots.find((b) => b.status === 'infra-error');
  const infra = run ? null : (failedBoot?.reason ?? infraError ?? (crashes.length ? null : 'the pass ran no test'));
  return { runs: run ? [run] : [], crashes, bootMs, infraError: infra };
}

interface Ask {
  candidate: Candidate;
  prepared: PreparedCell;
}

/** One executing cell: its guest serves the loop's passes until it ends. */
class LiveCell {
  readonly stop = new AbortController();
  done: Promise<void>;
  /** No further pass will run in this cell (it is ending, or has ended). */
  ended = false;
  passes = 0;
  private runDir: string | undefined;
  private suiteMs: number | undefined;
  private seen = 0;
  private reported = new Set<CrashReport>();
  private waiting: ((a: Ask | null) => void) | null = null;
  private queued: Ask | null | undefined = undefined;
  private pending: { id: string; resolve: (p: Pass) => void; reject: (e: unknown) => void } | null = null;

  constructor(
    readonly key: string,
    first: PreparedCell,
    o: CellGuestOptions,
  ) {
    const plan = { ...first.plan, repeat: Number.MAX_SAFE_INTEGER };
    this.done = executeCell(
      { ...first, plan },
      {
        resultsRoot: o.runsRoot,
        // The cell counts passes out of its repeat; here the loop decides how many.
        progress: (ph, m) => o.progress(`[${ph}] ${m.replace(/^\[pass (\d+)\/\d+\]/, '[pass $1]')}`),
        handleSignals: false,
        signal: this.stop.signal,
        onReady: (_s, runDir) => {
          this.runDir = runDir;
        },
        pass: async ({ ctx, onResult }) => {
          const a = await this.next();
          if (!a) return false;
          // Reports that arrived while the guest waited belong to no test.
          ctx.takeCrashes();
          const t0 = Date.now();
          await a.prepared.prepared.run(ctx, onResult);
          this.suiteMs = Date.now() - t0;
        },
        stopWhen: (view) => {
          const pass = this.collect(view, null);
          this.settle(pass);
          this.passes++;
          const crashed = pass.crashes.length > 0 || pass.runs.some((r) => r.crashes.length > 0);
          if (crashed || (o.maxPassesPerBoot !== undefined && this.passes >= o.maxPassesPerBoot)) this.ended = true;
          return this.ended;
        },
      },
    ).then(
      (out: RunOutcome) => {
        this.ended = true;
        this.runDir = out.runDir;
        const r = out.record;
        const infra = r.status === 'infra-error' || r.status === 'interrupted' ? r.reason : null;
        if (this.pending) this.settle(this.collect(r, infra));
      },
      (e: unknown) => {
        this.ended = true;
        const p = this.pending;
        this.pending = null;
        p?.reject(e);
      },
    );
  }

  private next(): Promise<Ask | null> {
    if (this.queued !== undefined) {
      const q = this.queued;
      this.queued = undefined;
      return Promise.resolve(q);
    }
    return new Promise((r) => (this.waiting = r));
  }

  private give(a: Ask | null): void {
    const w = this.waiting;
    if (w) {
      this.waiting = null;
      w(a);
    } else this.queued = a;
  }

  /** Results and reports the record gained since the last pass. */
  private collect(r: Pick<RunRecord, 'tests' | 'crashes'>, infra: string | null): Pass {
    const results = r.tests.slice(this.seen).map((t) => ({ ...t, crashes: t.crashes.filter((c) => !this.reported.has(c)) }));
    this.seen = r.tests.length;
    const inTests = new Set(r.tests.flatMap((t) => t.crashes));
    const loose = r.crashes.filter((c) => !inTests.has(c) && !this.reported.has(c));
    for (const t of results) for (const c of t.crashes) this.reported.add(c);
    for (const c of loose) this.reported.add(c);
    const suiteMs = this.suiteMs;
    this.suiteMs = undefined;
    return { ...passFromResults(this.pending?.id ?? '', results, loose, infra), ...(this.runDir ? { runDir: this.runDir } : {}), ...(suiteMs !== undefined ? { suiteMs } : {}) };
  }

  private settle(p: Pass): void {
    const w = this.pending;
    this.pending = null;
    w?.resolve(p);
  }

  run(a: Ask, deadline: number): Promise<Pass> {
    return new Promise<Pass>((resolve, reject) => {
      // Time a test out rather than overrun the budget: the cell stops (its
      // record says so) and the pass reports it.
      const timer = setTimeout(() => this.stop.abort(new Error('the repro budget ended during this pass')), timerDelay(deadline - Date.now()));
      const clear = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        f(v);
      };
      this.pending = { id: a.candidate.id, resolve: clear(resolve), reject: clear(reject) };
      this.give(a);
    });
  }

  async end(): Promise<void> {
    // Between passes (the hook waiting, or about to wait): no next pass. In
    // the middle of one (the loop gave up on it): stop it.
    if (this.pending) this.stop.abort(new Error('repro ended'));
    else this.give(null);
    await this.done;
  }
}

export class ReproInterrupted extends Error {
  override name = 'ReproInterrupted';
}

/** The guest repro's loop runs in, over the run primitive. */
export class CellReproGuest implements ReproGuest {
  private prepared = new Map<string, Promise<PreparedCell>>();
  private keys = new Set<string>();
  private live: LiveCell | null = null;

  constructor(private readonly o: CellGuestOptions) {
    o.signal?.addEventListener('abort', () => this.live?.stop.abort(o.signal!.reason), { once: true });
  }

  /** Prepare a candidate's cell (kernel, image, modules: cached after the first). */
  preparedFor(c: Candidate): Promise<PreparedCell> {
    let p = this.prepared.get(c.id);
    if (!p) {
      // The first preparation of a kind of guest is worth showing; the rest hit the caches.
      const loud = this.prepared.size === 0;
      p = prepareCell(candidatePlan(c, this.o), { progress: (ph, m) => (loud ? this.o.progress(`[${ph}] ${m}`) : undefined) });
      this.prepared.set(c.id, p);
      p.catch(() => this.prepared.delete(c.id));
    }
    return p;
  }

  async runOnce(tests: readonly Candidate[], o: { deadline: number }): Promise<Pass> {
    const merged: Pass = { runs: [], crashes: [], bootMs: null, infraError: null };
    for (const c of tests) {
      const prepared = await this.preparedFor(c);
      const key = guestKey(prepared);
      if (this.live && (this.live.key !== key || this.live.ended)) {
        await this.live.end();
        this.live = null;
      }
      if (this.o.signal?.aborted) throw new ReproInterrupted(String((this.o.signal.reason as Error)?.message ?? 'interrupted'));
      if (!this.live) {
        if (!this.keys.has(key) && this.keys.size) this.o.progress(`${c.id} needs another guest: booting it`);
        this.keys.add(key);
        this.live = new LiveCell(key, prepared, this.o);
      }
      const p = await this.live.run({ candidate: c, prepared }, o.deadline);
      merged.runs.push(...p.runs);
      merged.crashes.push(...p.crashes);
      if (p.bootMs !== null) merged.bootMs = (merged.bootMs ?? 0) + p.bootMs;
      merged.infraError ??= p.infraError;
      if (p.runDir) merged.runDir ??= p.runDir;
      if (p.suiteMs !== undefined) merged.suiteMs = (merged.suiteMs ?? 0) + p.suiteMs;
    }
    return merged;
  }

  async close(): Promise<void> {
    await this.live?.end();
    this.live = null;
  }
}
