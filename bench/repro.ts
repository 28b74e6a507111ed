// bench/repro: what the repro loop costs per iteration next to the test's own
// run time, and how soon it reproduces a flaky bug next to a loop of full
// `dax-harness run` invocations.
//
// Run: node --import tsx bench/repro.ts [--passes 8] [--test pmd_pte_mix.ext4] [--seconds 1]
//      [--trials 1] [--max-runs 12] [--results DIR] [--skip-overhead] [--skip-first]
//
// 1. Overhead: the loop's guest (the run primitive, one guest kept between
//    passes) on Debian's stock kernel, one test, for --passes passes that
//    cannot reproduce (a crash that kernel does not have). Per pass: wall time
//    of the loop's call, the suite's own steps (namespace setup, mkfs, the
//    stressor, unmount, census: what `run` spends on the test too) and the
//    stressor alone. Overhead = wall minus the suite's steps.
// 2. Time to first reproduction, wall clock from the command's start, of the
//    bisect fixture's crash report (patches/fixtures/dax-refcount-crash.eml)
//    on the fixture kernel: `dax-harness repro --confirm 0` against
//    `dax-harness run ... --test pmd_pte_mix.ext4` started again and again
//    until one run shows the crash (at most --max-runs). Needs the fixture
//    kernel in the cache (never built here); otherwise the same on the stock
//    kernel with a crash our stressor always triggers (reflink_share on xfs
//    with reflink), where both need one iteration and only the per-iteration
//    costs differ. The expected time to first reproduction is also given as
//    per-iteration cost / rate, which one trial cannot show.
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CellReproGuest } from '../harness/src/workflows/repro/guest.ts';
import { reproLoop, type Pass, type ReproGuest } from '../harness/src/workflows/repro/loop.ts';
import { parseLog } from '../harness/src/oracle/index.ts';
import { planKernel } from '../harness/src/kernel/index.ts';
import { readReport } from '../harness/src/workflows/repro/report.ts';
import type { Candidate } from '../harness/src/workflows/repro/candidates.ts';
import type { RunRecord } from '../harness/src/results/records.ts';
import { wilson, formatRate } from '../harness/src/workflows/repro/stats.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(repo, 'harness/bin/dax-harness.js');

const { values: a } = parseArgs({
  options: {
    passes: { type: 'string', default: '8' },
    test: { type: 'string', default: 'pmd_pte_mix.ext4' },
    seconds: { type: 'string', default: '1' },
    trials: { type: 'string', default: '1' },
    'max-runs': { type: 'string', default: '12' },
    results: { type: 'string' },
    'skip-overhead': { type: 'boolean', default: false },
    'skip-first': { type: 'boolean', default: false },
  },
});
const results = a.results ?? mkdtempSync(join(tmpdir(), 'daxh-bench-repro-'));
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mean = (xs: number[]) => (xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : NaN);

async function overhead(): Promise<void> {
  const passes = Number(a.passes);
  const [name, target] = a.test!.split('.');
  const c: Candidate = { id: a.test!, suite: 'stressors', fs: target === 'xfs' ? 'xfs' : 'ext4', score: 1, reasons: [], blocked: null };
  // A crash Debian's 6.1 does not have: the loop never stops early.
  const want = parseLog(readFileSync(join(repo, 'harness/src/oracle/corpus/dump-6.12-merged.log'), 'utf8'))[0]!;
  const inner = new CellReproGuest({ kernel: { kind: 'stock' }, ndctl: null, seconds: Number(a.seconds), seed: 1, runsRoot: join(results, 'overhead'), progress: () => {} });
  const rows: Array<{ wall: number; suite: number; stressor: number; boot: number | null }> = [];
  const timed: ReproGuest = {
    async runOnce(tests, o): Promise<Pass> {
      const t0 = Date.now();
      const p = await inner.runOnce(tests, o);
      rows.push({ wall: Date.now() - t0, suite: p.suiteMs ?? 0, stressor: 0, boot: p.bootMs });
      return p;
    },
    close: () => inner.close(),
  };
  const t0 = Date.now();
  await reproLoop(timed, { want, candidates: [c], budgetMs: 3600_000, maxPasses: passes });
  // The stressor's own time, from the run records (the case's result, not the suite's setup).
  const runDirs = readdirSync(join(results, 'overhead')).sort();
  const cases = runDirs.flatMap((d) => (JSON.parse(readFileSync(join(results, 'overhead', d, 'run.json'), 'utf8')) as RunRecord).tests.filter((x) => x.name === name));
  cases.forEach((x, i) => rows[i] && (rows[i]!.stressor = x.durationMs));
  const warm = rows.filter((r) => r.boot === null);
  const m = (f: (r: (typeof rows)[number]) => number) => mean(warm.map(f));
  console.log(`repro loop overhead: ${a.test} --seconds ${a.seconds} on Debian's stock kernel, ${rows.length} passes in ${s(Date.now() - t0)} (${rows.filter((r) => r.boot !== null).length} with a boot)`);
  console.log('  pass    wall  suite (setup+test)  stressor  loop overhead');
  rows.forEach((r, i) =>
    console.log(`  ${String(i + 1).padStart(4)}  ${s(r.wall).padStart(6)}  ${s(r.suite).padStart(18)}  ${s(r.stressor).padStart(8)}  ${r.boot !== null ? `(boot ${s(r.boot)})` : `${r.wall - r.suite} ms`}`),
  );
  const loopMs = m((r) => r.wall - r.suite);
  console.log(`  guest up: per pass ${s(m((r) => r.wall))} wall, ${s(m((r) => r.suite))} in the suite (its namespace setup and mkfs ${s(m((r) => r.suite - r.stressor))}), ${s(m((r) => r.stressor))} the stressor`);
  console.log(`  the loop's own overhead per iteration: ${Math.round(loopMs)} ms = ${((loopMs / m((r) => r.suite)) * 100).toFixed(1)}% of the suite's time for the test (goal <= 10%)`);
  console.log(`  wall per iteration over the stressor alone: ${((m((r) => r.wall) / m((r) => r.stressor) - 1) * 100).toFixed(0)}% more (the suite sets the namespace up again every pass, as run --repeat does)`);
}

interface Trial {
  wallMs: number;
  iterations: number;
  found: boolean;
}

function repro(kernelArgs: string[], report: string, test: string, seconds: string[]): Trial & { firstMs: number } {
  // --confirm 0: stop at the first reproduction, as the run loop does.
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [bin, 'repro', '--json', '--results', join(results, 'first'), ...kernelArgs, ...seconds, '--confirm', '0', '--test', test, '--budget', '30m', report], { encoding: 'utf8' });
  const wallMs = Date.now() - t0;
  const out = JSON.parse(r.stdout || '{}') as { reproduced?: boolean; passes?: number; elapsedMs?: number };
  // The loop's first pass ends at wall - (loop time - first pass's end): read from repro.json.
  const dirs = readdirSync(join(results, 'first')).filter((d) => d.startsWith('repro-')).sort();
  const rec = JSON.parse(readFileSync(join(results, 'first', dirs[dirs.length - 1]!, 'repro.json'), 'utf8')) as { passes: Array<{ elapsedMs: number }> };
  const firstMs = wallMs - ((out.elapsedMs ?? 0) - (rec.passes[0]?.elapsedMs ?? 0));
  return { wallMs, firstMs, iterations: out.passes ?? 0, found: Boolean(out.reproduced) };
}

function runLoop(kernelArgs: string[], test: string, seconds: string[], matchKey: string, maxRuns: number): Trial & { perRunMs: number[] } {
  const t0 = Date.now();
  const perRunMs: number[] = [];
  for (let i = 1; i <= maxRuns; i++) {
    const root = mkdtempSync(join(results, 'runs-'));
    const r0 = Date.now();
    spawnSync(process.execPath, [bin, 'run', '--results', root, ...kernelArgs, '--suite', 'stressors', '--test', test, ...seconds], { encoding: 'utf8' });
    perRunMs.push(Date.now() - r0);
    const rec = readdirSync(root).map((d) => JSON.parse(readFileSync(join(root, d, 'run.json'), 'utf8')) as RunRecord)[0];
    if (rec?.crashes.some((c) => c.matchKey === matchKey)) return { wallMs: Date.now() - t0, iterations: i, found: true, perRunMs };
  }
  return { wallMs: Date.now() - t0, iterations: maxRuns, found: false, perRunMs };
}

async function firstReproduction(): Promise<void> {
  const series = join(repo, 'patches/fixtures/dax-refcount.mbox');
  const fixture = await planKernel({ source: 'debian:6.1', series, config: ['dax', 'debug-vm'] });
  const haveFixture = existsSync(join(fixture.artifactDir, 'artifact.json'));
  const report = haveFixture ? join(repo, 'patches/fixtures/dax-refcount-crash.eml') : null;
  const kernelArgs = haveFixture ? ['--source', 'debian:6.1', '--series', series, '--config', 'dax,debug-vm'] : [];
  const test = haveFixture ? a.test! : 'reflink_share.xfs-reflink';
  const seconds = haveFixture ? ['--seconds', a.seconds!] : [];
  let reportFile = report;
  if (!reportFile) {
    // The crash that stressor triggers on the stock kernel, from a capture in this bench's own run.
    const cap = mkdtempSync(join(results, 'capture-'));
    spawnSync(process.execPath, [bin, 'run', '--results', cap, '--suite', 'stressors', '--test', test], { encoding: 'utf8' });
    const d = readdirSync(cap)[0]!;
    reportFile = join(cap, d, 'console.log');
  }
  const want = (await readReport(readFileSync(reportFile, 'utf8'))).crashes[0]!.report;
  console.log(`\ntime to first reproduction of ${want.title} (${haveFixture ? 'the fixture kernel' : "Debian's stock kernel; the fixture kernel is not cached"}), ${test}${seconds.length ? ` ${seconds.join(' ')}` : ''}:`);
  const rps: Array<Trial & { firstMs: number }> = [];
  const rls: Array<Trial & { perRunMs: number[] }> = [];
  for (let i = 1; i <= Number(a.trials); i++) {
    const rp = repro(kernelArgs, reportFile, test, seconds);
    const rl = runLoop(kernelArgs, test, seconds, want.matchKey, Number(a['max-runs']));
    rps.push(rp);
    rls.push(rl);
    console.log(`  trial ${i}: repro ${rp.found ? 'reproduced' : 'did not reproduce'} in ${s(rp.wallMs)} (${rp.iterations} passes); run loop ${rl.found ? 'reproduced' : 'did not'} in ${s(rl.wallMs)} (${rl.iterations} runs of ${s(mean(rl.perRunMs))})`);
  }
  // The crash rate per iteration of each (a warm guest may race differently from a fresh boot), and pooled.
  const rate = (xs: Trial[]) => wilson(xs.filter((x) => x.found).length, xs.reduce((n, x) => n + x.iterations, 0));
  const ofRepro = rate(rps);
  const ofRuns = rate(rls);
  const pooled = wilson(ofRepro.k + ofRuns.k, ofRepro.n + ofRuns.n);
  const perRun = mean(rls.flatMap((x) => x.perRunMs));
  const perPass = mean(rps.filter((x) => x.iterations > 1).map((x) => (x.wallMs - x.firstMs) / (x.iterations - 1)));
  console.log(`  mean time to first reproduction over ${rps.length} trials: repro ${s(mean(rps.map((x) => x.wallMs)))}, run loop ${s(mean(rls.map((x) => x.wallMs)))}`);
  console.log(`  crash rate per iteration: repro ${formatRate(ofRepro)}, run loop ${formatRate(ofRuns)}, pooled ${pooled.p.toFixed(2)}`);
  console.log(`  cost per iteration: a full run ${s(perRun)}; a repro pass after the first ${Number.isNaN(perPass) ? '-' : s(perPass)} (its first, with preparation and boot, ${s(mean(rps.map((x) => x.firstMs)))})`);
  if (!Number.isNaN(perPass)) {
    const p = pooled.p;
    console.log(`  expected time to first reproduction at the pooled rate: repro ${s(mean(rps.map((x) => x.firstMs)) + ((1 - p) / p) * perPass)}, run loop ${s(perRun / p)}`);
  }
}

if (!a['skip-overhead']) await overhead();
if (!a['skip-first']) await firstReproduction();
