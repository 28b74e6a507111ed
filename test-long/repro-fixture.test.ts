// Long proof: the bisect fixture's crash report (patches/fixtures/) is
// reproduced on the fixture kernel, built here through the kernel pipeline
// when the cache does not have it (incremental over the dax,debug-vm base).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repro } from '../test/repro-cli.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

const fixtureArgs = ['--source', 'debian:6.1', '--series', join(repo, 'patches/fixtures/dax-refcount.mbox'), '--config', 'dax,debug-vm'];

t.test("the bisect fixture's crash report on the fixture kernel", async (t) => {
  const r = await repro([...fixtureArgs, '--seconds', '1', '--confirm', '5', '--budget', '20m', join(repo, 'patches/fixtures/dax-refcount-crash.eml')]);
  t.equal(r.code, 0, `reproduced:\n${r.out}`);
  const rec = JSON.parse(readFileSync(join(r.dir, 'repro.json'), 'utf8'));
  t.equal(rec.passes[0].test, 'pmd_pte_mix.ext4', 'the test the report names is tried first');
  // The race is flaky: another target of the same stressor may meet it first.
  t.match(rec.summary.found.test, /^pmd_pte_mix\./, `reproduced by the stressor the report names (${rec.summary.found.test})`);
  t.equal(rec.plan.reported.matchKey, 'WARNING|fs/dax.c||dax_disassociate_entry,__dax_invalidate_entry');
  t.ok(rec.summary.rate.n >= 6, `the rate is over the first reproduction and 5 more runs: ${rec.summary.rate.k}/${rec.summary.rate.n}`);
  t.ok(rec.summary.rate.k >= 1);
  t.match(r.out, /rate: {4}\d+\/\d+ \(\d+%, 95% CI \d+%-\d+%\) of pmd_pte_mix\.\S+'s runs/);
  t.comment(`fixture rate ${rec.summary.rate.k}/${rec.summary.rate.n}, first after ${Math.round(rec.summary.timeToFirstMs / 1000)} s`);
});
