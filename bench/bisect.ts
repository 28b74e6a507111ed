// bench/bisect: how often the flaky-aware bisection names the right patch,
// whether its printed confidence holds, and what it costs in builds, boots
// and runs next to a linear scan (same verdict rules, every step from the
// good end) and git bisect with one run per step: first on simulated series,
// then (--real) on the fixture series in real guests.
//
// Run: node --import tsx bench/bisect.ts [--n 2000] [--seed 1] [--repeats 20] [--end-crashes 6] [--reverse]
//      node --import tsx bench/bisect.ts --real [--series patches/fixtures/dax-refcount.mbox] [--test pmd_pte_mix.ext4]
//           [--seconds N] [--truth 7] [--pool 20] [--repeats 20] [--results DIR] [--pools FILE]
//
// --real: one real bisection of the series (kernel pipeline + guests, as
// `dax-harness bisect` runs it) for its wall time and its builds, boots and
// runs; every run's outcome is kept per kernel (by image hash). Then the
// repeated bisections (ours, a linear scan, git bisect with one run per
// step) replay those real outcomes, drawn at random per seed; a kernel with
// fewer than --pool recorded runs gets real runs first. --pools FILE keeps
// the recorded runs, so a later --real --pools FILE --skip-real replays
// without booting again.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { newBisection } from '../harness/src/workflows/bisect/engine.ts';
import { runBisection } from '../harness/src/workflows/bisect/driver.ts';
import { naiveBisect, randomScenario, rng, simulateOne, summarize, SimEnv, type Scenario, type SimResult } from '../harness/src/workflows/bisect/simulate.ts';
import type { BisectEnv, BisectOutcome, BuildOutcome, Direction, RunOutcome, StepSpec, StopRule, TestBatch } from '../harness/src/workflows/bisect/types.ts';
import { gitBisectOneRun } from '../harness/src/workflows/bisect/simulate.ts';
import { stepKey } from '../harness/src/workflows/bisect/engine.ts';
import { meetsStop } from '../harness/src/workflows/bisect/environment.ts';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export interface RepeatSummary {
  repeats: number;
  right: number;
  confident: number;
  confidentWrong: number;
  outcomes: BisectOutcome[];
  meanBuilds: number;
  meanBoots: number;
  meanRuns: number;
  meanWallMs: number;
}

/**
 * REAL-GUEST ENTRY POINT: the same bisection repeated with different seeds
 * over any environment (the simulator here; the lead's kernel-build + guest
 * environment for the fixture series). `makeEnv(seed)` returns a fresh
 * environment for one bisection; `truth` is the patch that is known to be
 * guilty. Prints nothing; returns the figures the issue asks for.
 */
export async function repeatedBisections(
  makeEnv: (seed: number) => BisectEnv | Promise<BisectEnv>,
  o: { steps: number; truth: number; repeats?: number; direction?: Direction; endCrashes?: number; strategy?: 'binary' | 'linear' },
): Promise<RepeatSummary> {
  const repeats = o.repeats ?? 20;
  const outcomes: BisectOutcome[] = [];
  let builds = 0;
  let boots = 0;
  let runs = 0;
  let wall = 0;
  for (let seed = 1; seed <= repeats; seed++) {
    const env = await makeEnv(seed);
    const state = newBisection({ direction: o.direction ?? 'cause', steps: o.steps, endCrashes: o.endCrashes, strategy: o.strategy });
    const t0 = Date.now();
    outcomes.push(await runBisection(state, env));
    wall += Date.now() - t0;
    builds += state.used.builds;
    boots += state.used.boots;
    runs += state.used.runs;
  }
  const right = outcomes.filter((x) => x.culprit === o.truth).length;
  return {
    repeats,
    right,
    confident: outcomes.filter((x) => x.confident).length,
    confidentWrong: outcomes.filter((x) => x.confident && x.culprit !== o.truth).length,
    outcomes,
    meanBuilds: builds / repeats,
    meanBoots: boots / repeats,
    meanRuns: runs / repeats,
    meanWallMs: wall / repeats,
  };
}

/** Like patches/fixtures/dax-refcount.mbox: 8 patches, 4 needs 5 to build, 6 is documentation only, 7 is the bug (seen in 20–60% of runs). */
export function fixtureLike(rate: number): Scenario {
  const k = 8;
  const none = Array<boolean>(k + 1).fill(false);
  return {
    k,
    direction: 'cause',
    culprit: 7,
    endRate: rate,
    rateFactor: Array<number>(k + 1).fill(1),
    noop: none.map((_, i) => i === 6),
    unbuildable: none.map((_, i) => i === 4),
    unbootable: none,
    needsPrev: none,
    noise: [{ key: 'WARNING: lockdep', title: 'possible circular locking dependency', rate: 0.03, from: 0 }],
    failRate: 0,
    infraRate: 0.02,
    flakyBootRate: 0,
  };
}

const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '-');
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

async function main() {
  const { values } = parseArgs({
    options: { reverse: { type: 'boolean', default: false }, n: { type: 'string', default: '2000' }, seed: { type: 'string', default: '1' }, repeats: { type: 'string', default: '20' }, 'end-crashes': { type: 'string' } },
  });
  const n = Number(values.n);
  const seed = Number(values.seed);
  const endCrashes = values['end-crashes'] ? Number(values['end-crashes']) : undefined;
  const t0 = Date.now();

  // 1. Random series: 2–64 patches, rates 0.05–0.9, every kind of trouble.
  const r = rng(seed);
  const ours: SimResult[] = [];
  const linear: SimResult[] = [];
  const naive: { right: boolean; builds: number; boots: number }[] = [];
  for (let i = 0; i < n; i++) {
    const sc = randomScenario(r, { direction: values.reverse ? 'fix' : 'cause' });
    const s = seed * 1_000_000 + i;
    ours.push(await simulateOne(sc, s, { endCrashes }));
    linear.push(await simulateOne(sc, s, { endCrashes, strategy: 'linear' }));
    const nb = await naiveBisect(sc, s);
    naive.push({ right: nb.culprit === sc.culprit, builds: nb.builds, boots: nb.boots });
  }
  const so = summarize(ours);
  const sl = summarize(linear);
  console.log(`bench/bisect: ${n} simulated ${values.reverse ? 'fix (--reverse)' : 'cause'} bisections (seed ${seed}), series of 2–64 patches, bug rate 0.05–0.9 per run,`);
  console.log('unbuildable/unbootable/no-op patches, leave-outs that do not apply, unrelated crashes, test failures, infra errors, flaky boots\n');
  const row = (name: string, a: string, b: string, c: string) => console.log(`  ${name.padEnd(34)}${a.padEnd(26)}${b.padEnd(16)}${c}`);
  console.log('accuracy');
  row('', 'ours (binary)', 'linear scan', 'git bisect, 1 run/step');
  row('named a patch', pct(so.named, so.total), pct(sl.named, sl.total), '100% (always names one)');
  row('  of which right', pct(so.namedRight, so.named), pct(sl.namedRight, sl.named), pct(naive.filter((x) => x.right).length, naive.length));
  row('confident (verified, ≥ target)', pct(so.confident, so.total), pct(sl.confident, sl.total), '-');
  row('  of which wrong', `${so.confidentWrong.length}`, `${sl.confidentWrong.length}`, '-');
  row('inconclusive range', `${pct(so.ranges, so.total)} (${so.rangesHoldingTruth}/${so.ranges} hold it)`, pct(sl.ranges, sl.total), '-');
  row('followed an unrelated crash', pct(so.total - so.followedBug, so.total), pct(sl.total - sl.followedBug, sl.total), '-');
  console.log(`  statuses (ours): ${Object.entries(so.byStatus).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);

  console.log('calibration (ours): reported confidence of named patches vs how often they were right');
  console.log('  confidence     named   right   mean reported');
  for (const b of so.calibration) {
    if (!b.named) continue;
    console.log(`  [${b.from.toFixed(2)}, ${Math.min(b.to, 1).toFixed(2)}${b.to > 1 ? ']' : ')'}   ${String(b.named).padStart(6)}  ${pct(b.right, b.named).padStart(6)}   ${b.meanConfidence.toFixed(3)}`);
  }

  console.log('\ncost per bisection (mean)       builds   boots    runs');
  const cost = (name: string, xs: { builds: number; boots: number; runs?: number }[]) =>
    console.log(`  ${name.padEnd(30)}${mean(xs.map((x) => x.builds)).toFixed(1).padStart(6)}  ${mean(xs.map((x) => x.boots)).toFixed(1).padStart(6)}  ${xs[0]?.runs === undefined ? '     -' : mean(xs.map((x) => x.runs!)).toFixed(0).padStart(6)}`);
  cost('ours (binary + verification)', ours);
  cost('linear scan, same verdicts', linear);
  cost('git bisect, 1 run per step', naive);
  console.log('\n  by series length           ours builds/boots   linear builds/boots   git-bisect-1 builds/boots');
  for (const [lo, hi] of [[2, 8], [9, 16], [17, 32], [33, 64]] as const) {
    const idx = ours.map((x, i) => (x.scenario.k >= lo && x.scenario.k <= hi ? i : -1)).filter((i) => i >= 0);
    const f = (xs: { builds: number; boots: number }[]) => `${mean(idx.map((i) => xs[i]!.builds)).toFixed(1)} / ${mean(idx.map((i) => xs[i]!.boots)).toFixed(1)}`;
    console.log(`  k ${`${lo}–${hi}`.padEnd(24)}${f(ours).padEnd(20)}${f(linear).padEnd(22)}${f(naive)}`);
  }
  console.log('\n  by bug rate (ours)        builds   boots    runs   named right   confident');
  for (const [lo, hi] of [[0.05, 0.1], [0.1, 0.2], [0.2, 0.4], [0.4, 0.9]] as const) {
    const xs = ours.filter((x) => x.scenario.endRate >= lo && x.scenario.endRate < hi);
    const s = summarize(xs);
    console.log(`  ${`${lo}–${hi}`.padEnd(26)}${mean(xs.map((x) => x.builds)).toFixed(1).padStart(6)}  ${mean(xs.map((x) => x.boots)).toFixed(1).padStart(6)}  ${mean(xs.map((x) => x.runs)).toFixed(0).padStart(6)}   ${pct(s.namedRight, s.named).padStart(10)}   ${pct(s.confident, s.total).padStart(8)}`);
  }

  // 2. The fixture's shape, 20 seeds per rate: the issue's "20 repeated bisections" figure.
  const repeats = Number(values.repeats);
  console.log(`\nfixture-like series (8 patches, a doc-only one, one that needs the next to build, culprit 7), ${repeats} seeds each`);
  console.log('  rate   right   confident   confident wrong   builds   boots   runs    git-bisect-1 right');
  for (const rate of [0.2, 0.4, 0.6]) {
    const sc = fixtureLike(rate);
    const s = await repeatedBisections((x) => new SimEnv(sc, rng(seed * 1000 + x)), { steps: sc.k, truth: sc.culprit, repeats, endCrashes });
    let naiveRight = 0;
    for (let x = 1; x <= repeats; x++) if ((await naiveBisect(sc, seed * 1000 + x)).culprit === sc.culprit) naiveRight++;
    console.log(
      `  ${rate.toFixed(1)}    ${`${s.right}/${repeats}`.padEnd(8)}${`${s.confident}/${repeats}`.padEnd(12)}${String(s.confidentWrong).padEnd(18)}${s.meanBuilds.toFixed(1).padStart(6)}  ${s.meanBoots.toFixed(1).padStart(6)}  ${s.meanRuns.toFixed(0).padStart(5)}    ${naiveRight}/${repeats}`,
    );
  }
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s; --real for the fixture series in real guests)`);
}

// ---------------------------------------------------------------- real guests

/** Every real run's outcome, per kernel: what the replayed bisections draw from. */
export interface Pools {
  series: string;
  tests: string[];
  seconds: number;
  /** Step key → its real build. */
  builds: Record<string, BuildOutcome>;
  /** Kernel image hash → the outcomes of its real runs (infra errors left out). */
  runs: Record<string, RunOutcome[]>;
}

/** Passes a real environment through, keeping every build and run outcome. */
class RecordingEnv implements BisectEnv {
  constructor(
    readonly inner: BisectEnv,
    readonly pools: Pools,
  ) {}

  async build(step: StepSpec): Promise<BuildOutcome> {
    const b = await this.inner.build(step);
    this.pools.builds[stepKey(step)] = b;
    return b;
  }

  async test(step: StepSpec, runs: number, stop: StopRule): Promise<TestBatch> {
    const batch = await this.inner.test(step, runs, stop);
    const h = this.pools.builds[stepKey(step)]?.imageHash ?? stepKey(step);
    (this.pools.runs[h] ??= []).push(...batch.outcomes.filter((o) => o.kind !== 'infra'));
    return batch;
  }
}

/**
 * A bisection over real outcomes drawn at random (with replacement) from
 * each kernel's recorded runs; a kernel with fewer than `minPool` recorded
 * runs (or a step never built) is first built and run for real. Boots
 * follow the real environment: one per batch and one after each crash.
 */
class ReplayEnv implements BisectEnv {
  builds = 0;
  boots = 0;
  runs = 0;
  constructor(
    readonly pools: Pools,
    readonly r: () => number,
    readonly real: () => RecordingEnv,
    readonly minPool: number,
  ) {}

  async build(step: StepSpec): Promise<BuildOutcome> {
    this.builds++;
    return this.pools.builds[stepKey(step)] ?? (await this.real().build(step));
  }

  async test(step: StepSpec, runs: number, stop: StopRule): Promise<TestBatch> {
    const h = this.pools.builds[stepKey(step)]?.imageHash ?? stepKey(step);
    const have = () => this.pools.runs[h] ?? [];
    while (have().length < this.minPool) {
      const before = have().length;
      await this.real().test(step, this.minPool - before, { matching: Infinity, matchKey: null, failures: false });
      if (have().length === before) break;
    }
    const pool = have();
    const outcomes: RunOutcome[] = [];
    let boots = 1;
    let matched = 0;
    while (outcomes.length < runs && pool.length) {
      const o = pool[Math.floor(this.r() * pool.length)]!;
      outcomes.push(o);
      if (meetsStop(o, stop)) matched++;
      if (matched >= stop.matching || o.kind === 'boot-fail') break;
      if (o.kind === 'crash' && outcomes.length < runs) boots++;
    }
    this.boots += boots;
    this.runs += outcomes.length;
    return { outcomes, boots };
  }
}

async function realGuests(v: Record<string, string | boolean | undefined>): Promise<void> {
  const { loadSeriesInput, parseTests } = await import('../harness/src/workflows/bisect/input.ts');
  const { runBisectWorkflow } = await import('../harness/src/workflows/bisect/workflow.ts');
  const { GuestEnvironment } = await import('../harness/src/workflows/bisect/environment.ts');
  const { writeJsonAtomic } = await import('../harness/src/host/fsutil.ts');
  const series = resolve(String(v.series ?? 'patches/fixtures/dax-refcount.mbox'));
  const given = String(v.test ?? 'pmd_pte_mix.ext4');
  const seconds = Number(v.seconds ?? 0);
  const truth = Number(v.truth ?? 7);
  const repeats = Number(v.repeats ?? 20);
  const minPool = Number(v.pool ?? 20);
  const resultsRoot = resolve(String(v.results ?? 'results'));
  const input = await loadSeriesInput(series);
  const k = input.patches.length;
  const plan = {
    direction: 'cause' as const,
    input,
    source: 'debian:6.1',
    ref: null,
    config: ['dax', 'debug-vm'],
    configBase: null,
    tests: await parseTests([given], undefined),
    ndctl: null,
    seconds,
    bad: 'match' as const,
    matchKey: null,
  };
  const poolsFile = v.pools ? resolve(String(v.pools)) : null;
  const saved = poolsFile ? await readFile(poolsFile, 'utf8').then((t) => JSON.parse(t) as Pools, () => null) : null;
  const pools: Pools = saved ?? { series, tests: [given], seconds, builds: {}, runs: {} };
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const savePools = async () => {
    if (poolsFile) await writeJsonAtomic(poolsFile, pools);
  };

  console.log(`bench/bisect --real: ${series} (${k} patches), --test ${given}${seconds ? ` --seconds ${seconds}` : ''}, debian:6.1 with dax,debug-vm, TCG guests on this host`);
  if (!v['skip-real']) {
    const t0 = Date.now();
    const { record, dir } = await runBisectWorkflow(plan, {
      resultsRoot,
      makeEnv: (p, ctx) => new RecordingEnv(new GuestEnvironment(p, ctx), pools),
      progress: log,
    });
    await savePools();
    const wall = (Date.now() - t0) / 1000;
    console.log(`\none real bisection (${dir})`);
    console.log(`  result      ${record.status}: ${record.culprit ? `patch ${record.culprit.number} "${record.culprit.subject}"` : 'none'} (truth: patch ${truth}), confidence ${record.confidence.toFixed(3)}`);
    console.log(`  rate        ${record.rate.hits}/${record.rate.trials} runs on the bad side crashed (≥ ${record.rate.lower.toFixed(2)} at 95%)`);
    console.log(`  used        ${record.used.builds} builds, ${record.used.boots} boots, ${record.used.runs} runs`);
    console.log(`  wall time   ${(wall / 60).toFixed(1)} min on ${(await import('node:os')).cpus().length} cores`);
  }

  // The real environment, made only if a replay needs a kernel it has no runs of.
  let realEnv: RecordingEnv | null = null;
  const real = () => (realEnv ??= new RecordingEnv(new GuestEnvironment(plan, { dir: resolve(resultsRoot, 'bench-bisect-pool'), log }), pools));
  const ours = await repeatedBisections((seed) => new ReplayEnv(pools, rng(seed), real, minPool), { steps: k, truth, repeats });
  const linear = await repeatedBisections((seed) => new ReplayEnv(pools, rng(seed), real, minPool), { steps: k, truth, repeats, strategy: 'linear' });
  const git = { right: 0, builds: 0, boots: 0 };
  for (let seed = 1; seed <= repeats; seed++) {
    const env = new ReplayEnv(pools, rng(seed), real, minPool);
    if ((await gitBisectOneRun(env, k, 'cause')) === truth) git.right++;
    git.builds += env.builds;
    git.boots += env.boots;
  }
  await savePools();
  const recorded = Object.entries(pools.runs).map(([h, xs]) => `${h.slice(0, 10)} ${xs.filter((x) => x.kind === 'crash').length}/${xs.length}`);
  console.log(`\n${repeats} bisections replayed from the real runs (crashes/runs per kernel: ${recorded.join(', ')})`);
  console.log('                                right     confident   confident wrong   builds   boots    runs');
  const line = (name: string, s: RepeatSummary) =>
    console.log(`  ${name.padEnd(30)}${`${s.right}/${repeats}`.padEnd(10)}${`${s.confident}/${repeats}`.padEnd(12)}${String(s.confidentWrong).padEnd(18)}${s.meanBuilds.toFixed(1).padStart(6)}  ${s.meanBoots.toFixed(1).padStart(6)}  ${s.meanRuns.toFixed(0).padStart(6)}`);
  line('ours (binary + verification)', ours);
  line('linear scan, same verdicts', linear);
  console.log(`  ${'git bisect, 1 run per step'.padEnd(30)}${`${git.right}/${repeats}`.padEnd(10)}${'-'.padEnd(12)}${'-'.padEnd(18)}${(git.builds / repeats).toFixed(1).padStart(6)}  ${(git.boots / repeats).toFixed(1).padStart(6)}  ${(git.boots / repeats).toFixed(0).padStart(6)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const real = process.argv.includes('--real');
  if (real) {
    const { values } = parseArgs({
      options: {
        real: { type: 'boolean' },
        'skip-real': { type: 'boolean' },
        series: { type: 'string' },
        test: { type: 'string' },
        seconds: { type: 'string' },
        truth: { type: 'string' },
        pool: { type: 'string' },
        repeats: { type: 'string' },
        results: { type: 'string' },
        pools: { type: 'string' },
      },
    });
    await realGuests(values);
  } else await main();
}
