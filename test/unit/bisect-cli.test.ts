// `dax-harness bisect`: bad input is one line and exit 2 before anything is
// built; with an injected (simulated) environment the command writes
// bisect.json, summary.txt and a state.json that --resume continues from.
import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bisectCommand } from '../../harness/src/cli/bisect.ts';
import { SimEnv, rng, type Scenario } from '../../harness/src/workflows/bisect/simulate.ts';
import type { MakeEnv } from '../../harness/src/workflows/bisect/workflow.ts';
import { BisectEnvironmentError } from '../../harness/src/workflows/bisect/environment.ts';
import type { BisectRecord } from '../../harness/src/results/records.ts';
import type { RunOutcome, StepSpec } from '../../harness/src/workflows/bisect/types.ts';

async function cli(args: string[], makeEnv?: MakeEnv) {
  let out = '';
  let err = '';
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    const code = await bisectCommand(args, makeEnv ? { makeEnv } : {});
    return { code, out, err };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

function mbox(dir: string, k: number): string {
  const mails = Array.from({ length: k }, (_, i) =>
    [
      'From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001',
      `From: Dev ${i + 1} <dev${i + 1}@example.org>`,
      'Date: Thu, 2 Jan 2025 10:00:00 +0000',
      `Message-Id: <20250102.${i + 1}@example.org>`,
      `Subject: [PATCH ${i + 1}/${k}] dax: step ${i + 1}`,
      '',
      `Change ${i + 1}.`,
      '',
      `diff --git a/fs/dax.c b/fs/dax.c\nindex 1111111..2222222 100644\n--- a/fs/dax.c\n+++ b/fs/dax.c\n@@ -10,3 +10,4 @@ static int x;\n a\n \n+b${i}\n c`,
      '',
    ].join('\n'),
  );
  const p = join(dir, 'series.mbox');
  writeFileSync(p, mails.join('\n'));
  return p;
}

function scenario(k: number, culprit: number): Scenario {
  const none = Array<boolean>(k + 1).fill(false);
  return { k, direction: 'cause', culprit, endRate: 0.4, rateFactor: Array<number>(k + 1).fill(1), noop: none.map((_, i) => i === 2), unbuildable: none.map((_, i) => i === 6 && i < k), unbootable: none, needsPrev: none, noise: [], failRate: 0, infraRate: 0, flakyBootRate: 0 };
}

const simEnv = (culprit: number, seed = 1): MakeEnv => (plan) => new SimEnv(scenario(plan.input.patches.length, culprit), rng(seed));

const work = mkdtempSync(join(tmpdir(), 'daxh-bisect-'));
const series = mbox(work, 8);

t.test('bad input: one line, exit 2, nothing written', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    ['nothing to bisect', ['--test', 'smoke:ext4'], /nothing to bisect: give --series/],
    ['unknown option', ['--frob'], /unknown option '--frob'/],
    ['series does not exist', ['--series', '/no/such.mbox', '--test', 'smoke:ext4'], /series \/no\/such\.mbox does not exist/],
    ['series and range', ['--series', series, '--good', 'a', '--bad', 'b', '--test', 'smoke:ext4'], /bisect either a series or a git range/],
    ['half a range', ['--good', 'v6.1', '--source', work, '--test', 'smoke:ext4'], /--bad is missing/],
    ['range without a tree', ['--good', 'a', '--bad', 'b', '--test', 'smoke:ext4'], /need --source PATH/],
    ['range in a package', ['--good', 'a', '--bad', 'b', '--source', 'debian:6.1', '--test', 'smoke:ext4'], /need --source PATH, a git tree/],
    ['no test', ['--series', series], /--test is required/],
    ['unknown suite', ['--series', series, '--test', 'ltp:mmap1'], /suite before ':' must be smoke, stressors or ndctl/],
    ['smoke on btrfs', ['--series', series, '--test', 'smoke:btrfs'], /the smoke runs on ext4 or xfs/],
    ['unknown stressor', ['--series', series, '--test', 'stressors:nosuch'], /unknown stressor test "nosuch"/],
    ['two suites', ['--series', series, '--test', 'smoke:ext4', '--test', 'pmd_pte_mix'], /tests of one suite/],
    ['ndctl without a tree', ['--series', series, '--test', 'ndctl:dax.sh'], /needs --ndctl PATH/],
    ['confidence out of range', ['--series', series, '--test', 'smoke:ext4', '--confidence', '1.5'], /--confidence "1.5" must be a number from 0.5/],
    ['too few runs', ['--series', series, '--test', 'smoke:ext4', '--max-runs', '5'], /below the 10 clean runs/],
    ['not a number', ['--series', series, '--test', 'smoke:ext4', '--max-boots', 'lots'], /--max-boots "lots" is not a whole number/],
    ['match and any-crash', ['--series', series, '--test', 'smoke:ext4', '--match', 'k', '--any-crash'], /give one of them/],
    ['seconds on the smoke', ['--series', series, '--test', 'smoke:ext4', '--seconds', '5'], /--seconds goes with tests of stressors/],
    ['resume from nowhere', ['--resume', join(work, 'nope')], /holds no state\.json/],
    ['resume with inputs', ['--resume', work, '--series', series], /--resume takes what to bisect from its state\.json: drop --series/],
  ];
  for (const [name, args, re] of cases) {
    const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
    const r = await cli([...args, ...(args.includes('--resume') ? [] : ['--results', results])], () => {
      throw new Error(`${name}: the environment was asked for`);
    });
    t.equal(r.code, 2, `${name}: exit 2 (${r.err.trim()})`);
    const lines = r.err.trim().split('\n');
    t.equal(lines.length, 1, `${name}: one line`);
    t.match(lines[0], /^dax-harness bisect: /);
    t.match(lines[0], re, name);
    t.same(readdirSync(results), [], `${name}: nothing written`);
  }
});

t.test('--help is the manual', async (t) => {
  const r = await cli(['--help']);
  t.equal(r.code, 0);
  for (const w of ['--series MBOX|DIR', '--good REF --bad REF', '--reverse', '--any-crash', '--any-failure', '--resume DIR', '--max-boots', 'Exit codes']) t.match(r.out, w);
});

t.test('an environment that cannot start: exit 3, one line, nothing left behind', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  const broken: MakeEnv = () => {
    throw new BisectEnvironmentError('no QEMU on this host');
  };
  const r = await cli(['--series', series, '--test', 'smoke:ext4', '--results', results], broken);
  t.equal(r.code, 3);
  t.equal(r.err, 'dax-harness bisect: no QEMU on this host\n');
  t.same(readdirSync(results), []);
});

t.test('a series bisected through the command: bisect.json, summary, state', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  const r = await cli(['--series', series, '--test', 'smoke:ext4', '--results', results], simEnv(5));
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^first bad: patch 5\/8 "dax: step 5"/);
  t.match(r.out, /author\s+Dev 5 <dev5@example\.org>/);
  t.match(r.out, /link\s+https:\/\/lore\.kernel\.org\/r\/20250102\.5@example\.org/);
  t.match(r.err, /confidence \d\.\d{3}/);
  const [dir] = readdirSync(results);
  const rec = JSON.parse(readFileSync(join(results, dir!, 'bisect.json'), 'utf8')) as BisectRecord;
  t.match(rec, { status: 'culprit', confident: true, culprit: { number: 5, subject: 'dax: step 5' }, input: { kind: 'series', patches: 8, tests: ['smoke:ext4'] } });
  t.ok(existsSync(join(results, dir!, 'summary.txt')));
  t.ok(existsSync(join(results, dir!, 'state.json')));
  t.ok(rec.steps.length >= 3 && rec.used.builds >= 3);
});

t.test("a culprit no check can verify because of the tree's shape: exit 4, not 1", async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  // Patch 5 plants the bug (every other run crashes); every later patch sits on its lines: the
  // series without it does not apply and its revert conflicts.
  const shaped: MakeEnv = () => {
    const runs = new Map<string, number>();
    const has5 = (s: StepSpec) => s.kind === 'prefix' && s.count >= 5;
    return {
      build: async (s) => (s.kind === 'prefix' ? { ok: true, imageHash: `k${Math.min(s.count, 5)}${s.count}`, reason: 'built' } : { ok: false, imageHash: null, failure: 'apply', reason: `${s.kind} of patch ${s.patch}: patch 6 touches its lines` }),
      test: async (s, n) => {
        const key = JSON.stringify(s);
        const outcomes: RunOutcome[] = [];
        while (outcomes.length < n) {
          const i = runs.get(key) ?? 0;
          runs.set(key, i + 1);
          outcomes.push(has5(s) && i % 2 === 0 ? { kind: 'crash', matchKey: 'BUG: dax', title: 'kernel BUG in dax' } : { kind: 'pass' });
        }
        return { outcomes, boots: 1 };
      },
    };
  };
  const r = await cli(['--series', series, '--test', 'smoke:ext4', '--results', results, '--max-runs', '15'], shaped);
  t.equal(r.code, 4, r.err);
  t.match(r.out, /^first bad, NOT verified \(the tree's shape\): patch 5\/8 "dax: step 5"/);
  const [dir] = readdirSync(results);
  const rec = JSON.parse(readFileSync(join(results, dir!, 'bisect.json'), 'utf8')) as BisectRecord;
  t.match(rec, { status: 'unverifiable', confident: false, culprit: { number: 5 }, verification: { by: null } });
  t.same(rec.verification!.attempts!.map((a) => [a.check, a.verdict]), [['leave-out', 'does-not-apply'], ['revert', 'does-not-apply'], ['isolation', 'pending']]);
  const help = await cli(['--help']);
  t.match(help.out, /^  4 +a culprit named at the target confidence, but no check could verify it because of the tree's shape/m);
});

t.test('a budget stop resumes where it left off', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  const first = await cli(['--series', series, '--test', 'smoke:ext4', '--results', results, '--max-builds', '2'], simEnv(5));
  t.equal(first.code, 1);
  t.match(first.out, /no patch named \(budget\)/);
  t.match(first.out, /continue: dax-harness bisect --resume /);
  const [dir] = readdirSync(results);
  const before = JSON.parse(readFileSync(join(results, dir!, 'state.json'), 'utf8'));
  t.equal(before.state.used.builds, 2);
  const second = await cli(['--resume', join(results, dir!), '--max-builds', '50'], simEnv(5, 2));
  t.equal(second.code, 0, second.err);
  t.match(second.out, /first bad: patch 5\/8/);
  const rec = JSON.parse(readFileSync(join(results, dir!, 'bisect.json'), 'utf8')) as BisectRecord;
  const built = rec.log.filter((e) => e.action === 'build').map((e) => e.step);
  t.same(built, [...new Set(built)], 'no step built twice');
  t.same(built.slice(0, 2), before.state.log.filter((e: { action: string }) => e.action === 'build').map((e: { step: string }) => e.step));
});

t.test('a git range: commits as steps, ancestry checked, --reverse swaps the ends', async (t) => {
  const repo = join(work, 'linux');
  mkdirSync(join(repo, 'arch/x86'), { recursive: true });
  mkdirSync(join(repo, 'scripts/kconfig'), { recursive: true });
  mkdirSync(join(repo, 'fs'), { recursive: true });
  for (const f of ['Makefile', 'Kbuild', 'arch/x86/Kconfig', 'scripts/kconfig/merge_config.sh', 'fs/dax.c']) writeFileSync(join(repo, f), `${f}\n`);
  const git = (...a: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=T', '-c', 'user.email=t@example.org', ...a], { encoding: 'utf8' }).trim();
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'base');
  for (let i = 1; i <= 6; i++) {
    writeFileSync(join(repo, 'fs/dax.c'), `v${i}\n`);
    git('commit', '-qam', `dax: change ${i}`, '-m', `Link: https://lore.kernel.org/r/c${i}@example.org`);
  }
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  const r = await cli(['--good', 'HEAD~6', '--bad', 'HEAD', '--source', repo, '--test', 'pmd_pte_mix', '--results', results], simEnv(4));
  t.equal(r.code, 0, r.err);
  const [dir] = readdirSync(results);
  const rec = JSON.parse(readFileSync(join(results, dir!, 'bisect.json'), 'utf8')) as BisectRecord;
  t.match(rec.culprit, { number: 4, subject: 'dax: change 4', author: 'T <t@example.org>', link: 'https://lore.kernel.org/r/c4@example.org', commit: git('rev-parse', 'HEAD~2') });
  t.match(r.out, /^first bad: commit 4\/6 [0-9a-f]{12} "dax: change 4"/);

  const wrong = await cli(['--good', 'HEAD', '--bad', 'HEAD~6', '--source', repo, '--test', 'pmd_pte_mix', '--results', results]);
  t.equal(wrong.code, 2);
  t.match(wrong.err, /--good HEAD is not an ancestor of --bad HEAD~6/);
  const rev = await cli(['--good', 'HEAD~6', '--bad', 'HEAD', '--source', repo, '--reverse', '--test', 'pmd_pte_mix', '--results', results]);
  t.equal(rev.code, 2);
  t.match(rev.err, /with --reverse the older end is --bad/);
});

t.test('SIGINT mid-bisection: bisect.json and summary say interrupted, state.json resumes, exit 130', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  const script = join(work, 'slow-bisect.mts');
  // The simulated environment, slowed so the signal lands while a step runs.
  writeFileSync(
    script,
    [
      `import { bisectCommand } from ${JSON.stringify(join(import.meta.dirname, '../../harness/src/cli/bisect.ts'))};`,
      `import { SimEnv, rng } from ${JSON.stringify(join(import.meta.dirname, '../../harness/src/workflows/bisect/simulate.ts'))};`,
      `const sc = ${JSON.stringify(scenario(8, 5))};`,
      'const slow = (env) => ({ build: async (s) => (await new Promise((r) => setTimeout(r, 300)), env.build(s)), test: async (s, n, stop) => (await new Promise((r) => setTimeout(r, 300)), env.test(s, n, stop)) });',
      `process.exitCode = await bisectCommand(['--series', ${JSON.stringify(series)}, '--test', 'smoke:ext4', '--results', ${JSON.stringify(results)}], { makeEnv: () => slow(new SimEnv(sc, rng(1))) });`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: join(import.meta.dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  // Interrupt once two actions are saved.
  for (let i = 0; i < 200 && (err.match(/^\s*[\d.]+s \[/gm) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  t.equal(code, 130, err);
  const [dir] = readdirSync(results);
  const rec = JSON.parse(readFileSync(join(results, dir!, 'bisect.json'), 'utf8')) as BisectRecord;
  t.equal(rec.status, 'interrupted');
  t.match(rec.reason, new RegExp(`interrupted by SIGINT; continue with dax-harness bisect --resume ${join(results, dir!)}`));
  t.ok(rec.used.builds >= 1, 'what was learnt is in it');
  t.match(readFileSync(join(results, dir!, 'summary.txt'), 'utf8'), /no patch named \(interrupted\)/);
  const again = await cli(['--resume', join(results, dir!)], simEnv(5, 3));
  t.equal(again.code, 0, again.err);
  t.match(again.out, /^first bad: patch 5\/8/);
});

t.test('registered in the dax-harness command', async (t) => {
  const bin = join(import.meta.dirname, '..', '..', 'harness', 'bin', 'dax-harness.js');
  const run = (args: string[]) => spawnSync(process.execPath, [bin, 'bisect', ...args], { encoding: 'utf8', timeout: 60_000 });
  const help = run(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /^usage: dax-harness bisect/);
  const bad = run(['--series', series]);
  t.equal(bad.status, 2);
  t.match(bad.stderr.trim(), /^dax-harness bisect: --test is required/);
});
