// bench/rebuild: a cold kernel build against the developer's loop — edit
// fs/dax.c → rebuild → boot → DAX smoke — through the harness (so its own
// overhead is in the figure). Goal: the loop ≤ 0.08 of a cold build.
//
//   node --import tsx bench/rebuild.ts [--skip-cold] [--series PATH] [--config dax]
import { parseArgs } from 'node:util';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir, repoRoot } from '../harness/src/host/paths.js';
import { readJson, writeJsonAtomic } from '../harness/src/host/fsutil.js';
import { planKernel, prepareKernel, type PrepareKernelOptions } from '../harness/src/kernel/index.js';
import { runWorkflow } from '../harness/src/workflows/run.js';
import { defaultTopology } from '../harness/src/vm/topology.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

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

process.stderr.write('boot + DAX smoke on ext4 and xfs…\n');
const t2 = Date.now();
const { record } = await runWorkflow({
  kernel: { kind: 'artifact', artifact: a },
  image: 'initramfs',
  topology: defaultTopology,
  resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-bench-')),
  filesystems: ['ext4', 'xfs'],
  seconds: 0,
  seed: 1,
  bootTimeoutMs: 300000,
  cmdlineExtra: [],
  progress: () => {},
});
const smokeS = (Date.now() - t2) / 1000;
if (record.status !== 'pass') process.stderr.write(`warning: the smoke did not pass (${record.status}: ${record.reason})\n`);
const loopS = rebuildS + smokeS;
const ratio = loopS / coldS;
const result = { coldS, rebuildS, makeS: a.build!.makeMs / 1000, smokeS, loopS, ratio, goal: 0.08, release: a.release, key: a.key, at: new Date().toISOString() };
await writeJsonAtomic(cacheDir('bench', 'rebuild.json'), result);
process.stdout.write(
  `cold build                 ${coldS.toFixed(1)} s\n` +
    `touch fs/dax.c → rebuild   ${rebuildS.toFixed(1)} s  (make ${result.makeS.toFixed(1)} s)\n` +
    `boot + smoke (ext4, xfs)   ${smokeS.toFixed(1)} s  (${record.status}, guest ready in ${((record.bootMs ?? 0) / 1000).toFixed(1)} s)\n` +
    `loop / cold                ${ratio.toFixed(3)}  (goal ≤ 0.08)\n`,
);
