// --quiet and --verbose on every command: parsed by every command's spec,
// refused together, and honoured by the one progress printer (quiet: only the
// result and errors; verbose: the detail text too). A status line is redrawn
// in place on a terminal and printed at most every 30 s elsewhere.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommand, helpText, type CommandSpec } from '../../harness/src/cli/command.ts';
import { progressPrinter, redrawBytes, statusDue, verbosityOf, type Verbosity } from '../../harness/src/cli/progress.ts';
import { detailWriter, showStatus } from '../../harness/src/host/status.ts';
import { bisectCommand } from '../../harness/src/cli/bisect.ts';
import { SimEnv, rng } from '../../harness/src/workflows/bisect/simulate.ts';

async function specs(): Promise<CommandSpec[]> {
  const m = {
    run: (await import('../../harness/src/cli/run.ts')).RUN_SPEC,
    parseLog: (await import('../../harness/src/cli/parse-log.ts')).PARSE_LOG_SPEC,
    build: (await import('../../harness/src/cli/build.ts')).BUILD_SPEC,
    nightly: (await import('../../harness/src/cli/nightly.ts')).NIGHTLY_SPEC,
    merge: (await import('../../harness/src/cli/merge.ts')).MERGE_SPEC,
    results: (await import('../../harness/src/cli/results.ts')).RESULTS_SPEC,
    bisect: (await import('../../harness/src/cli/bisect.ts')).BISECT_SPEC,
    repro: (await import('../../harness/src/cli/repro.ts')).REPRO_SPEC,
    shell: (await import('../../harness/src/cli/shell.ts')).SHELL_SPEC,
    attach: (await import('../../harness/src/cli/attach.ts')).ATTACH_SPEC,
    stop: (await import('../../harness/src/cli/attach.ts')).STOP_SPEC,
    cache: (await import('../../harness/src/cli/cache.ts')).CACHE_SPEC,
  };
  return Object.values(m) as unknown as CommandSpec[];
}

/** Run `f` with stderr captured. */
async function capture<T>(f: () => Promise<T> | T): Promise<{ value: T; err: string }> {
  let err = '';
  const e = process.stderr.write.bind(process.stderr);
  const o = process.stdout.write.bind(process.stdout);
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return { value: await f(), err };
  } finally {
    process.stderr.write = e;
    process.stdout.write = o;
  }
}

t.test('every command parses --quiet, -q, --verbose and -v, and documents them', async (t) => {
  const all = await specs();
  t.equal(all.length, 12);
  for (const s of all) {
    const cases: Array<[string[], Verbosity]> = [[['--quiet'], 'quiet'], [['-q'], 'quiet'], [['--verbose'], 'verbose'], [['-v'], 'verbose'], [[], 'normal']];
    for (const [argv, want] of cases) {
      const r = parseCommand(s, argv);
      t.not(typeof r, 'number', `${s.name} ${argv.join(' ')} parses`);
      if (typeof r !== 'number') t.equal(verbosityOf(r.values as { quiet?: boolean; verbose?: boolean }), want, `${s.name} ${argv.join(' ')}`);
    }
    const both = await capture(() => parseCommand(s, ['--quiet', '-v']));
    t.equal(both.value, 2, `${s.name}: --quiet with --verbose is bad input`);
    t.match(both.err, new RegExp(`^dax-harness ${s.name}: --quiet and --verbose ask for opposites: give one`), s.name);
    t.match(helpText(s), /\n  -q, --quiet {11}no progress lines: only the result and errors\n  -v, --verbose/, `${s.name}: --help says what they do`);
  }
});

t.test('the printer: quiet drops progress, verbose adds detail', async (t) => {
  const run = (verbosity: Verbosity) => {
    const lines: string[] = [];
    let raw = '';
    const p = progressPrinter({ now: () => 1000, write: (l) => lines.push(l), raw: (b) => (raw += b), verbosity, inPlace: false });
    p('booting', 'boot');
    detailWriter()?.('  CC fs/dax.o\n');
    p.close();
    return { lines, raw, after: detailWriter() };
  };
  t.same(run('quiet'), { lines: [], raw: '', after: undefined }, 'quiet: nothing');
  t.same(run('normal'), { lines: ['    0.0s [boot] booting'], raw: '', after: undefined }, 'normal: the progress line, no detail');
  t.same(run('verbose'), { lines: ['    0.0s [boot] booting'], raw: '  CC fs/dax.o\n', after: undefined }, "verbose: make's output too; none after close");
});

t.test('status: in place on a terminal, a plain line every 30 s elsewhere', async (t) => {
  let clock = 0;
  let raw = '';
  const tty = progressPrinter({ now: () => clock, raw: (b) => (raw += b), inPlace: true, columns: () => 40 });
  showStatus('objects 10/100', 'kernel');
  clock = 500;
  showStatus('objects 20/100', 'kernel');
  tty('built', 'kernel');
  tty.close();
  t.equal(raw, '\r    0.0s [kernel] objects 10/100\x1b[K\r    0.5s [kernel] objects 20/100\x1b[K\r\x1b[K    0.5s [kernel] built\n', 'redrawn, then cleared before the next line');

  clock = 0;
  const lines: string[] = [];
  const file = progressPrinter({ now: () => clock, write: (l) => lines.push(l), inPlace: false });
  for (clock = 0; clock <= 65_000; clock += 5_000) showStatus(`at ${clock}`);
  file.close();
  t.same(lines, ['    0.0s at 0', '   30.0s at 30000', '   60.0s at 60000'], 'one line per 30 s');
  showStatus('nobody listens');
  t.same(lines.length, 3, 'closed: no more status');

  const quiet = progressPrinter({ write: (l) => lines.push(l), inPlace: false, verbosity: 'quiet' });
  showStatus('hidden');
  quiet.close();
  t.equal(lines.length, 3, 'quiet: no status either');
});

t.test('statusDue and redrawBytes', async (t) => {
  t.ok(statusDue(5, null, false), 'the first is due');
  t.notOk(statusDue(29_999, 0, false));
  t.ok(statusDue(30_000, 0, false));
  t.ok(statusDue(1, 0, true), 'on a terminal every one is drawn');
  t.equal(redrawBytes('abcdef', 10), '\rabcdef\x1b[K');
  t.equal(redrawBytes('abcdefghij', 6), '\rabcd…\x1b[K', 'cut to the width: no wrap, so \\r still reaches its start');
});

t.test('through a command: bisect --quiet prints no progress, the default does', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'daxh-out-'));
  const series = join(work, 's.mbox');
  const mails = [1, 2, 3].map((i) =>
    [`From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001`, `From: D <d@example.org>`, `Message-Id: <${i}@example.org>`, `Subject: [PATCH ${i}/3] dax: step ${i}`, '', `diff --git a/fs/dax.c b/fs/dax.c\n--- a/fs/dax.c\n+++ b/fs/dax.c\n@@ -1,1 +1,2 @@\n a\n+b${i}`, ''].join('\n'),
  );
  writeFileSync(series, mails.join('\n'));
  const none = Array<boolean>(4).fill(false);
  const makeEnv = () => new SimEnv({ k: 3, direction: 'cause', culprit: 2, endRate: 0.5, rateFactor: [1, 1, 1, 1], noop: none, unbuildable: none, unbootable: none, needsPrev: none, noise: [], failRate: 0, infraRate: 0, flakyBootRate: 0 }, rng(1));
  const go = (extra: string[]) => capture(() => bisectCommand(['--series', series, '--test', 'smoke:ext4', '--results', join(work, extra.join('') || 'default'), ...extra], { makeEnv }));
  const loud = await go([]);
  const quiet = await go(['--quiet']);
  t.equal(loud.value, quiet.value, 'the same verdict');
  t.match(loud.err, /^\s+\d+\.\ds /m, 'progress lines by default');
  t.match(loud.err, / · step 1 of about \d+: the change is one of patches 1\.\.3 \(3 left\)\n/, 'each bisect line says where the search stands');
  t.equal(quiet.err, '', '--quiet: nothing on stderr');
});
