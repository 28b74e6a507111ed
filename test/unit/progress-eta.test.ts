// The estimates behind the progress lines of long work: a kernel build's
// objects against the last build of that config, a night's cells against the
// mean of those finished, a bisection's steps against what a binary search
// over the candidates left still needs. And the build's history file.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectCounter, bisectStatus, buildStatus, cellsStatus, formatDuration, remainingMs, searchSteps } from '../../harness/src/host/eta.ts';
import { objectHistory, rememberObjects } from '../../harness/src/kernel/build.ts';
import { runNight } from '../../harness/src/workflows/nightly/index.ts';
import { FakeLab, fakeConfig, tmp } from './nightly-fake.ts';

t.test('formatDuration', async (t) => {
  t.equal(formatDuration(0), '0s');
  t.equal(formatDuration(44_600), '45s');
  t.equal(formatDuration(250_000), '4m10s');
  t.equal(formatDuration(3_900_000), '1h05m');
  t.equal(formatDuration(-5), '0s');
});

t.test('remainingMs: a steady pace, or nothing to say', async (t) => {
  t.equal(remainingMs(100, 400, 60_000), 180_000);
  t.equal(remainingMs(0, 400, 60_000), null, 'nothing done yet: no pace');
  t.equal(remainingMs(100, null, 60_000), null, 'no total');
  t.equal(remainingMs(400, 400, 60_000), null, 'done');
});

t.test("ObjectCounter: kbuild's CC and AS lines, in chunks cut anywhere", async (t) => {
  const out = [
    '  SYNC    include/config/auto.conf',
    '  CC      fs/dax.o',
    '  CC [M]  drivers/nvdimm/pmem.o',
    '  AS      arch/x86/entry/entry_64.o',
    '  LD [M]  drivers/nvdimm/nd_pmem.ko',
    '  CC      scripts/mod/empty.o',
    'fs/dax.c:12: warning: CC fs/x.o is not a kbuild line',
    '  AR      fs/built-in.a',
    '  CC      kernel/bounds.s',
    '',
  ].join('\n');
  for (const cut of [1, 7, 13, out.length]) {
    const c = new ObjectCounter();
    for (let i = 0; i < out.length; i += cut) c.push(out.slice(i, i + cut));
    t.equal(c.count, 4, `chunks of ${cut}`);
  }
  const crlf = new ObjectCounter();
  t.equal(crlf.push('  CC      a.o\r\n  CC      b.o'), 1, 'an unfinished line waits for its end');
  t.equal(crlf.push('\n'), 2);
});

t.test('buildStatus: an ETA from the last build, or say why there is none', async (t) => {
  t.equal(buildStatus({ done: 1000, expected: 4000, elapsedMs: 60_000 }), '1000/4000 objects (25%), ETA 3m00s');
  t.equal(buildStatus({ done: 0, expected: 4000, elapsedMs: 5_000 }), '0/4000 objects (0%)', 'no pace yet');
  t.equal(buildStatus({ done: 12, expected: null, elapsedMs: 5_000 }), '12 objects compiled (no ETA: no earlier build of this config to compare with)');
  t.equal(buildStatus({ done: 4100, expected: 4000, elapsedMs: 5_000 }), '4100 objects compiled, past the 4000 of the last build (ETA unknown)');
});

t.test('cellsStatus: N/M with an ETA from the mean of finished cells', async (t) => {
  t.equal(cellsStatus({ done: 0, total: 8, durationsMs: [], parallel: 1 }), '0/8 cells (no ETA until a cell has run)');
  t.equal(cellsStatus({ done: 2, total: 8, durationsMs: [60_000, 180_000], parallel: 1 }), '2/8 cells, ETA 12m00s (mean 2m00s a cell over 2)');
  t.equal(cellsStatus({ done: 2, total: 8, durationsMs: [60_000, 180_000], parallel: 2 }), '2/8 cells, ETA 6m00s (mean 2m00s a cell over 2)', 'two guests at a time');
  t.equal(cellsStatus({ done: 7, total: 8, durationsMs: [60_000], parallel: 4 }), '7/8 cells, ETA 1m00s (mean 1m00s a cell over 1)', 'one cell left runs alone');
  t.equal(cellsStatus({ done: 8, total: 8, durationsMs: [60_000], parallel: 1 }), '8/8 cells, all done');
});

t.test('bisectStatus: step k of about k + ⌈log2 n⌉ + 1, and what is known', async (t) => {
  t.same([1, 2, 3, 4, 5, 8, 9].map(searchSteps), [0, 1, 2, 2, 3, 3, 4]);
  t.equal(bisectStatus({ step: 1, lo: 0, hi: 8, unit: 'patch' }), 'step 1 of about 5: the change is one of patches 1..8 (8 left)');
  t.equal(bisectStatus({ step: 3, lo: 4, hi: 6, unit: 'commit' }), 'step 3 of about 5: the change is one of commits 5..6 (2 left)');
  t.equal(bisectStatus({ step: 5, lo: 4, hi: 5, unit: 'patch' }), 'step 5 of about 6: the change is patch 5; verifying it');
});

t.test("a build's object count is remembered beside it, cold and incremental apart", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-objs-'));
  t.equal(await objectHistory(dir, false), null, 'no history: no ETA');
  await rememberObjects(dir, false, 4321);
  await rememberObjects(dir, true, 12);
  await rememberObjects(dir, true, 0);
  t.equal(await objectHistory(dir, false), 4321);
  t.equal(await objectHistory(dir, true), 12, 'a build that compiled nothing does not erase the count');
});

t.test("wired: a night's cell lines end with N/M and the ETA", async (t) => {
  const root = await tmp('nightly-eta-');
  const lab = new FakeLab(() => [{ name: 'a', status: 'pass' }]);
  lab.failPrepare.add('stock.smoke.ext4.default');
  const lines: string[] = [];
  await runNight({ config: await fakeConfig(), resultsRoot: root, jobs: 1, shard: null, progress: (l) => lines.push(l), now: lab.now, cores: 2 }, { runCell: lab.runCell, prepareKernel: lab.prepareKernel });
  const ends = lines.filter((l) => / · \d+\/\d+ cells/.test(l));
  t.equal(ends.length, 2, lines.join('\n'));
  t.match(ends[0], /^stock\.smoke\.ext4\.default: NOT RUN — .* · 1\/2 cells \(no ETA until a cell has run\)$/);
  t.match(ends[1], /^stock\.smoke\.xfs\.default: PASS · 2\/2 cells, all done$/);
});
