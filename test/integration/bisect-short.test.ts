// `dax-harness bisect` in real guests, short: three patches of the fixture
// series (the documentation patch, the refcount leak, the cleanup after it)
// on Debian's 6.1, at --confidence 0.8 so that a clean verdict needs 10 runs.
// The leak must be named and verified both ways: its parent (the
// documentation patch) and the series without it are clean. The whole
// fixture (unbuildable and no-op patches too) is test-long/bisect-fixture.
// 3 s of stressing per run: a run costs ~3 s of setup whatever its length, and
// at 1 s the race showed in 5-10% of runs on a quiet host, so each clean
// verdict took ~50 runs (bisect-short alone 18-22 min from an empty cache).
// At 3 s it showed in 8 of 17 runs, clean verdicts took 10-12 runs, and the
// test took 4.5 min with its four kernels cached.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../harness/src/host/paths.ts';
import { parseLog } from '../../harness/src/oracle/index.ts';
import type { BisectRecord } from '../../harness/src/results/records.ts';

const fixtures = join(repoRoot, 'patches', 'fixtures');

/** Patches 6–8 of the fixture mbox, renumbered 1–3 as a series of their own. */
function subset(dir: string): string {
  const mails = readFileSync(join(fixtures, 'dax-refcount.mbox'), 'utf8').split(/^(?=From [0-9a-f]{40} )/m);
  const picked = [6, 7, 8].map((n, i) => {
    const m = mails.find((x) => x.includes(`Subject: [PATCH ${n}/8]`));
    if (!m) throw new Error(`patch ${n} not in the fixture mbox`);
    return m.replace(`Subject: [PATCH ${n}/8]`, `Subject: [PATCH ${i + 1}/3]`);
  });
  const p = join(dir, 'subset.mbox');
  writeFileSync(p, picked.join(''));
  return p;
}

t.test('three patches: the leak named and verified both ways', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'daxh-bisect-short-'));
  const args = ['bisect', '--series', subset(work), '--config', 'dax,debug-vm', '--test', 'stressors:pmd_pte_mix.ext4', '--seconds', '3', '--confidence', '0.8', '--results', work, '--json'];
  const child = spawn(process.execPath, [join(repoRoot, 'harness', 'bin', 'dax-harness.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  createInterface({ input: child.stderr }).on('line', (l) => {
    if (!/\s\[(boot|run|prepare|kernel|test)\] /.test(l)) t.comment(l);
  });
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  const r = JSON.parse(out) as BisectRecord;
  t.equal(code, 0, `exit 0: ${r.reason}`);
  t.match(r, { status: 'culprit', confident: true, culprit: { number: 2, subject: 'dax: do not redo a PMD insert that a racing fault completed' } });
  t.same(r.verification?.parent, { step: 'p1', expected: 'clean', verdict: 'clean', ok: true }, 'its parent (the documentation patch on the base) is clean');
  t.same(r.verification?.leaveOut, { step: 'w2', expected: 'clean', verdict: 'clean', ok: true }, 'the series without it is clean');
  const mailed = parseLog(readFileSync(join(fixtures, 'dax-refcount-crash.eml'), 'utf8'))[0];
  t.equal(r.bad.matchKey, mailed?.matchKey, 'bad = the crash the tester mailed');
  t.equal(r.crashes.culprit?.matchKey, r.crashes.badEnd?.matchKey);
  t.equal(r.used.builds, 4, 'the end, the midpoint, the culprit and the leave-out');
  t.comment(`used ${r.used.builds} builds, ${r.used.boots} boots, ${r.used.runs} runs; rate ${r.rate.hits}/${r.rate.trials}; confidence ${r.confidence.toFixed(3)}`);
});
