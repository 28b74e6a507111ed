// The nightly workflow end to end on fabricated runs: several nights judged
// against each other, reruns, resume, --jobs, shards merged.
import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { runNight, mergeNights, cpusPerGuest, pool, NightlyInputError } from '../../harness/src/workflows/nightly/index.ts';
import { ResultsIndex } from '../../harness/src/results/db.ts';
import { loadNightReport, nightExitCode } from '../../harness/src/results/report.ts';
import { writeNightReports, REPORT_FILES } from '../../harness/src/results/reporters/index.ts';
import { FakeLab, fakeConfig, tmp, type Script, type FakeTest } from './nightly-fake.ts';

/**
 * Five tests per cell over four nights:
 *  steady      passes, passes, fails on every attempt (regression on night 3), fails (still failing)
 *  wobbly      passes, fails on the main run but passes 3 of 4 reruns (flaky), passes, passes
 *  broken      fails, fails, passes (fixed on night 3), passes
 *  known       an expected failure (XFAIL) every night
 *  crasher     passes; on night 2 it hits crash sigA (new), night 3 sigA again (known)
 *  fresh       only from night 3 on (new test)
 */
const script: Script = ({ night, role, pass }) => {
  const tests: FakeTest[] = [];
  tests.push({ name: 'steady', status: night >= 3 ? 'fail' : 'pass', durationMs: 1000 + night * 100 });
  const wobblyFails = night === 2 && (role === 'main' || pass === 0);
  tests.push({ name: 'wobbly', status: wobblyFails ? 'fail' : 'pass' });
  tests.push({ name: 'broken', status: night <= 2 ? 'fail' : 'pass' });
  tests.push({ name: 'known', status: 'fail', verdict: 'xfail' });
  tests.push({ name: 'crasher', status: 'pass', ...(night === 2 || night === 3 ? { crash: 'sigA' } : {}) });
  if (night >= 3) tests.push({ name: 'fresh', status: 'pass' });
  return tests;
};

async function night(lab: FakeLab, root: string, n: number, extra: Partial<Parameters<typeof runNight>[0]> = {}) {
  lab.night = n;
  const config = await fakeConfig();
  return runNight({ config, resultsRoot: root, jobs: 1, shard: null, nightId: `night-${n}`, progress: () => {}, now: lab.now, cores: 2, ...extra }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
}

const classes = (root: string, id: string) =>
  ResultsIndex.open(root).then((idx) => {
    try {
      const r = loadNightReport(idx, id);
      return { r, by: Object.fromEntries(r.tests.filter((x) => x.cellKey === 'stock.smoke.ext4.default').map((x) => [x.name, x])) };
    } finally {
      idx.close();
    }
  });

t.test('four nights: regression, flaky, fixed, new, still failing, XFAIL and crash signatures', async (t) => {
  const root = await tmp('nightly-run-');
  const lab = new FakeLab(script);

  await night(lab, root, 1);
  let { by, r } = await classes(root, 'night-1');
  t.equal(by.steady.cls, 'new', 'first night: everything is new');
  t.equal(by.known.cls, 'xfail');
  t.equal(r.crashes.length, 0);

  await night(lab, root, 2);
  ({ by, r } = await classes(root, 'night-2'));
  t.equal(by.wobbly.cls, 'flaky', 'failed once, passed 3 of 4 reruns');
  t.same(by.wobbly.attempts, { failed: 2, total: 5 }, 'main run + reruns counted');
  t.match(by.wobbly.detail, /^flaky 2\/5, 50% over 2 nights$/);
  t.equal(by.broken.cls, 'still-failing');
  t.equal(by.steady.cls, 'pass');
  t.equal(by.known.cls, 'xfail', 'an expected failure is never a regression');
  t.equal(r.crashes.length, 1);
  t.ok(r.crashes[0].isNew, 'sigA first seen on night 2 is new');
  t.equal(nightExitCode(r), 1, 'a new crash signature fails the night');
  const reruns2 = lab.calls.filter((c) => c.role === 'rerun');
  t.same(reruns2.map((c) => c.repeat), [4, 4], 'one rerun of each cell with wobbly in it, 4 repeats');

  await night(lab, root, 3);
  ({ by, r } = await classes(root, 'night-3'));
  t.equal(by.steady.cls, 'regression', 'passed on night 2, fails every rerun on night 3');
  t.match(by.steady.detail, /fails 5\/5 with reruns \(passed on night-2\)/);
  t.equal(by.broken.cls, 'fixed');
  t.equal(by.fresh.cls, 'new');
  t.equal(by.wobbly.cls, 'pass', 'a flake passing again is not "fixed"');
  t.equal(by.known.cls, 'xfail');
  t.notOk(r.crashes[0].isNew, 'sigA is known on night 3');
  t.equal(r.crashes[0].firstSeen, 'night-2');
  t.equal(r.crashes[0].lastSeen, 'night-2');
  t.equal(r.crashes[0].count, 20, 'every report counts: two cells × two nights × (main run + 4 reruns)');
  t.equal(r.crashes[0].nights, 2);
  t.equal(r.tests[0].cls, 'regression', 'regressions come first');

  await night(lab, root, 4);
  ({ by } = await classes(root, 'night-4'));
  t.equal(by.steady.cls, 'still-failing', 'a regression that stays is still failing the night after');
  t.match(by.wobbly.detail, /25% over 4 nights/, 'history rate of a flake that passes again');

  // --baseline compares with a chosen night instead of the previous one.
  lab.night = 5;
  await night(lab, root, 5, { baseline: 'night-1' });
  ({ by } = await classes(root, 'night-5'));
  t.equal(by.steady.cls, 'regression', 'against night 1 the steady failure is a regression again');
  t.equal(by.steady.baselineNight, 'night-1');
});

t.test('an interrupted night resumes without redoing finished cells', async (t) => {
  const root = await tmp('nightly-resume-');
  const lab = new FakeLab(() => [{ name: 'a', status: 'pass' }]);
  lab.interruptAt = 2;
  const config = await fakeConfig();
  const opts = { config, resultsRoot: root, jobs: 1, shard: null, progress: () => {}, now: lab.now, cores: 2 };
  const first = await runNight(opts, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  t.ok(first.interrupted);
  t.same(first.ran, ['stock.smoke.ext4.default']);
  t.equal(JSON.parse(await readFile(join(first.dir, 'night.json'), 'utf8')).status, 'interrupted');
  lab.calls = [];
  lab.tick = 90; // the same command again, later (no --night: it finds the unfinished night)
  const again = await runNight(opts, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  t.equal(again.nightId, first.nightId);
  t.same(again.skipped, ['stock.smoke.ext4.default']);
  t.same(lab.calls.map((c) => c.cell), ['stock.smoke.xfs.default'], 'only the unfinished cell runs');
  t.notOk(again.interrupted);
  const third = await runNight(opts, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  t.not(third.nightId, first.nightId, 'a finished night is not resumed: the next run is a new night');
});

t.test('--jobs 2 runs two guests at once with one vCPU each; kernels are prepared once, first', async (t) => {
  const root = await tmp('nightly-jobs-');
  const lab = new FakeLab(() => [{ name: 'a', status: 'pass' }]);
  const config = await fakeConfig({ kernels: [{ name: 'stock', stock: true }, { name: 'other', package: 'linux-image-x' }], suites: [{ name: 'smoke' }] });
  const cpus: number[] = [];
  const runCell: typeof lab.runCell = (p, h) => {
    cpus.push(h.cpus);
    t.equal(lab.kernelCalls, 2, 'both kernels prepared before any cell runs');
    return lab.runCell(p, h);
  };
  await runNight({ config, resultsRoot: root, jobs: 2, shard: null, progress: () => {}, now: lab.now, cores: 2 }, { runCell, prepareKernel: lab.prepareKernel });
  t.equal(lab.kernelCalls, 2, 'two kernels, each prepared once for its two cells');
  t.equal(lab.maxRunning, 2);
  t.same([...new Set(cpus)], [1]);
  t.equal(cpusPerGuest(2, 1), 2);
  t.equal(cpusPerGuest(2, 3), 1);
  t.equal(cpusPerGuest(8, 3), 2);
  const order: number[] = [];
  await pool([1, 2, 3, 4, 5], 2, async (n) => {
    order.push(n);
  });
  t.same(order, [1, 2, 3, 4, 5], 'cells start in matrix order');
});

const normalize = (s: string) => s.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'TIME');

t.test('shards run apart and merged report byte for byte like the unsharded night', async (t) => {
  const raw = { kernels: [{ name: 'stock', stock: true }, { name: 'other', package: 'linux-image-x' }], suites: [{ name: 'smoke' }], topologies: [{ name: 'default' }, { name: 'one-cpu', cpus: 1 }] };
  const run = async (root: string, shard: { index: number; count: number } | null, withHistory: boolean, clockOffset: number) => {
    const lab = new FakeLab(script);
    const config = await fakeConfig(raw);
    if (withHistory) {
      // The same history in every store: the night before, unsharded.
      lab.night = 1;
      await runNight({ config, resultsRoot: root, jobs: 1, shard: null, nightId: 'night-1', progress: () => {}, now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
    }
    lab.night = 2;
    lab.tick = clockOffset;
    return runNight({ config, resultsRoot: root, jobs: 2, shard, nightId: 'night-2', progress: () => {}, now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  };
  const whole = await tmp('nightly-whole-');
  await run(whole, null, true, 0);
  const shardRoots = [await tmp('nightly-s1-'), await tmp('nightly-s2-'), await tmp('nightly-s3-')];
  const shardDirs = [];
  for (const [i, root] of shardRoots.entries()) shardDirs.push((await run(root, { index: i + 1, count: 3 }, true, 7 * (i + 1))).dir);
  const cellsPerShard = await Promise.all(shardDirs.map(async (d) => (await readdir(join(d, 'cells'))).length));
  t.same(cellsPerShard.reduce((a, b) => a + b, 0), 8, 'the shards cover the 8 cells once');
  t.ok(cellsPerShard.every((n) => n >= 2), 'balanced slices');

  // The merge target holds the same history as the unsharded store.
  const merged = await tmp('nightly-merged-');
  const hist = new FakeLab(script);
  hist.night = 1;
  await runNight({ config: await fakeConfig(raw), resultsRoot: merged, jobs: 1, shard: null, nightId: 'night-1', progress: () => {}, now: hist.now, cores: 2 }, { runCell: hist.runCell, prepareKernel: hist.prepareKernel });
  const m = await mergeNights(shardDirs.reverse(), merged);
  t.same(m.missing, []);

  const reports = async (root: string) => {
    const idx = await ResultsIndex.open(root);
    try {
      const dir = join(root, 'nights', 'night-2');
      await writeNightReports(idx, 'night-2', dir);
      const out: Record<string, string> = {};
      for (const f of Object.values(REPORT_FILES)) out[f] = normalize(await readFile(join(dir, f), 'utf8'));
      return out;
    } finally {
      idx.close();
    }
  };
  const a = await reports(whole);
  const b = await reports(merged);
  for (const f of Object.values(REPORT_FILES)) t.equal(b[f], a[f], `${f} is the same`);
  t.match(a['summary.txt'], /flaky \(8\)/, 'the compared reports have content');
  await t.rejects(mergeNights([shardDirs[0], shardDirs[0]], await tmp('nightly-dup-')), /given twice/);
  const partial = await mergeNights([shardDirs[0]], await tmp('nightly-partial-'));
  t.equal(partial.missing.length, 2, 'missing shards are named');
});

const runStatuses = async (nightDirPath: string) => {
  const out: Record<string, string> = {};
  for (const id of await readdir(join(nightDirPath, 'runs'))) out[id] = JSON.parse(await readFile(join(nightDirPath, 'runs', id, 'run.json'), 'utf8')).status;
  return out;
};
const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

t.test('--jobs 2 interrupted: every running cell is cancelled, none is left running, the resume redoes only them', async (t) => {
  const root = await tmp('nightly-abort-');
  const lab = new FakeLab(() => [{ name: 'a', status: 'pass' }]);
  const config = await fakeConfig({ kernels: [{ name: 'stock', stock: true }, { name: 'other', package: 'linux-image-x' }], suites: [{ name: 'smoke' }] });
  lab.holdUntilAbort = new Set(['stock.smoke.xfs.default', 'other.smoke.ext4.default']);
  const stop = new AbortController();
  const opts = { config, resultsRoot: root, jobs: 2, shard: null, nightId: 'n', progress: () => {}, now: lab.now, cores: 2 };
  const night = runNight({ ...opts, signal: stop.signal }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  await until(() => lab.held === 2);
  t.equal(lab.running, 2, 'two guests running when the signal comes');
  stop.abort(new Error('interrupted by SIGINT'));
  const first = await night;
  t.ok(first.interrupted);
  t.same(first.ran, ['stock.smoke.ext4.default'], 'the cell that finished before is kept');
  t.equal(JSON.parse(await readFile(join(first.dir, 'night.json'), 'utf8')).status, 'interrupted');
  const st = await runStatuses(first.dir);
  t.notOk(Object.values(st).includes('running'), `no run left running: ${JSON.stringify(st)}`);
  t.equal(Object.values(st).filter((s) => s === 'interrupted').length, 2, 'both cancelled runs say interrupted');
  t.same((await readdir(join(first.dir, 'cells'))).sort(), ['stock.smoke.ext4.default.json'], 'a cancelled cell is not marked finished');
  t.equal(lab.calls.length, 3, 'no cell started after the signal');

  lab.holdUntilAbort.clear();
  lab.calls = [];
  const again = await runNight(opts, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  t.notOk(again.interrupted);
  t.same(again.skipped, ['stock.smoke.ext4.default']);
  t.same(lab.calls.map((c) => c.cell).sort(), ['other.smoke.ext4.default', 'other.smoke.xfs.default', 'stock.smoke.xfs.default']);
});

t.test('interrupted between a main run and its reruns: the cell is redone, not kept without its reruns', async (t) => {
  const root = await tmp('nightly-abort-rerun-');
  const lab = new FakeLab(({ night }) => [{ name: 'a', status: night === 2 ? 'fail' : 'pass' }]);
  const config = await fakeConfig({ kernels: [{ name: 'stock', stock: true }], suites: [{ name: 'smoke', modes: ['ext4'] }] });
  const base = { config, resultsRoot: root, jobs: 1, shard: null, progress: () => {}, now: lab.now, cores: 2 };
  await runNight({ ...base, nightId: 'n1' }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  lab.night = 2;
  const stop = new AbortController();
  const runCell: typeof lab.runCell = async (c, h) => {
    const out = await lab.runCell(c, h);
    stop.abort(new Error('interrupted by SIGTERM'));
    return out;
  };
  const cut = await runNight({ ...base, nightId: 'n2', signal: stop.signal }, { runCell, prepareKernel: lab.prepareKernel });
  t.ok(cut.interrupted);
  t.same(lab.calls.filter((c) => c.night === 2).map((c) => c.role), ['main'], 'no rerun started after the signal');
  t.same(cut.ran, []);
  const resumed = await runNight({ ...base, nightId: 'n2' }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  t.same(resumed.ran, ['stock.smoke.ext4.default']);
  const { by } = await classes(root, 'n2').then((x) => ({ by: Object.fromEntries(x.r.tests.map((y) => [y.name, y])) }));
  t.equal(by.a.cls, 'regression', 'judged with its reruns');
  t.same(by.a.attempts, { failed: 5, total: 5 });
});

t.test("a cell that cannot be prepared is not run; the night goes on and says why (into a results root made for it)", async (t) => {
  const root = join(await tmp('nightly-prep-'), 'results', 'not-yet');
  const lab = new FakeLab(() => [{ name: 'a', status: 'pass' }]);
  lab.failPrepare.add('stock.smoke.ext4.default');
  const out = await runNight({ config: await fakeConfig(), resultsRoot: root, jobs: 1, shard: null, progress: () => {}, now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  t.notOk(out.interrupted);
  t.same(out.ran, ['stock.smoke.xfs.default']);
  const cell = JSON.parse(await readFile(join(out.dir, 'cells', 'stock.smoke.ext4.default.json'), 'utf8'));
  t.equal(cell.status, 'not-run');
  t.match(cell.reason, /could not prepare the cell: image recipe for stock\.smoke\.ext4\.default did not build/);
  const idx = await ResultsIndex.open(root);
  try {
    t.equal(nightExitCode(loadNightReport(idx, out.nightId)), 3, 'the harness could not run a cell: exit 3');
  } finally {
    idx.close();
  }
});

t.test('bad input in any cell stops the night before anything is written or prepared', async (t) => {
  const root = await tmp('nightly-check-');
  const lab = new FakeLab(() => [{ name: 'a', status: 'pass' }]);
  const checkCell = async (c: { key: string }) => {
    if (c.key.includes('xfs')) throw new NightlyInputError(`cell ${c.key}: image recipe "x" not found`);
  };
  await t.rejects(runNight({ config: await fakeConfig(), resultsRoot: root, jobs: 1, shard: null, progress: () => {}, now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel, checkCell }), /cell stock\.smoke\.xfs\.default: image recipe/);
  t.equal(lab.kernelCalls, 0);
  t.same(await readdir(root), [], 'no night, no index');
});

t.test('SIGINT to a night running two guests: one handler cancels both, exit 130, the night resumable', async (t) => {
  const root = await tmp('nightly-sigint-');
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'nightly-signal-child.ts'), root, 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let second: unknown = null;
  child.stdout.on('data', async (d) => {
    out += String(d);
    if (!out.includes('held 2') || second) return;
    // The same night started again while its owner lives: refused, naming the owner, nothing run twice.
    const lab = new FakeLab(() => [{ name: 'a', status: 'pass' }]);
    const again = (nightId?: string) =>
      runNight({ config: fakeConfigSync!, resultsRoot: root, jobs: 2, shard: null, nightId, progress: () => {}, cores: 2 }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel }).then(
        () => 'ran',
        (e: Error) => e,
      );
    second = [await again('sig'), await again(), lab.kernelCalls];
    child.kill('SIGINT');
  });
  const fakeConfigSync = await fakeConfig();
  const [code, sig] = (await once(child, 'exit')) as [number | null, string | null];
  const [explicit, chosen, kernels] = second as [Error, Error, number];
  for (const e of [explicit, chosen]) {
    t.ok(e instanceof NightlyInputError, `a second owner is bad input (exit 2): ${e}`);
    t.match(e.message, new RegExp(`^night sig of \\S+ is being run by pid ${child.pid} on \\S+ since \\d{4}-`), 'one line naming the holder');
  }
  t.equal(kernels, 0, 'the refused night prepared nothing');
  t.equal(code, 130, `exit 130 (signal ${sig}); child said: ${out}`);
  const dir = join(root, 'nights', 'sig');
  t.equal(JSON.parse(await readFile(join(dir, 'night.json'), 'utf8')).status, 'interrupted');
  const st = await runStatuses(dir);
  t.same(Object.values(st), ['interrupted', 'interrupted'], 'both runs cancelled and saved as such before the exit');
  const again = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'nightly-signal-child.ts'), root, 'run'], { encoding: 'utf8' });
  t.equal(again.status, 0, again.stderr);
  t.match(again.stdout, /ran 2, skipped 0/);
  t.equal(JSON.parse(await readFile(join(dir, 'night.json'), 'utf8')).status, 'done');
});

t.test('a night whose owner was SIGKILLed is resumed at once by the next run', async (t) => {
  const root = await tmp('nightly-kill-');
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'nightly-signal-child.ts'), root, 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += String(d);
    if (out.includes('held 2')) child.kill('SIGKILL');
  });
  const [, sig] = (await once(child, 'exit')) as [number | null, string | null];
  t.equal(sig, 'SIGKILL');
  t.ok(await readdir(join(root, 'nights', '.owners')).then((l) => l.length === 1), 'its lease is left behind');
  const again = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'nightly-signal-child.ts'), root, 'run'], { encoding: 'utf8' });
  t.equal(again.status, 0, again.stderr);
  t.match(again.stdout, /ran 2, skipped 0/);
  t.equal(JSON.parse(await readFile(join(root, 'nights', 'sig', 'night.json'), 'utf8')).status, 'done');
  t.same(await readdir(join(root, 'nights', '.owners')), [], 'and released by its new owner');
});
