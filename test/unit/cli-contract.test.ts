// The contract every command keeps: --version, help CMD = CMD --help, each
// manual with its examples and the one exit-code table, every declared option
// documented, parseArgs' mistakes said in one line that names the option, and
// one mapping from errors to exit codes. Spawned commands here all exit before
// anything is downloaded or booted.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMAND_NAMES } from '../../harness/src/cli/main.ts';
import { argsErrorLine, helpText, nearestOption, type CommandSpec } from '../../harness/src/cli/command.ts';
import { EXIT, errorText, exitCodeOf, interruptedCode } from '../../harness/src/cli/exit.ts';
import { progressLine } from '../../harness/src/cli/progress.ts';
import { formatColumns } from '../../harness/src/host/table.ts';
import { InfraError, InputError } from '../../harness/src/host/errors.ts';
import { BuildError, FetchError, SeriesError } from '../../harness/src/kernel/errors.ts';
import { NoSpaceError } from '../../harness/src/host/space.ts';
import { ImageBuildError } from '../../harness/src/image/initramfs.ts';
import { BisectEnvironmentError } from '../../harness/src/workflows/bisect/environment.ts';
import { NightConfigError } from '../../harness/src/workflows/nightly/config.ts';
import { NightlyInputError } from '../../harness/src/workflows/nightly/index.ts';

const bin = join(import.meta.dirname, '..', '..', 'harness', 'bin', 'dax-harness.js');

function cli(args: string[], o: { input?: string; cache?: string } = {}) {
  const cache = o.cache ?? mkdtempSync(join(tmpdir(), 'daxh-cache-'));
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60000, input: o.input ?? '', env: { ...process.env, DAX_HARNESS_CACHE: cache } });
  return { code: r.status, out: r.stdout, err: r.stderr, cache };
}

async function specs(): Promise<CommandSpec[]> {
  return [
    (await import('../../harness/src/cli/run.ts')).RUN_SPEC,
    (await import('../../harness/src/cli/parse-log.ts')).PARSE_LOG_SPEC,
    (await import('../../harness/src/cli/build.ts')).BUILD_SPEC,
    (await import('../../harness/src/cli/nightly.ts')).NIGHTLY_SPEC,
    (await import('../../harness/src/cli/merge.ts')).MERGE_SPEC,
    (await import('../../harness/src/cli/results.ts')).RESULTS_SPEC,
    (await import('../../harness/src/cli/bisect.ts')).BISECT_SPEC,
    (await import('../../harness/src/cli/repro.ts')).REPRO_SPEC,
    (await import('../../harness/src/cli/shell.ts')).SHELL_SPEC,
    (await import('../../harness/src/cli/attach.ts')).ATTACH_SPEC,
    (await import('../../harness/src/cli/attach.ts')).STOP_SPEC,
    (await import('../../harness/src/cli/cache.ts')).CACHE_SPEC,
  ] as unknown as CommandSpec[];
}

t.test('every command has a spec; its manual documents every option it declares', async (t) => {
  const all = await specs();
  t.same(all.map((s) => s.name).sort(), [...COMMAND_NAMES].sort(), 'one spec per command the usage lists');
  for (const s of all) {
    const help = helpText(s);
    // --help itself is named by the top-level usage, for every command at once.
    for (const o of Object.keys(s.options).filter((o) => o !== 'help')) t.match(help, new RegExp(`--${o}\\b`), `${s.name}: --${o} is in the manual`);
    t.match(help, /\nexamples:\n  dax-harness|\nexamples:\n  \S+ .*dax-harness/, `${s.name}: examples`);
    t.ok(s.examples.every(([c]) => c.includes(`dax-harness ${s.name}`)), `${s.name}: every example runs ${s.name}`);
    t.match(help, /\nExit codes:\n  0 {7}\S/, `${s.name}: the exit-code table`);
    t.match(help, /\n  2 {7}bad input/, `${s.name}: 2 means bad input`);
    t.match(help, /\n  3 {7}no verdict/, `${s.name}: 3 means no verdict`);
  }
  const printsData = all.filter((s) => ['run', 'parse-log', 'build', 'nightly', 'merge', 'results', 'bisect', 'repro', 'cache'].includes(s.name));
  for (const s of printsData) t.ok('json' in s.options, `${s.name} has --json`);
});

t.test('--version: the package version, and the commit in a checkout', async (t) => {
  const r = cli(['--version']);
  t.equal(r.code, 0);
  t.match(r.out, /^dax-harness \d+\.\d+\.\d+ \(commit [0-9a-f]{12}(, with uncommitted edits)?\)\n$/);
});

t.test('help CMD prints what CMD --help prints', async (t) => {
  for (const cmd of ['bisect', 'cache', 'merge']) {
    const a = cli(['help', cmd]);
    const b = cli([cmd, '--help']);
    t.equal(a.code, 0);
    t.equal(a.out, b.out, `help ${cmd}`);
    t.match(a.out, new RegExp(`^usage: dax-harness ${cmd}`));
  }
});

t.test('the top-level usage and the unknown-command line name every command', async (t) => {
  const usage = cli(['--help']);
  const bad = cli(['frob']);
  t.equal(bad.code, 2);
  t.equal(bad.err.trim().split('\n').length, 1, bad.err);
  t.match(bad.err, /^dax-harness: unknown command "frob": use /);
  for (const c of COMMAND_NAMES) {
    t.match(usage.out, new RegExp(`\\n  ${c} `), `usage lists ${c}`);
    t.match(bad.err, new RegExp(`\\b${c}\\b`), `the hint names ${c}`);
  }
});

t.test("parseArgs' mistakes: one line naming the option and the fix, exit 2", async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['run', '--sute', 'smoke'], /^dax-harness run: unknown option '--sute': did you mean --suite\? \(see dax-harness run --help\)$/],
    [['run', '--fs'], /^dax-harness run: --fs needs a value: --fs VALUE/],
    [['run', '--fs', '--json'], /^dax-harness run: --fs needs a value, but "--json" follows it: give one, or write --fs=VALUE/],
    [['run', '--json=yes'], /^dax-harness run: --json takes no value: give --json alone/],
    [['run', 'smoke'], /^dax-harness run: unexpected argument 'smoke': run takes options only/],
    // A quote a CI file passed on literally.
    [['build', '--config"', 'dax'], /^dax-harness build: unknown option '--config"'.*holds a quote character the shell did not remove: check the quoting/],
    [['cache', 'prune', '--older-than', 'a while'], /^dax-harness cache: --older-than "a while" is not a duration: write it as 90s, 30m, 2h, 1h30m or 2d/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args);
    t.equal(r.code, 2, args.join(' '));
    t.equal(r.err.trim().split('\n').length, 1, r.err);
    t.match(r.err.trim(), re);
    t.same(readdirSync(r.cache), [], 'nothing in the cache');
  }
});

t.test('argsErrorLine and nearestOption, directly', async (t) => {
  const spec = { name: 'x', options: { results: { type: 'string' }, 'keep-idle': { type: 'string' } }, positionals: false, manual: '', examples: [], exit: { 0: '' } } as unknown as CommandSpec;
  const e = Object.assign(new Error("Unknown option '--result'"), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  t.equal(argsErrorLine(spec, ['--result'], e), "unknown option '--result': did you mean --results? (see dax-harness x --help)");
  t.equal(nearestOption('--keepidle', ['keep-idle', 'results']), 'keep-idle');
  t.equal(nearestOption('--zzz', ['keep-idle', 'results']), null, 'nothing near: no guess');
});

t.test('one duration grammar: --keep-idle, timeouts, --older-than', async (t) => {
  const idle = cli(['run', '--keep', '--keep-idle', '1d']);
  t.equal(idle.code, 2);
  t.match(idle.err, /^dax-harness run: --keep-idle 1d is out of range: give 1s to 6h\n$/, 'the grammar takes 1d; a kept guest lives 6 h at most');
  const boot = cli(['run', '--boot-timeout', '1h30m', '--accel', 'hvf']);
  t.match(boot.err, /--accel "hvf"/, '--boot-timeout 1h30m is accepted: the next mistake is the one named');
  const prune = cli(['cache', 'prune', '--older-than', '1h30m', '--dry-run', '--json']);
  t.equal(prune.code, 0, prune.err);
  t.ok(JSON.parse(prune.out).removed, 'prune --json parses');
});

t.test('--jobs: make jobs in run; guests (and --guests) in nightly, make jobs there are --make-jobs', async (t) => {
  const r = cli(['run', '--jobs', '4']);
  t.equal(r.code, 2);
  t.match(r.err, /^dax-harness run: --jobs sets make's jobs for a kernel build: it goes with --source, --series or --config\n$/);
  const zero = cli(['run', '--source', '/nonexistent', '--jobs', '0']);
  t.match(zero.err, /--jobs 0 is out of range: give 1 to 256/);
  const both = cli(['nightly', 'no.yaml', '--guests', '2', '--jobs', '2']);
  t.equal(both.code, 2);
  t.match(both.err, /--guests and --jobs are one option in nightly/);
  const mj = cli(['nightly', 'no.yaml', '--make-jobs', 'many']);
  t.match(mj.err, /^dax-harness nightly: --make-jobs "many" is not a whole number/);
});

t.test('merge: --results, with --into kept as its older name', async (t) => {
  const r = cli(['merge', '--into', '/tmp/a', '--results', '/tmp/b', 'shard']);
  t.equal(r.code, 2);
  t.match(r.err, /--results and --into name one directory/);
  const none = cli(['merge', '--results', '/tmp/daxh-none', '/tmp/daxh-no-such-shard']);
  t.equal(none.code, 2, 'a shard that is no night directory is bad input');
  t.equal(none.err.trim().split('\n').length, 1, none.err);
});

t.test('results --json parses', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  const r = cli(['results', 'list', '--json', '--results', root]);
  t.equal(r.code, 0, r.err);
  t.same(JSON.parse(r.out), { root, nights: [], runs: [], guests: [] });
});

t.test('--series -: the series on standard input, checked like a file', async (t) => {
  const r = cli(['run', '--series', '-'], { input: 'just some words, no mail, no diff\n' });
  t.equal(r.code, 2);
  t.match(r.err, /holds no patches/);
  t.same(readdirSync(r.cache), ['series'], 'only the saved series is in the cache');
  const empty = cli(['run', '--series', '-'], { input: '' });
  t.match(empty.err, /^dax-harness run: --series -: standard input was empty/);
  const twice = cli(['repro', '--series', '-', '-'], { input: 'x' });
  t.match(twice.err, /REPORT and --series both read standard input/);
});

t.test('one mapping from errors to exit codes', async (t) => {
  const enospc = Object.assign(new Error('write failed'), { code: 'ENOSPC', path: '/r/run.json' });
  const cases: Array<[unknown, number]> = [
    [new InputError('x'), EXIT.input],
    [new SeriesError('no such series', 'give one'), EXIT.input],
    [new NightConfigError('x'), EXIT.input],
    [new NightlyInputError('x'), EXIT.input],
    // No verdict where the command's 1 answers another question (repro, bisect).
    [new BuildError('make failed', 'see the log'), EXIT.infra],
    [new FetchError('download failed', 'retry'), EXIT.infra],
    [new ImageBuildError('debootstrap failed'), EXIT.infra],
    [new NoSpaceError('not enough space'), EXIT.infra],
    [new BisectEnvironmentError('guest broke'), EXIT.infra],
    [enospc, EXIT.infra],
    [new TypeError('a harness bug'), EXIT.infra],
  ];
  for (const [e, code] of cases) t.equal(exitCodeOf(e), code, (e as Error).name);
  // run and build: a kernel that does not compile is a verdict on it (1); a download that failed is not.
  for (const [e, code] of cases) t.equal(exitCodeOf(e, { kernelVerdict: true }), e instanceof BuildError ? EXIT.verdict : code, `${(e as Error).name}, run/build`);
  t.ok(new BuildError('a', 'b') instanceof InfraError, 'kernel pipeline errors are infrastructure errors');
  t.match(errorText(enospc), /^no space left on the device holding \/r\/run\.json: free some space/);
  t.equal(errorText(new FetchError('download failed', 'retry\nlater')), 'download failed — retry later', 'one line');
  t.match(errorText(new TypeError('bug')), /^internal error: TypeError: bug\n/, 'a bug keeps its stack');
  t.equal(interruptedCode('interrupted by SIGTERM'), 143);
  t.equal(interruptedCode('interrupted by SIGINT'), 130);
});

t.test('one progress line and one table printer', async (t) => {
  t.equal(progressLine(12_345, 'building', 'kernel'), '   12.3s [kernel] building');
  t.equal(progressLine(90_000_000, 'cell 3/8'), '90000.0s cell 3/8');
  t.equal(progressLine(0, 'a\nforged line\x1b[2J'), '    0.0s a forged line', 'guest text stays one clean line');
  t.equal(formatColumns([['test', 'status', 'reason'], ['pmd_pte_mix.xfs', 'FAIL', 'crash\nFAKE ROW']]), 'test             status  reason\npmd_pte_mix.xfs  FAIL    crash FAKE ROW');
  t.equal(formatColumns([['SIZE', 'AGE', 'ENTRY'], ['10M', '3d', 'a'], ['1.5G', '12h', 'b']], { right: [0, 1] }), 'SIZE  AGE  ENTRY\n 10M   3d  a\n1.5G  12h  b');
});

t.test('a series directory b4 wrote is accepted (its .mbx files)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-b4-'));
  writeFileSync(join(dir, 'v1_20250102_dax.mbx'), 'not a patch\n');
  const r = cli(['run', '--series', dir]);
  t.equal(r.code, 2);
  t.match(r.err, /holds no patches/, 'read as a series (and found to hold no patch), not refused for its file names');
  t.notMatch(r.err, /holds no \.patch/);
});

t.test('the version run.json records: package.json and the checkout HEAD', async (t) => {
  const { harnessVersion, versionText } = await import('../../harness/src/host/version.ts');
  const { readFileSync } = await import('node:fs');
  const { execFileSync } = await import('node:child_process');
  const root = join(import.meta.dirname, '..', '..');
  const v = await harnessVersion();
  t.equal(v.version, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
  t.equal(v.commit, execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim());
  t.equal(versionText({ version: '1.2.3', commit: 'abcdef0123456789', dirty: true }), '1.2.3 (commit abcdef012345, with uncommitted edits)');
  t.equal(versionText({ version: '1.2.3', commit: null, dirty: false }), '1.2.3', 'outside a checkout: the version alone');
});
