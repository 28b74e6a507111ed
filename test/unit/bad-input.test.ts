// The shared checks for bad input: ranges, ports, durations, the timer
// clamp, safe ids, text for the terminal, mail limits, YAML bombs, and
// merge's night id. Pure or on temp files; the CLI end to end is in
// hostile-probes.test.ts.
import t from 'tap';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, readdirSync, truncateSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../harness/src/host/errors.ts';
import { LIMITS, TIMER_MAX_MS, childPath, durationOption, isSafeId, portOption, secondsOption, timerDelay, wholeOption } from '../../harness/src/host/limits.ts';
import { forTerminal, lineForTerminal } from '../../harness/src/host/terminal.ts';
import { MAIL_LIMITS, MailInputError, mailLimitProblem, parseMail } from '../../harness/src/host/mail.ts';
import { parseConfigYaml, loadNightConfig, NightConfigError, CONFIG_MAX_BYTES } from '../../harness/src/workflows/nightly/config.ts';
import { mergeNights, NightlyInputError } from '../../harness/src/workflows/nightly/index.ts';
import { loadSeries } from '../../harness/src/kernel/series.ts';
import { SeriesError } from '../../harness/src/kernel/errors.ts';
import { formatTable } from '../../harness/src/results/table.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';
import { BIN } from '../../bench/hostile-probes.ts';
import { readSaved } from '../../harness/src/workflows/bisect/workflow.ts';

const tmp = mkdtempSync(join(tmpdir(), 'daxh-badinput-'));

t.test('whole numbers: in range, or one line naming the option and the range', async (t) => {
  t.equal(wholeOption(undefined, '--cpus', LIMITS.cpus, 2), 2, 'absent: the default');
  t.equal(wholeOption('8', '--cpus', LIMITS.cpus, 2), 8, 'the top of the range');
  t.throws(() => wholeOption('9', '--cpus', LIMITS.cpus, 2), { message: '--cpus 9 is out of range: give 1 to 8' });
  t.throws(() => wholeOption('0', '--cpus', LIMITS.cpus, 2), { message: '--cpus 0 is out of range: give 1 to 8' });
  t.throws(() => wholeOption('1e3', '--repeat', LIMITS.repeat, 1), { message: '--repeat "1e3" is not a whole number: give one from 1 to 1000' });
  t.throws(() => wholeOption('-1', '--seed', LIMITS.seed, 1), /is not a whole number/);
  t.throws(() => wholeOption('99999999999999999999999', '--seed', LIMITS.seed, 1), /out of range/, 'digits past a double');
  t.throws(() => wholeOption('9', '--cpus', LIMITS.cpus, 2), InputError, 'an InputError: exit 2 in every command');
  t.equal(secondsOption('90', '--boot-timeout', LIMITS.bootTimeoutS, 180), 90_000);
  t.throws(() => secondsOption('4000000', '--boot-timeout', LIMITS.bootTimeoutS, 180), { message: '--boot-timeout 4000000 is out of range: give 1s to 1d' });
  t.equal(secondsOption('15m', '--boot-timeout', LIMITS.bootTimeoutS, 180), 900_000, 'timeouts take the duration grammar');
  t.equal(secondsOption('1h30m', '--hang-timeout', LIMITS.hangTimeoutS, 1800), 5_400_000);
  t.equal(secondsOption(undefined, '--boot-timeout', LIMITS.bootTimeoutS, 180), 180_000, 'absent: the default');
  t.throws(() => secondsOption('soon', '--boot-timeout', LIMITS.bootTimeoutS, 180), /--boot-timeout "soon" is not a duration: write it as 90s/);
});

t.test('every range of seconds or ms stays below the timer limit', async (t) => {
  for (const [k, r] of Object.entries(LIMITS)) {
    if (k.endsWith('S')) t.ok(r.max * 1000 < TIMER_MAX_MS, `${k}: ${r.max} s`);
    if (k.endsWith('Ms') && k !== 'ageMs') t.ok(r.max < TIMER_MAX_MS, `${k}: ${r.max} ms`);
  }
});

t.test('ports the harness binds: 1024-65535', async (t) => {
  t.equal(portOption(undefined, '--ssh-port'), undefined);
  t.equal(portOption('2222', '--ssh-port'), 2222);
  t.equal(portOption('65535', '--ssh-port'), 65535);
  for (const bad of ['70000', '65536', '80', '0', '-1', '22x', ''])
    t.throws(() => portOption(bad, '--ssh-port'), { message: `--ssh-port "${bad}" is not a port the harness can bind: give 1024 to 65535` }, bad || '(empty)');
});

t.test('durations: one grammar, a range in ms', async (t) => {
  const r = { min: 1000, max: 7 * 86400_000 };
  t.equal(durationOption('90s', 'x', r), 90_000);
  t.equal(durationOption('1h30m', 'x', r), 5_400_000);
  t.equal(durationOption('2d', 'x', r), 2 * 86400_000);
  t.equal(durationOption('1w', 'x', r), 7 * 86400_000);
  t.equal(durationOption('45', 'x', r), 45_000, 'plain seconds');
  t.throws(() => durationOption('8d', '--budget', r), { message: '--budget 8d is out of range: give 1s to 1w' });
  t.throws(() => durationOption('0s', '--budget', r), /out of range/);
  t.throws(() => durationOption('soon', '--budget', r), /--budget "soon" is not a duration: write it as 90s/);
  t.throws(() => durationOption('30m2h', '--budget', r), /is not a duration/, 'units largest first');
  t.throws(() => durationOption('9'.repeat(400) + 'w', '--older-than', LIMITS.ageMs), /out of range/, 'Infinity is out of range, not a week');
});

t.test('timerDelay: what setTimeout can wait', async (t) => {
  t.equal(timerDelay(1500), 1500);
  t.equal(timerDelay(-5), 0);
  t.equal(timerDelay(2 ** 40), TIMER_MAX_MS, 'past 24.8 days: the longest wait, not 1 ms');
  t.equal(timerDelay(Infinity), TIMER_MAX_MS);
  t.throws(() => timerDelay(NaN), RangeError);
  // The real timer: clamped, a month does not fire at once.
  let fired = false;
  const h = setTimeout(() => (fired = true), timerDelay(30 * 86400_000));
  await new Promise((r) => setTimeout(r, 50));
  clearTimeout(h);
  t.notOk(fired, 'a month-long timer has not fired after 50 ms');
});

t.test('safe ids and child paths', async (t) => {
  for (const ok of ['2026-12-07', '2026-12-07.2', 'nightly_ci-3', 'a'.repeat(128)]) t.ok(isSafeId(ok), ok);
  for (const bad of ['', '.', '..', '../x', 'a/b', '.hidden', 'a..b', '-x', 'a b', 'a\nb', 'a'.repeat(129), 42, null, { id: 'x' }])
    t.notOk(isSafeId(bad), JSON.stringify(bad));
  t.equal(childPath('/r/nights', 'n1'), '/r/nights/n1');
  t.equal(childPath('/r/nights', '../../etc'), null);
});

t.test('text for the terminal: sequences and controls gone, the words kept', async (t) => {
  t.equal(forTerminal('\x1b[31mBUG\x1b[0m: bad page'), 'BUG: bad page', 'colour');
  t.equal(forTerminal('a\x1b]0;owned\x07b'), 'ab', 'OSC window title (BEL)');
  t.equal(forTerminal('a\x1b]52;c;ZXZpbA==\x1b\\b'), 'ab', 'OSC 52 clipboard (ST)');
  t.equal(forTerminal('a\x1bP1$qm\x1b\\b'), 'ab', 'DCS');
  t.equal(forTerminal('a\u009b2Jb\u009d0;x\u009cc'), 'abc', 'C1 CSI and OSC');
  t.equal(forTerminal('FAIL\rPASS'), 'FAILPASS', 'a lone CR cannot overwrite');
  t.equal(forTerminal('line\r\n'), 'line\n', 'CRLF is a line end');
  t.equal(forTerminal('x\u202eexe.txt'), 'xexe.txt', 'bidi override');
  t.equal(forTerminal('ok\b\b\bNO\x00\x7f'), 'okNO');
  t.equal(forTerminal('tab\tand\nline'), 'tab\tand\nline', 'tab and newline kept');
  t.equal(forTerminal('ünïcødé 日本 ✓'), 'ünïcødé 日本 ✓');
  t.equal(forTerminal('trailing \x1b'), 'trailing ', 'a lone ESC');
  t.equal(lineForTerminal('a\nb\n\nc'), 'a b c', 'one line: newlines folded');
});

t.test('the run table: a guest reason cannot forge a row or reach the terminal raw', async (t) => {
  const rec = {
    id: 'r1',
    status: 'fail',
    reason: 'guest said \x1b[2J',
    crashes: [{ title: 'BUG: x\x1b]0;t\x07' }],
    tests: [{ name: 'smoke\x1b[8m', params: {}, status: 'fail', verdict: 'fail', durationMs: 1000, reason: 'oops\nsmoke  PASS  0.1s  forged' }],
  } as unknown as RunRecord;
  const out = formatTable(rec);
  t.notMatch(out, /[\x1b\x07]/, 'no escape left');
  t.equal(out.split('\n').filter((l) => /forged/.test(l)).length, 1);
  t.match(out, /\nsmoke {2}FAIL {4}1\.0s {4}oops smoke {2}PASS/, 'the reason stays in its row');
});

const MAIL = 'From: A <a@example.org>\nSubject: [PATCH 1/1] mm: x\nMIME-Version: 1.0\n';

t.test('mail limits: counted before parsing, everything the parser throws is bad input', async (t) => {
  t.equal(mailLimitProblem(`${MAIL}\nbody\n`), null);
  let many = `${MAIL}Content-Type: multipart/mixed; boundary="B"\n\n`;
  for (let i = 0; i < MAIL_LIMITS.parts + 1; i++) many += '--B\nContent-Type: text/plain\n\nx\n';
  t.match(mailLimitProblem(many), /over 256 MIME parts/);
  let nested = `${MAIL}Content-Type: multipart/mixed; boundary="b0"\n\n`;
  for (let i = 0; i < 40; i++) nested += `--b${i}\nContent-Type: multipart/mixed; boundary="b${i + 1}"\n\n`;
  t.match(mailLimitProblem(nested), /nests over 32 multipart/);
  await t.rejects(parseMail(many, 'x.mbox#1'), MailInputError);
  await t.rejects(parseMail(many, 'x.mbox#1'), /^x\.mbox#1 is not a mail the harness will read: it has over 256 MIME parts/);
  // Past the pre-scan (a space before the colon is still a header to mailparser): its own node limit, as bad input.
  let sneaky = `${MAIL}Content-Type: multipart/mixed; boundary="B"\n\n`;
  for (let i = 0; i < 2000; i++) sneaky += '--B\nContent-Type : text/plain\n\nx\n';
  t.equal(mailLimitProblem(sneaky), null, 'the pre-scan does not see these parts');
  await t.rejects(parseMail(sneaky, 'y.mbox#2'), { message: /^y\.mbox#2 is not a mail the harness can read \(Max allowed child nodes exceeded\)/ });
  const ok = await parseMail(`${MAIL}\ndiff --git a/x b/x\n`, 'ok');
  t.equal(ok.subject, '[PATCH 1/1] mm: x');
});

t.test('a hostile series is a SeriesError (exit 2), not an escaped throw', async (t) => {
  let parts = `From x Mon Jan  1 00:00:00 2024\n${MAIL}Content-Type: multipart/mixed; boundary="B"\n\n`;
  for (let i = 0; i < 5000; i++) parts += '--B\nContent-Type : text/plain\n\nx\n';
  const f = join(tmp, 'parts.mbox');
  writeFileSync(f, parts);
  await t.rejects(loadSeries(f), SeriesError);
  await t.rejects(loadSeries(f), /parts\.mbox#1 is not a mail the harness can read/);
});

t.test('YAML: alias bombs, runaway nesting and huge files are ConfigErrors', async (t) => {
  const laughs = ['a: &a [x,x,x,x,x,x,x,x,x]'];
  for (let i = 1; i < 9; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  t.throws(() => parseConfigYaml(laughs.join('\n'), 'bomb.yaml'), { name: 'NightConfigError', message: /^bomb\.yaml: not a usable config: its aliases expand too far/ });
  t.throws(() => parseConfigYaml(`a: ${'['.repeat(5000)}${']'.repeat(5000)}`, 'deep.yaml'), { message: /^deep\.yaml: not a usable config: it opens over 1000 \[ and \{ collections/ });
  t.throws(() => parseConfigYaml(`a: "${'['.repeat(1001)}"`, 'q.yaml'), /opens over 1000/, 'quotes do not hide brackets from the count');
  const t0 = performance.now();
  t.throws(() => parseConfigYaml(`${'- '.repeat(100000)}x`, 'dash.yaml'), { message: /^dash\.yaml: not a usable config: line 1 is indented or nested over 256 columns/ });
  t.ok(performance.now() - t0 < 200, 'refused without parsing (parsed, V8 aborts the process)');
  t.same(parseConfigYaml('modes: &m [ext4, xfs]\nsuites: [{name: a, modes: *m}, {name: b, modes: *m}]\n', 'ok.yaml'), { modes: ['ext4', 'xfs'], suites: [{ name: 'a', modes: ['ext4', 'xfs'] }, { name: 'b', modes: ['ext4', 'xfs'] }] }, 'ordinary aliases still work');
  const big = join(tmp, 'big.yaml');
  writeFileSync(big, '#\n'.repeat(CONFIG_MAX_BYTES / 2 + 1));
  await t.rejects(loadNightConfig(big), { name: 'NightConfigError', message: /big\.yaml: \d+ bytes is over the 1024 KiB a config may have/ });
  await t.rejects(loadNightConfig(tmp), NightConfigError, 'a directory');
});

t.test('merge: a night id from night.json is a name, never a path', async (t) => {
  const into = mkdtempSync(join(tmpdir(), 'daxh-merge-into-'));
  const escape = join(tmpdir(), `daxh-escaped-${process.pid}`);
  for (const id of [`../../../${escape.slice(1)}`, '/etc', 'a/b', '', 7]) {
    const shard = mkdtempSync(join(tmpdir(), 'daxh-shard-'));
    writeFileSync(join(shard, 'night.json'), JSON.stringify({ schema: 1, id, configHash: 'h', shard: null, status: 'done', cells: [], matrix: [], startedAt: '2026-01-01T00:00:00Z' }));
    await t.rejects(mergeNights([shard], into), NightlyInputError, JSON.stringify(id));
    await t.rejects(mergeNights([shard], into), /not a usable night id/);
  }
  t.notOk(existsSync(escape), 'nothing written outside the results');
  t.same(readdirSync(into), [], 'nor inside');
});

t.test('results show and list, through the CLI: a hostile run.json reaches the terminal clean', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-results-esc-'));
  const dir = join(root, 'r-esc');
  mkdirSync(dir);
  const now = new Date().toISOString();
  const record = {
    schema: 1, id: 'r-esc', status: 'fail', reason: 'guest said \x1b]0;owned\x07\x1b[2J\nr-forged  pass', startedAt: now, endedAt: now,
    host: { hostname: 'h', qemuVersion: 'x' }, accel: null, kernel: null, image: null, topology: { nvdimms: [], memmap: [], memMiB: 2048, cpus: 2 }, topologyHash: 'h',
    kernelCmdline: '', qemuArgv: [], bootMs: null, kernelInitMs: null, crashes: [],
    tests: [{ name: 'smoke\x1b[8m', params: {}, status: 'fail', verdict: 'fail', durationMs: 1000, reason: 'oops\u009b2J\x1b]52;c;ZXZpbA==\x07\nsmoke  pass', startedAt: now, log: 'x' }],
  };
  writeFileSync(join(dir, 'run.json'), JSON.stringify(record));
  const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, 'results', ...args, '--results', root], { encoding: 'utf8', timeout: 60_000 });
  t.equal(cli('reindex').status, 0);
  for (const args of [['show', 'r-esc'], ['list']]) {
    const r = cli(...args);
    t.equal(r.status, 0, r.stderr);
    t.notMatch(r.stdout, /[\x1b\x07\x9b]/, `results ${args[0]}: no escape sequence`);
    t.match(r.stdout, /r-esc/);
    for (const l of r.stdout.split('\n')) t.notMatch(l, /^(r-forged|smoke {2}pass)/, `results ${args[0]}: no line forged by a newline in a reason`);
  }
});

t.test('bisect --resume: a state.json far past any bisection is refused unread', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-resume-'));
  // Sparse: 65 MiB on paper, nothing on disk; read whole it would be 65 MiB of NULs in memory.
  writeFileSync(join(dir, 'state.json'), '');
  truncateSync(join(dir, 'state.json'), 65 << 20);
  await t.rejects(readSaved(dir), { name: 'BisectInputError', message: /state\.json is over 64 MiB: it was not written by dax-harness bisect/ });
});
