// Real nights on the default guest (stock kernel, initramfs, one labelled
// NVDIMM, TCG) through the run primitive and the kernel prepared once a night:
// the smoke on ext4 and xfs, two guests at once. Every outcome has a real
// cause in the guest's kernel, made with our fault module (daxh_fault):
//   xfs, every night    a refcount_t underflow while the guest is up: setup.fsdax
//                       crashes, which a known-outcome file expects (XFAIL); a
//                       signature new on night 1, known after
//   ext4, night 2       a WARNING at every boot (daxh.fault=warn): the boot step
//                       passed on night 1 and fails on each of its reruns (regression),
//                       a crash signature never seen before (new)
//   ext4, night 3       no boot fault (the boot is fixed); a WARNING while the guest
//                       is up on the main run only: setup.fsdax fails one time in
//                       three with its reruns (flaky)
// Night 3 is interrupted once the xfs cell has finished, with the ext4 guest
// running, and resumed: only the ext4 cell runs again.
import t from 'tap';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNightConfig } from '../../harness/src/workflows/nightly/config.ts';
import { runNight } from '../../harness/src/workflows/nightly/index.ts';
import { primitiveRunCell, prepareKernelOnce, checkCellInputs, kernelFault } from '../../harness/src/workflows/nightly/run-cell.ts';
import { ResultsIndex } from '../../harness/src/results/db.ts';
import { writeNightReports } from '../../harness/src/results/reporters/index.ts';
import { loadFaults, triggerFault } from './faults.ts';
import type { RunCell } from '../../harness/src/workflows/nightly/plan.ts';

const root = await mkdtemp(join(tmpdir(), 'daxh-nightly-'));
const cfgDir = await mkdtemp(join(tmpdir(), 'daxh-nightly-cfg-'));
// pass|crash: a known race's form, so the ext4 cell's setup, which passes, is no XPASS.
await writeFile(join(cfgDir, 'known.txt'), 'smoke:setup.fsdax  *  pass|crash  /refcount/  the xfs cell underflows a refcount on purpose\n');
const config = await parseNightConfig(
  { kernels: [{ name: 'stock', stock: true }], suites: [{ name: 'smoke', modes: ['ext4', 'xfs'] }], accel: 'tcg', rerunFailures: 2, known: ['known.txt'] },
  join(cfgDir, 'tiny.yaml'),
  'tiny',
);
const E = 'stock.smoke.ext4.default';
const X = 'stock.smoke.xfs.default';

let night = 0;
/** Guests started per cell in the current invocation: the first is the main run. */
let started = new Map<string, number>();
const faultAtReady = new Map<string, string>();
const real = primitiveRunCell({
  bootTimeoutMs: 240_000,
  onReady: async (cell, session, kernel) => {
    const action = faultAtReady.get(cell.key);
    if (!action) return;
    await loadFaults(session.guest, kernel);
    const r = await triggerFault(session.guest, action);
    if (r.exitCode !== 0) throw new Error(`daxh_fault ${action}: ${r.stderr}`);
  },
});
const faulty: RunCell = (cell, hooks) => {
  const n = (started.get(cell.key) ?? 0) + 1;
  started.set(cell.key, n);
  const main = n === 1;
  if (cell.key === X) faultAtReady.set(X, 'refcount');
  if (cell.key === E) {
    if (night === 3 && main) faultAtReady.set(E, 'warn');
    else faultAtReady.delete(E);
  }
  const bootFault = cell.key === E && night === 2;
  return real(bootFault ? { ...cell, cmdlineExtra: [...cell.cmdlineExtra, 'daxh.fault=warn'] } : cell, hooks);
};

async function runOne(n: number, opts: { signal?: AbortSignal; onProgress?: (m: string) => void } = {}) {
  night = n;
  started = new Map();
  return runNight(
    {
      config, resultsRoot: root, jobs: 2, shard: null, nightId: `night-${n}`, cores: 2, signal: opts.signal,
      progress: (m) => {
        process.stderr.write(`[night ${n}] ${m}\n`);
        opts.onProgress?.(m);
      },
    },
    { runCell: faulty, prepareKernel: prepareKernelOnce, checkCell: checkCellInputs, kernelFault },
  );
}

const report = async (n: number) => {
  const idx = await ResultsIndex.open(root);
  try {
    const r = await writeNightReports(idx, `night-${n}`, join(root, 'nights', `night-${n}`));
    return { r, by: (cell: string, name: string) => r.tests.find((x) => x.cellKey === cell && x.name === name)! };
  } finally {
    idx.close();
  }
};

const runStatuses = async (n: number) => {
  const dir = join(root, 'nights', `night-${n}`, 'runs');
  return Promise.all((await readdir(dir)).map(async (id) => JSON.parse(await readFile(join(dir, id, 'run.json'), 'utf8')).status as string));
};

t.test('three real nights: XFAIL, regression, new crash signature, fixed, flaky; an interrupted night resumed', async (t) => {
  const n1 = await runOne(1);
  t.same(n1.ran.sort(), [E, X]);
  let { by, r } = await report(1);
  t.equal(by(E, 'boot').verdicts[0], 'pass', 'the real guest booted clean');
  t.equal(by(E, 'setup.fsdax').cls, 'new');
  t.equal(by(E, 'dax-smoke').cls, 'new');
  t.equal(by(X, 'setup.fsdax').cls, 'xfail', `the refcount underflow is expected: ${by(X, 'setup.fsdax').reason}`);
  t.match(by(X, 'setup.fsdax').reason, /refcount/);
  t.equal(by(X, 'dax-smoke').cls, 'new', 'the tests after it still ran');

  await runOne(2);
  ({ by, r } = await report(2));
  const boot = by(E, 'boot');
  t.equal(boot.cls, 'regression', `${boot.detail}: ${boot.reason}`);
  t.same(boot.attempts, { failed: 3, total: 3 }, 'the main boot and two rebooted reruns all warned');
  t.match(boot.reason, /WARNING in daxh_fault_warn/);
  const warn = r.crashes.find((c) => c.title === 'WARNING in daxh_fault_warn');
  t.ok(warn?.isNew, 'a crash signature never seen before is new');
  t.notOk(r.crashes.find((c) => /refcount/.test(c.title))?.isNew, "the xfs cell's refcount report is known from night 1");
  t.equal(by(X, 'setup.fsdax').cls, 'xfail', 'an expected failure never counts as a regression');
  t.equal(by(E, 'setup.fsdax').cls, 'pass');

  // Night 3, interrupted once the xfs cell is done and the ext4 guest still runs.
  const stop = new AbortController();
  const cut = await runOne(3, {
    signal: stop.signal,
    onProgress: (m) => {
      if (/^stock\.smoke\.xfs\.default: [A-Z-]+( —|$)/.test(m)) stop.abort(new Error('interrupted by SIGINT'));
    },
  });
  t.ok(cut.interrupted, 'the night knows it was interrupted');
  t.same(cut.ran, [X], 'the xfs cell finished before the interrupt');
  t.notOk((await runStatuses(3)).includes('running'), 'no run is left running');
  t.ok((await runStatuses(3)).includes('interrupted'), "the ext4 guest's run says it was interrupted");
  const resumed = await runOne(3);
  t.same(resumed.skipped, [X], 'the finished cell is not redone');
  t.same(resumed.ran, [E], 'only the interrupted cell runs again');
  t.same([...started.keys()], [E]);

  ({ by, r } = await report(3));
  t.equal(by(E, 'boot').cls, 'fixed', 'the boot fails no more');
  const setup = by(E, 'setup.fsdax');
  t.equal(setup.cls, 'flaky', `${setup.detail}: ${setup.reason}`);
  t.same(setup.attempts, { failed: 1, total: 3 }, 'one failure in three: the main run, then two clean passes');
  t.match(setup.detail, /^flaky 1\/3, 33% over 3 nights$/);
  t.equal(r.counts.regression, 0, 'a flake is not a regression');
  const refcount = r.crashes.find((c) => /refcount/.test(c.title));
  t.same([refcount?.isNew, refcount?.firstSeen, refcount?.lastSeen, refcount?.nights], [false, 'night-1', 'night-2', 3], 'a known signature: first and last seen, nights');
  t.equal(by(X, 'setup.fsdax').cls, 'xfail');
  const junit = await readFile(join(root, 'nights', 'night-3', 'junit.xml'), 'utf8');
  t.match(junit, /<testsuite name="stock\.smoke\.ext4\.default"/);
});
