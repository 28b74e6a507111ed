// bench/bisect: how often the flaky-aware bisection names the right patch,
// whether its printed confidence holds, and what it costs in builds, boots
// and runs next to a linear scan (same verdict rules, every step from the
// good end) and git bisect with one run per step. Simulated series only;
// repeatedBisections() below is the entry point for the real-guest part.
//
// Run: node --import tsx bench/bisect.ts [--n 2000] [--seed 1] [--repeats 20] [--end-crashes 6] [--reverse]
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { newBisection } from '../harness/src/workflows/bisect/engine.ts';
import { runBisection } from '../harness/src/workflows/bisect/driver.ts';
import { naiveBisect, randomScenario, rng, simulateOne, summarize, SimEnv, type Scenario, type SimResult } from '../harness/src/workflows/bisect/simulate.ts';
import type { BisectEnv, BisectOutcome, Direction } from '../harness/src/workflows/bisect/types.ts';

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
  o: { steps: number; truth: number; repeats?: number; direction?: Direction; endCrashes?: number },
): Promise<RepeatSummary> {
  const repeats = o.repeats ?? 20;
  const outcomes: BisectOutcome[] = [];
  let builds = 0;
  let boots = 0;
  let runs = 0;
  let wall = 0;
  for (let seed = 1; seed <= repeats; seed++) {
    const env = await makeEnv(seed);
    const state = newBisection({ direction: o.direction ?? 'cause', steps: o.steps, endCrashes: o.endCrashes });
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

/** Like the issue's fixture: 8 patches, a documentation-only one, one that needs the next to build, a bug seen in 20–60% of runs. */
export function fixtureLike(rate: number): Scenario {
  const k = 8;
  const none = Array<boolean>(k + 1).fill(false);
  return {
    k,
    direction: 'cause',
    culprit: 6,
    endRate: rate,
    rateFactor: Array<number>(k + 1).fill(1),
    noop: none.map((_, i) => i === 2),
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
  console.log(`\nfixture-like series (8 patches, a doc-only one, one that needs the next to build, culprit 6), ${repeats} seeds each`);
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
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s; wall time of a real bisection on 2 cores needs the guest environment: repeatedBisections())`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
