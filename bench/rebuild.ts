// bench/rebuild: a cold kernel build against the edit-fs/dax.c → rebuild
// loop, through the harness (so its own overhead is in the figure). The spine
// owner adds boot + DAX smoke to the loop; the goal for the whole loop is
// ≤ 0.08 of a cold build.
//
//   node --import tsx bench/rebuild.ts [--skip-cold] [--series PATH] [--config dax]
import { parseArgs } from 'node:util';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir, repoRoot } from '../harness/src/host/paths.js';
import { readJson, writeJsonAtomic } from '../harness/src/host/fsutil.js';
import { planKernel, prepareKernel, type PrepareKernelOptions } from '../harness/src/kernel/index.js';

const { values } = parseArgs({
  options: {
    'skip-cold': { type: 'boolean' },
    series: { type: 'string' },
    config: { type: 'string' },
    source: { type: 'string' },
  },
  strict: true,
});

const opts: PrepareKernelOptions = {
  source: values.source ?? 'debian:6.1',
  series: values.series ?? join(repoRoot, 'patches', 'fixtures', 'dax-fixture.mbox'),
  config: (values.config ?? 'dax').split(','),
  log: (l) => process.stderr.write(`  ${l}\n`),
};
const coldFile = cacheDir('bench', 'rebuild-cold.json');

let coldS: number;
if (values['skip-cold']) {
  const prev = await readJson<{ coldS: number; at: string }>(coldFile).catch(() => null);
  if (!prev) {
    process.stderr.write('bench/rebuild: no earlier cold figure — run once without --skip-cold\n');
    process.exit(1);
  }
  coldS = prev.coldS;
  process.stderr.write(`cold build: ${coldS.toFixed(1)} s (measured ${prev.at})\n`);
} else {
  process.stderr.write('cold build (empty O= directory)…\n');
  const t0 = Date.now();
  await prepareKernel({ ...opts, force: true, freshBuildDir: true });
  coldS = (Date.now() - t0) / 1000;
  await writeJsonAtomic(coldFile, { coldS, at: new Date().toISOString() });
}

const plan = await planKernel(opts);
const now = new Date();
await utimes(join(plan.worktree, 'fs', 'dax.c'), now, now);
process.stderr.write('touch fs/dax.c → rebuild…\n');
const t1 = Date.now();
const a = await prepareKernel({ ...opts, force: true });
const rebuildS = (Date.now() - t1) / 1000;

const ratio = rebuildS / coldS;
const result = { coldS, rebuildS, makeS: a.build!.makeMs / 1000, ratio, goal: 0.08, release: a.release, key: a.key, at: new Date().toISOString() };
await writeJsonAtomic(cacheDir('bench', 'rebuild.json'), result);
process.stdout.write(
  `cold build            ${coldS.toFixed(1)} s\n` +
    `touch fs/dax.c+build  ${rebuildS.toFixed(1)} s  (make ${result.makeS.toFixed(1)} s)\n` +
    `ratio                 ${ratio.toFixed(3)}  (goal for build+boot+smoke ≤ 0.08)\n`,
);
