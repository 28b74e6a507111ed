// Run ids are unique by construction: a collision (forced here by a fixed id
// maker) gets a new id, and neither run ever shares or loses a directory.
import t from 'tap';
import { mkdtempSync, readdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { claimRun, createRunDir } from '../../harness/src/results/store.ts';

const seq = (...ids: string[]) => {
  let i = 0;
  return () => ids[Math.min(i++, ids.length - 1)]!;
};

t.test('two runs drawing the same id: the second gets another, each keeps its own directories', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'daxh-runid-'));
  const results = join(base, 'results');
  const work = join(base, 'work');
  const a = await claimRun(results, { workRoot: work, makeId: seq('20261207-040000-abcd') });
  writeFileSync(join(a.workDir!, 'nvdimm0.img'), 'first run');
  const b = await claimRun(results, { workRoot: work, makeId: seq('20261207-040000-abcd', '20261207-040000-abcd', '20261207-040000-beef') });
  t.equal(a.id, '20261207-040000-abcd');
  t.equal(b.id, '20261207-040000-beef', 'retried until free');
  t.not(a.dir, b.dir);
  t.not(a.workDir, b.workDir);
  // The second run ends and cleans up as cell/ does: only its own work directory.
  await rm(b.workDir!, { recursive: true, force: true });
  t.equal(readFileSync(join(a.workDir!, 'nvdimm0.img'), 'utf8'), 'first run', "the first run's NVDIMM file survives");
  t.same(readdirSync(a.dir), ['tests']);
  t.same(readdirSync(join(a.workDir!, '.use')), [`${process.pid}@${hostname()}`], 'the work directory is leased to its run');
});

t.test('an id free in the results but taken in the work root (another results root) is not reused', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'daxh-runid-'));
  const work = join(base, 'work');
  const a = await claimRun(join(base, 'night1'), { workRoot: work, makeId: seq('x1') });
  const b = await claimRun(join(base, 'night2'), { workRoot: work, makeId: seq('x1', 'x2') });
  t.equal(b.id, 'x2');
  t.same(readdirSync(join(base, 'night2')), ['x2'], 'the abandoned claim left no directory behind');
  t.ok(existsSync(a.workDir!));
});

t.test('many runs claiming at once from a tiny id space all get distinct ids', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'daxh-runid-'));
  let n = 0;
  const claims = await Promise.all(Array.from({ length: 20 }, () => claimRun(join(base, 'r'), { workRoot: join(base, 'w'), makeId: () => `id${n++ % 25}` })));
  t.equal(new Set(claims.map((c) => c.id)).size, 20);
});

t.test('createRunDir refuses an existing directory instead of sharing it', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'daxh-runid-'));
  await createRunDir(base, 'same');
  await t.rejects(createRunDir(base, 'same'), { code: 'EEXIST' });
});

t.test('fails after 50 tries rather than looping forever', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'daxh-runid-'));
  await claimRun(base, { makeId: () => 'only' });
  await t.rejects(claimRun(base, { makeId: () => 'only' }), /no free run id|could not find a free run id/);
});

t.test('DAX_HARNESS_TEST_RUN_ID is the first draw only (the fault matrix forces collisions with it)', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'daxh-runid-'));
  process.env.DAX_HARNESS_TEST_RUN_ID = 'forced';
  t.teardown(() => delete process.env.DAX_HARNESS_TEST_RUN_ID);
  t.equal((await claimRun(base)).id, 'forced');
  t.match((await claimRun(base)).id, /^\d{8}-\d{6}-[0-9a-f]{4}$/, 'taken: a fresh id');
});
