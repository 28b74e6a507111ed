// bench/bisect: how often the flaky-aware bisection names the right patch,
// whether its printed confidence holds, and what it costs in builds, boots
// and runs next to a linear scan (same verdict rules, every step from the
// good end) and git bisect with one run per step: on simulated series, over
// a calibration sweep, and replayed from the recorded runs in bench/recordings/.
//
// Run: node --import tsx bench/bisect.ts [--n 2000] [--seed 1] [--repeats 20] [--per-cell 20] [--end-crashes 6] [--reverse]
//      node --import tsx bench/bisect.ts --replay FILE [--seed 1] [--max 25]
//      node --import tsx bench/bisect.ts --record RESULTS_DIR --out FILE [--truth 7] [--series PATH]
//      node --import tsx bench/bisect.ts --synthesize FILE [--bisections 30] [--rate 0.5] [--fill 40] [--seed 1]
//      node --import tsx bench/bisect.ts --real [--series patches/fixtures/dax-refcount.mbox] [--test stressors:pmd_pte_mix.ext4]
//           [--seconds N] [--truth 7] [--results DIR] [--fill N]
//
// --real: one real bisection of the series in guests (kernel pipeline +
// guests, as `dax-harness bisect` runs it) for its wall time and its builds,
// boots and runs; it leaves results/bisect-<id>/state.json, whose runs
// --record reads. With --fill N it instead runs every step of the series N
// times (the kernels git bisect's replay may visit that ours never did).
// --record writes the recorded runs of every bisection of the series under
// RESULTS_DIR to a file (see harness/src/workflows/bisect/recording.ts), which
// --replay replays: each kernel's runs are drawn without replacement, so N
// replays use N bisections' worth of runs. --synthesize writes the same kind
// of file from the simulator, marked synthetic.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { newBisection } from '../harness/src/workflows/bisect/engine.ts';
import { runBisection } from '../harness/src/workflows/bisect/driver.ts';
import {
  calibrationSweep,
  naiveBisect,
  randomScenario,
  rng,
  simulateOne,
  summarize,
  SimEnv,
  type Reliability,
  type Scenario,
  type SimResult,
} from '../harness/src/workflows/bisect/simulate.ts';
import { checkRecording, fillState, recordFromStates, replayBisections, type Recording, type ReplaySummary } from '../harness/src/workflows/bisect/recording.ts';
import type { BisectEnv, BisectOutcome, Direction } from '../harness/src/workflows/bisect/types.ts';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';

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
    options: {
      reverse: { type: 'boolean', default: false },
      n: { type: 'string', default: '2000' },
      seed: { type: 'string', default: '1' },
      repeats: { type: 'string', default: '20' },
      'per-cell': { type: 'string', default: '20' },
      'end-crashes': { type: 'string' },
    },
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

  console.log('cost per bisection (mean)       builds   boots    runs');
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

  // 3. Calibration over every bin: the engine's stated confidence and the posterior against the truth.
  const perCell = Number(values['per-cell']);
  const sweep = await calibrationSweep({ perCell, seed });
  console.log(`\ncalibration sweep: ${sweep.bisections} cause bisections (${perCell} per cell), bug rates 0.05–0.9 × targets 0.5–0.95 × --max-runs 15/30/300 × binary/linear;`);
  console.log(`${sweep.engine.n} named a patch (confident or not), scored against the truth`);
  printReliability('engine confidence (a lower bound by construction)', sweep.engine);
  printReliability('posterior (posterior.ts: one guilty patch, one unknown rate)', sweep.posterior);

  // 4. Replays of the recorded runs kept in the tree.
  for (const file of await recordings()) await printReplay(file, seed, 25);
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s; --real for the fixture series in real guests)`);
}

function printReliability(name: string, r: Reliability): void {
  console.log(`\n  ${name}: Brier score ${r.brier.toFixed(4)} over ${r.n}`);
  console.log('    stated         named   right    mean stated   right − stated');
  for (const b of r.rows) {
    if (!b.n) continue;
    const right = b.right / b.n;
    const bin = `[${b.from.toFixed(2)}, ${Math.min(b.to, 1).toFixed(2)}${b.to > 1 ? ']' : ')'}`;
    console.log(`    ${bin.padEnd(13)}${String(b.n).padStart(6)}  ${pct(b.right, b.n).padStart(6)}   ${b.meanStated.toFixed(3).padStart(11)}   ${(right - b.meanStated >= 0 ? '+' : '') + (right - b.meanStated).toFixed(3)}`);
  }
}

const RECORDINGS = resolve(import.meta.dirname, 'recordings');

async function recordings(): Promise<string[]> {
  const names = await readdir(RECORDINGS).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.json')).sort().map((n) => join(RECORDINGS, n));
}

export async function loadRecording(file: string): Promise<Recording> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) throw new RangeError(`${file}: no such recording; make one with --record or --synthesize`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RangeError(`${file} is not JSON: give a file --record or --synthesize wrote`);
  }
  return checkRecording(parsed, file);
}

async function printReplay(file: string, seed: number, max: number): Promise<void> {
  const rec = await loadRecording(file);
  const ours = await replayBisections(rec, { method: 'engine', seed, max });
  const git = await replayBisections(rec, { method: 'git-bisect-1', seed, max });
  const runs = Object.entries(rec.kernels).map(([k, xs]) => `${k} ${xs.filter((x) => x.startsWith('crash:')).length}/${xs.length}`);
  console.log(`\nreplayed from ${relative(process.cwd(), file)}${rec.synthetic ? ' (SYNTHETIC: simulator runs, not guests)' : ''}: ${rec.series}, ${rec.steps} patches, truth ${rec.truth ?? 'unknown'}`);
  console.log(`  recorded crashes/runs per kernel: ${runs.join(', ')}`);
  console.log('  each kernel\'s runs drawn without replacement: no run serves two bisections of one method');
  console.log('                                  bisections   right     confident   builds   boots    runs');
  const line = (name: string, r: ReplaySummary) => {
    const n = r.done.length;
    const m = (f: (d: ReplaySummary['done'][number]) => number) => (n ? r.done.reduce((a, d) => a + f(d), 0) / n : 0).toFixed(1).padStart(6);
    console.log(`  ${name.padEnd(32)}${String(n).padEnd(13)}${(r.right === null ? '-' : `${r.right}/${n}`).padEnd(10)}${(r.method === 'engine' ? `${r.done.filter((d) => d.confident).length}/${n}` : '-').padEnd(12)}${m((d) => d.builds)}  ${m((d) => d.boots)}  ${m((d) => d.runs)}`);
    if (n < max) console.log(`    (stopped after ${n}: ${r.stoppedBy})`);
  };
  line('ours (binary + verification)', ours);
  line('git bisect, 1 run per step', git);
}

// ------------------------------------------------------ recorded runs

/** Every saved bisection (state.json) under a results directory. */
async function savedBisections(root: string): Promise<{ dir: string; saved: { plan?: { input?: { seriesHash?: string }; tests?: { given?: string[] }; seconds?: number }; state: import('../harness/src/workflows/bisect/types.ts').BisectState } }[]> {
  const out = [];
  for (const name of (await readdir(root).catch(() => [] as string[])).sort()) {
    if (!name.startsWith('bisect-')) continue;
    const text = await readFile(join(root, name, 'state.json'), 'utf8').catch(() => null);
    if (text === null) continue;
    const saved = JSON.parse(text);
    if (saved?.schema === 1 && saved.state?.settings) out.push({ dir: join(root, name), saved });
  }
  return out;
}

async function record(v: Record<string, string | boolean | undefined>): Promise<void> {
  const { loadSeriesInput } = await import('../harness/src/workflows/bisect/input.ts');
  const { writeJsonAtomic } = await import('../harness/src/host/fsutil.ts');
  const root = resolve(String(v.record));
  if (!v.out) throw new RangeError('--record needs --out FILE: where to write the recording');
  const series = String(v.series ?? 'patches/fixtures/dax-refcount.mbox');
  const hash = (await loadSeriesInput(resolve(series))).series.hash;
  const all = await savedBisections(root);
  const mine = all.filter((x) => x.saved.plan?.input?.seriesHash === hash);
  if (!mine.length) throw new RangeError(`${root} holds no bisection of ${series} (${all.length} other bisections): run --real first`);
  // Runs of different tests or stress times crash at different rates: one recording holds one of them.
  const how = (x: (typeof mine)[number]) => `--test ${(x.saved.plan?.tests?.given ?? []).join(',')} --seconds ${x.saved.plan?.seconds ?? 0}`;
  const kinds = [...new Set(mine.map(how))];
  if (kinds.length > 1) throw new RangeError(`${root} holds bisections of ${series} run differently (${kinds.join('; ')}): move all but one kind elsewhere and record again`);
  const tests = [...new Set(mine.flatMap((x) => x.saved.plan?.tests?.given ?? []))];
  const rec = recordFromStates(
    mine.map((x) => ({ dir: relative(process.cwd(), x.dir), state: x.saved.state })),
    { synthetic: false, note: `runs of ${mine.length} bisection(s) in guests on ${(await import('node:os')).hostname()}, recorded ${new Date().toISOString().slice(0, 10)}`, series, seriesHash: hash, tests, truth: v.truth ? Number(v.truth) : null },
  );
  await writeJsonAtomic(resolve(String(v.out)), rec);
  const runs = Object.values(rec.kernels).reduce((a, xs) => a + xs.length, 0);
  console.log(`${v.out}: ${runs} runs of ${Object.keys(rec.kernels).length} kernels from ${mine.length} bisection(s) of ${series}`);
}

/**
 * A recording made by the simulator on the fixture's shape (fixtureLike): the
 * runs of simulated bisections plus every step filled, written the way
 * --record writes real ones. It proves the replay, not the engine.
 */
export async function synthesizeRecording(o: { bisections: number; rate: number; fill: number; seed: number }): Promise<Recording> {
  const sc = fixtureLike(o.rate);
  const saved = [];
  for (let i = 0; i < o.bisections; i++) {
    const state = newBisection({ direction: 'cause', steps: sc.k });
    await runBisection(state, new SimEnv(sc, rng(o.seed * 1000 + i)));
    saved.push({ dir: `simulated bisection ${i + 1}`, state });
  }
  const fill = await fillState(new SimEnv(sc, rng(o.seed * 1000 + o.bisections)), { steps: sc.k, direction: 'cause', runs: o.fill });
  saved.push({ dir: `simulated fill, ${o.fill} runs per step`, state: fill });
  return recordFromStates(saved, {
    synthetic: true,
    note: `SYNTHETIC: no guest ran these. The simulator (fixtureLike in bench/bisect.ts: the fixture's shape, bug in ${Math.round(o.rate * 100)}% of runs) ran ${o.bisections} bisections and ${o.fill} runs of every step; made by npm run bench:bisect -- --synthesize FILE --bisections ${o.bisections} --rate ${o.rate} --fill ${o.fill} --seed ${o.seed}`,
    series: 'patches/fixtures/dax-refcount.mbox (shape only)',
    seriesHash: null,
    tests: ['simulated'],
    truth: sc.culprit,
  });
}

async function synthesize(v: Record<string, string | boolean | undefined>): Promise<void> {
  const { writeJsonAtomic } = await import('../harness/src/host/fsutil.ts');
  const rec = await synthesizeRecording({ bisections: Number(v.bisections ?? 30), rate: Number(v.rate ?? 0.5), fill: Number(v.fill ?? 40), seed: Number(v.seed ?? 1) });
  await writeJsonAtomic(resolve(String(v.synthesize)), rec);
  console.log(`${v.synthesize}: synthetic recording, ${Object.values(rec.kernels).reduce((a, xs) => a + xs.length, 0)} simulated runs`);
}

// ---------------------------------------------------------------- real guests

async function realGuests(v: Record<string, string | boolean | undefined>): Promise<void> {
  const { loadSeriesInput, parseTests } = await import('../harness/src/workflows/bisect/input.ts');
  const { runBisectWorkflow } = await import('../harness/src/workflows/bisect/workflow.ts');
  const { GuestEnvironment } = await import('../harness/src/workflows/bisect/environment.ts');
  const { writeJsonAtomic } = await import('../harness/src/host/fsutil.ts');
  const { mkdir } = await import('node:fs/promises');
  const series = resolve(String(v.series ?? 'patches/fixtures/dax-refcount.mbox'));
  const given = String(v.test ?? 'stressors:pmd_pte_mix.ext4');
  const seconds = Number(v.seconds ?? 0);
  const truth = Number(v.truth ?? 7);
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
  const log = (line: string) => process.stderr.write(`${line}\n`);
  console.log(`bench/bisect --real: ${series} (${k} patches), --test ${given}${seconds ? ` --seconds ${seconds}` : ''}, debian:6.1 with dax,debug-vm, TCG guests on this host`);
  if (v.fill) {
    // Saved like a bisection (plan, meta, state) so --record finds it beside the others.
    const dir = join(resultsRoot, `bisect-fill-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`);
    await mkdir(dir, { recursive: true });
    const state = await fillState(new GuestEnvironment(plan, { dir, log }), { steps: k, direction: 'cause', runs: Number(v.fill), log });
    const { input: _i, ...rest } = plan;
    await writeJsonAtomic(join(dir, 'state.json'), { schema: 1, plan: { ...rest, input: { kind: 'series', spec: series, seriesHash: input.series.hash } }, meta: { id: basename(dir) }, state });
    console.log(`${dir}: every step run ${v.fill} times (${state.used.runs} runs, ${state.used.boots} boots)`);
    return;
  }
  const t0 = Date.now();
  const { record, dir } = await runBisectWorkflow(plan, { resultsRoot, makeEnv: (p, ctx) => new GuestEnvironment(p, ctx), progress: log });
  const wall = (Date.now() - t0) / 1000;
  console.log(`\none real bisection (${dir})`);
  console.log(`  result      ${record.status}: ${record.culprit ? `patch ${record.culprit.number} "${record.culprit.subject}"` : 'none'} (truth: patch ${truth}), confidence ${record.confidence.toFixed(3)}`);
  console.log(`  rate        ${record.rate.hits}/${record.rate.trials} runs on the bad side crashed (≥ ${record.rate.lower.toFixed(2)} at 95%)`);
  console.log(`  used        ${record.used.builds} builds, ${record.used.boots} boots, ${record.used.runs} runs`);
  console.log(`  wall time   ${(wall / 60).toFixed(1)} min on ${(await import('node:os')).cpus().length} cores`);
  // A build event is logged when its build ends, so its time is the gap since the event before it.
  const times = record.log.map((e, i) => ({ e, s: (Date.parse(e.at) - (i ? Date.parse(record.log[i - 1]!.at) : t0)) / 1000 })).filter((x) => x.e.action === 'build' && x.e.seq > 1);
  if (times.length) console.log(`  step builds ${times.map((x) => x.s.toFixed(0)).join(', ')} s (after the first, which builds the tree from scratch or the cache)`);
  console.log(`  its runs are in ${dir}/state.json: --record ${relative(process.cwd(), resultsRoot)} --out FILE adds them to a recording`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const mode = ['--real', '--record', '--synthesize', '--replay'].find((m) => process.argv.includes(m) || process.argv.some((a) => a.startsWith(`${m}=`)));
  if (!mode) await main();
  else {
    let values: Record<string, string | boolean | undefined>;
    try {
      ({ values } = parseArgs({
        options: {
          real: { type: 'boolean' },
          record: { type: 'string' },
          synthesize: { type: 'string' },
          replay: { type: 'string' },
          out: { type: 'string' },
          series: { type: 'string' },
          test: { type: 'string' },
          seconds: { type: 'string' },
          truth: { type: 'string' },
          results: { type: 'string' },
          fill: { type: 'string' },
          bisections: { type: 'string' },
          rate: { type: 'string' },
          seed: { type: 'string' },
          max: { type: 'string' },
        },
      }));
    } catch (e) {
      console.error(`bench/bisect: ${(e as Error).message}`);
      process.exit(2);
    }
    try {
      if (mode === '--real') await realGuests(values);
      else if (mode === '--record') await record(values);
      else if (mode === '--synthesize') await synthesize(values);
      else await printReplay(resolve(String(values.replay)), Number(values.seed ?? 1), Number(values.max ?? 25));
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      console.error(`bench/bisect: ${e.message}`);
      process.exit(2);
    }
  }
}
