// bench/nightly: the results store and the --jobs scheduler.
//
// Store (runs anywhere, no guest): N nights of C cells × T tests are written as
// night and run directories, the index is rebuilt from them (reindex time),
// and one test's whole history is queried (goal: < 50 ms for 1,000 nights),
// as is the full report of the last night.
//   node --import tsx bench/nightly.ts [--nights 1000] [--cells 4] [--tests 8]
//
// Guests (boots real guests: the lead runs it, alone on the machine): the
// example night (nightly/example.yaml) with --jobs 1 and then --jobs 2 into
// fresh results roots; prints both wall times, their ratio (goal ≤ 0.6 on
// 2 cores) and cells per hour. Every cell is prepared once first (kernel,
// image, modules, accelerator verdict), so the ratio compares guests, not
// downloads.
//   node --import tsx bench/nightly.ts --guests [--config nightly/example.yaml]
import { mkdtemp, mkdir, writeFile, rm, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ResultsIndex } from '../harness/src/results/db.ts';
import { loadNightReport } from '../harness/src/results/report.ts';
import type { NightCellRecord, NightRecord } from '../harness/src/results/nights.ts';
import type { RunRecord, TestResult } from '../harness/src/results/records.ts';

const { values } = parseArgs({
  options: {
    nights: { type: 'string', default: '1000' },
    cells: { type: 'string', default: '4' },
    tests: { type: 'string', default: '8' },
    guests: { type: 'boolean', default: false },
    config: { type: 'string', default: 'nightly/example.yaml' },
  },
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function storeBench(): Promise<void> {
  const N = Number(values.nights);
  const C = Number(values.cells);
  const T = Number(values.tests);
  const root = await mkdtemp(join(tmpdir(), 'bench-nightly-'));
  const cells = Array.from({ length: C }, (_, i) => `stock.smoke.m${i}.default`);
  const t0 = performance.now();
  for (let n = 0; n < N; n++) {
    const id = `n${String(n).padStart(5, '0')}`;
    const dir = join(root, 'nights', id);
    await mkdir(join(dir, 'cells'), { recursive: true });
    const at = new Date(Date.UTC(2020, 0, 1) + n * 86400_000).toISOString();
    const night: NightRecord = { schema: 1, id, configFile: 'x', configHash: 'h', origin: 'dax_harness', shard: null, matrix: cells, cells, baseline: null, rerunFailures: 4, historyNights: 30, startedAt: at, endedAt: at, status: 'done' };
    await writeFile(join(dir, 'night.json'), JSON.stringify(night));
    for (const key of cells) {
      const runId = `${id}-${key}`;
      const runDir = join(dir, 'runs', runId);
      await mkdir(runDir, { recursive: true });
      const tests: TestResult[] = Array.from({ length: T }, (_, i) => ({
        name: `t${i}`, params: { fs: 'ext4' }, status: (n * 7 + i) % 13 === 0 ? 'fail' : 'pass', reason: '', startedAt: at, durationMs: 1000 + ((n * 31 + i) % 500), log: `tests/t${i}.log`, crashes: [], metrics: { faults: n },
      }));
      const rec = { schema: 1, id: runId, status: 'pass', reason: '', startedAt: at, endedAt: at, host: { hostname: 'b', qemuVersion: '0' }, accel: null, kernel: null, image: null, topology: { nvdimms: [], memmap: [], memMiB: 2048, cpus: 1 }, topologyHash: '', kernelCmdline: '', qemuArgv: [], bootMs: 1, kernelInitMs: 1, tests, crashes: [] } as RunRecord;
      await writeFile(join(runDir, 'run.json'), JSON.stringify(rec));
      const cell: NightCellRecord = { schema: 1, key, axes: { kernel: 'stock', suite: 'smoke', mode: key.split('.')[2], topology: 'default' }, kernelKey: 'k', plan: {}, status: 'pass', reason: '', runs: [{ id: runId, dir: `runs/${runId}`, role: 'main' }], startedAt: at, endedAt: at };
      await writeFile(join(dir, 'cells', `${key}.json`), JSON.stringify(cell));
    }
  }
  const written = performance.now() - t0;
  const r0 = performance.now();
  const idx = await ResultsIndex.rebuild(root);
  const reindexMs = performance.now() - r0;
  const times: number[] = [];
  let len = 0;
  for (let i = 0; i < 50; i++) {
    const q0 = performance.now();
    len = idx.history(cells[i % C], `t${i % T}[fs=ext4]`).length;
    times.push(performance.now() - q0);
  }
  const rep0 = performance.now();
  const rep = loadNightReport(idx, `n${String(N - 1).padStart(5, '0')}`);
  const reportMs = performance.now() - rep0;
  idx.close();
  console.log(`store: ${N} nights × ${C} cells × ${T} tests = ${N * C * T} test results (${(written / 1000).toFixed(1)} s to write the directories)`);
  console.log(`  reindex from directories: ${(reindexMs / 1000).toFixed(2)} s`);
  console.log(`  one test's history (${len} nights): median ${median(times).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms over 50 queries (goal < 50 ms)`);
  console.log(`  full report of the last night (${rep.tests.length} tests classified against ${rep.night.history_nights}-night history): ${reportMs.toFixed(1)} ms`);
  await rm(root, { recursive: true, force: true });
}

async function guestBench(): Promise<void> {
  const { loadNightConfig, expandMatrix } = await import('../harness/src/workflows/nightly/config.ts');
  const { runNight } = await import('../harness/src/workflows/nightly/index.ts');
  const { primitiveRunCell, prepareKernelOnce, checkCellInputs, kernelFault, cellPlan, kernelChoice } = await import('../harness/src/workflows/nightly/run-cell.ts');
  const { prepareCell } = await import('../harness/src/workflows/cell/index.ts');
  const config = await loadNightConfig(values.config!);
  const deps = { runCell: primitiveRunCell(), prepareKernel: prepareKernelOnce, checkCell: checkCellInputs, kernelFault };
  // Warm every cache a cell uses (kernel, image, modules, our modules, the
  // accelerator verdict) without booting, so both sides pay only for guests.
  const w0 = performance.now();
  for (const cell of await expandMatrix(config)) await prepareCell(cellPlan(cell, kernelChoice(cell.kernel), 1), { progress: () => {} });
  console.log(`guests: caches warmed in ${((performance.now() - w0) / 1000).toFixed(1)} s`);
  const once = async (jobs: number, freshGuests = false) => {
    const tag = `jobs ${jobs}${freshGuests ? ', fresh guests' : ''}`;
    const root = await mkdtemp(join(tmpdir(), `bench-nightly-j${jobs}-`));
    const t0 = performance.now();
    const out = await runNight({ config, resultsRoot: root, jobs, shard: null, freshGuests, progress: (m) => process.stderr.write(`[${tag}] ${m}\n`) }, deps);
    const ms = performance.now() - t0;
    // Boots paid: runs that did not start in a kept guest.
    const runsDir = join(out.dir, 'runs');
    const runs = await Promise.all((await readdir(runsDir)).map(async (id) => JSON.parse(await readFile(join(runsDir, id, 'run.json'), 'utf8')) as { guest?: unknown }));
    await rm(root, { recursive: true, force: true });
    return { ms, cells: out.ran.length, boots: runs.filter((r) => !r.guest).length };
  };
  const fresh = await once(1, true);
  const one = await once(1);
  const two = await once(2);
  const h = (x: { ms: number; cells: number }) => ((x.cells * 3600_000) / x.ms).toFixed(1);
  const line = (label: string, x: { ms: number; cells: number; boots: number }) =>
    console.log(`  ${label}: ${(x.ms / 1000).toFixed(1)} s (${h(x)} cells/hour, ${x.boots} boot${x.boots === 1 ? '' : 's'} for ${x.cells} cells)`);
  console.log(`guests: ${config.file}, ${one.cells} cells (${two.cells} at --jobs 2)`);
  line('--jobs 1 --fresh-guests', fresh);
  line('--jobs 1', one);
  line('--jobs 2', two);
  console.log(`  wall-time ratio kept guests/fresh guests at --jobs 1: ${(one.ms / fresh.ms).toFixed(2)}`);
  console.log(`  wall-time ratio jobs2/jobs1 (both keeping guests): ${(two.ms / one.ms).toFixed(2)}; jobs2/jobs1 with fresh guests at jobs 1: ${(two.ms / fresh.ms).toFixed(2)}`);
}

await storeBench();
if (values.guests) await guestBench();
