// Recorded runs and the bisections replayed from them (recording.ts), and
// the committed recordings in bench/recordings/: what `npm run bench:bisect`
// prints about them is asserted here.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../harness/src/host/paths.ts';
import { newBisection } from '../../harness/src/workflows/bisect/engine.ts';
import { Exhausted, RunSupply, checkRecording, decodeRun, encodeRun, recordFromStates, replayBisections, type Recording } from '../../harness/src/workflows/bisect/recording.ts';
import { synthesizeRecording } from '../../bench/bisect.ts';
import type { BisectState, RunOutcome } from '../../harness/src/workflows/bisect/types.ts';

const KEY = 'BUG: dax_insert_pfn_pmd';
const HEAD = { synthetic: true, note: 'test', series: 's.mbox', seriesHash: null, tests: ['smoke:ext4'], truth: 2 };

function state(builds: Record<string, string | null>, evidence: Record<string, { crashes: number; passes: number; boot?: number }>): BisectState {
  const s = newBisection({ direction: 'cause', steps: 3 });
  for (const [step, hash] of Object.entries(builds)) s.builds[step] = hash ? { ok: true, imageHash: hash, reason: 'built' } : { ok: false, imageHash: null, failure: 'build', reason: 'error' };
  for (const [hash, e] of Object.entries(evidence)) {
    s.evidence[hash] = { runs: e.crashes + e.passes, passes: e.passes, crashes: e.crashes ? { [KEY]: { title: 'kernel BUG in dax_insert_pfn_pmd', count: e.crashes } } : {}, failures: {}, bootFailures: e.boot ? { 'no ssh within 180 s': e.boot } : {}, infra: 0, infraStreak: 0, boots: 1, batches: 1 };
  }
  return s;
}

t.test('runs round-trip through their one-string form; infra errors are not recorded', async (t) => {
  const runs: RunOutcome[] = [{ kind: 'pass' }, { kind: 'crash', matchKey: 'BUG: a:b', title: 'kernel BUG in a' }, { kind: 'fail', reason: 'x: timeout' }, { kind: 'boot-fail', reason: 'no ssh' }];
  for (const o of runs) t.same(decodeRun(encodeRun(o)!, { 'BUG: a:b': 'kernel BUG in a' }), o);
  t.equal(encodeRun({ kind: 'infra', reason: 'qemu died' }), null);
  t.throws(() => decodeRun('reboot:x', {}), /not a recorded run/);
});

t.test('two bisections merged per step; twins share one kernel, failed builds none', async (t) => {
  const a = state({ p3: 'h3', p1: 'h1', p2: 'h1' }, { h3: { crashes: 2, passes: 1 }, h1: { crashes: 0, passes: 4 } });
  // The second bisection's builds hash differently (another build directory): still the same steps.
  const b = state({ p3: 'x3', p2: 'x1', p0: null }, { x3: { crashes: 1, passes: 2, boot: 1 }, x1: { crashes: 0, passes: 3 } });
  const rec = recordFromStates([{ dir: 'a', state: a }, { dir: 'b', state: b }], HEAD);
  t.same(rec.builds, { p1: { ok: true, kernel: 'p1', reason: 'built' }, p2: { ok: true, kernel: 'p1', reason: 'built' }, p3: { ok: true, kernel: 'p3', reason: 'built' }, p0: { ok: false, kernel: null, failure: 'build', reason: 'error' } });
  t.same(Object.keys(rec.kernels).sort(), ['p1', 'p3']);
  t.equal(rec.kernels['p3']!.filter((x) => x === `crash:${KEY}`).length, 3);
  t.equal(rec.kernels['p3']!.filter((x) => x === 'pass').length, 3);
  t.equal(rec.kernels['p3']!.filter((x) => x.startsWith('boot-fail:')).length, 1);
  t.equal(rec.kernels['p1']!.length, 7);
  t.same(rec.sources, ['a', 'b']);
  t.equal(rec.titles[KEY], 'kernel BUG in dax_insert_pfn_pmd');
  t.same(checkRecording(JSON.parse(JSON.stringify(rec)), 'r.json'), rec);
  t.throws(() => checkRecording({ format: 'x' }, 'r.json'), /r\.json is not a bisect recording/);
  t.throws(() => recordFromStates([{ dir: 'a', state: a }, { dir: 'c', state: state({ p3: null }, {}) }], HEAD), /built in one bisection and failed in another/);
});

t.test('a run supply hands each recorded run out once, then is exhausted', async (t) => {
  const rec = recordFromStates([{ dir: 'a', state: state({ p3: 'h3' }, { h3: { crashes: 1, passes: 2 } }) }], HEAD);
  const supply = new RunSupply(rec, 1);
  const got = [supply.take('p3'), supply.take('p3'), supply.take('p3')].map((o) => o.kind).sort();
  t.same(got, ['crash', 'pass', 'pass']);
  t.equal(supply.left('p3'), 0);
  let err: unknown;
  try {
    supply.take('p3');
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof Exhausted, String(err));
  t.match(String(err), /no more runs of kernel p3/);
});

const recordingFile = join(repoRoot, 'bench', 'recordings', 'synthetic-dax-refcount.json');

t.test('the synthetic recording is what its command makes', async (t) => {
  const committed = JSON.parse(readFileSync(recordingFile, 'utf8')) as Recording;
  t.equal(committed.synthetic, true, 'labelled synthetic');
  t.match(committed.note, /^SYNTHETIC: no guest ran these/);
  t.same(await synthesizeRecording({ bisections: 30, rate: 0.5, fill: 40, seed: 1 }), committed);
});

t.test('25 bisections replayed on independent runs: ours 25/25, git bisect with one run per step 13/25', async (t) => {
  const rec = checkRecording(JSON.parse(readFileSync(recordingFile, 'utf8')), recordingFile);
  const ours = await replayBisections(rec, { method: 'engine', seed: 1, max: 25 });
  const git = await replayBisections(rec, { method: 'git-bisect-1', seed: 1, max: 25 });
  t.equal(ours.done.length, 25, ours.stoppedBy);
  t.equal(git.done.length, 25, git.stoppedBy);
  t.equal(ours.right, 25);
  t.equal(ours.done.filter((d) => d.confident).length, 25);
  t.equal(git.right, 13);
  // Independence: together the replays used no more runs of any kernel than were recorded.
  const recorded = Object.values(rec.kernels).reduce((a, xs) => a + xs.length, 0);
  t.ok(ours.done.reduce((a, d) => a + d.runs, 0) <= recorded);
  // And they cannot go on for ever on them: the recording holds about 30 bisections' worth.
  const all = await replayBisections(rec, { method: 'engine', seed: 1, max: 1000 });
  t.ok(all.done.length < 40, `${all.done.length} bisections before the runs ran out (${all.stoppedBy})`);
  t.match(all.stoppedBy, /no more runs of kernel/);
});

t.test('every recording in bench/recordings: at least 20 replays each way, ours always right, git bisect less often', async (t) => {
  const dir = join(repoRoot, 'bench', 'recordings');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  t.ok(files.includes('synthetic-dax-refcount.json'));
  for (const f of files) {
    const rec = checkRecording(JSON.parse(readFileSync(join(dir, f), 'utf8')), f);
    t.not(rec.truth, null, `${f} says which patch is the one`);
    const ours = await replayBisections(rec, { method: 'engine', seed: 1, max: 20 });
    const git = await replayBisections(rec, { method: 'git-bisect-1', seed: 1, max: 20 });
    t.equal(ours.done.length, 20, `${f}: ${ours.stoppedBy}`);
    t.equal(git.done.length, 20, `${f}: ${git.stoppedBy}`);
    t.equal(ours.right, 20, `${f}: ours ${ours.right}/20`);
    t.ok(git.right! < 20, `${f}: git bisect with one run per step ${git.right}/20`);
    t.comment(`${f}${rec.synthetic ? ' (synthetic)' : ''}: ours ${ours.right}/20, git bisect 1 run/step ${git.right}/20`);
  }
});
