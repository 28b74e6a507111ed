// Bad input, every command: out-of-range numbers, ports and durations, YAML
// and MIME bombs, over-large files, a night id that climbs out of the
// results. Each probe is a real `dax-harness` command line; each must end
// with exit 2 and one line on stderr naming the input, in well under a
// second, with nothing downloaded or written. bench/hostile.ts prints the
// tally; test/unit/hostile-probes.test.ts asserts it.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'harness', 'bin', 'dax-harness.js');

export interface Probe {
  name: string;
  args: string[];
  /** What the one stderr line must say (the option or the file, and why). */
  says: RegExp;
}

export interface ProbeResult {
  probe: Probe;
  code: number | null;
  signal: string | null;
  lines: string[];
  ms: number;
  /** Files that appeared in the probe's cache or results directory. */
  written: string[];
}

const MAIL_HEAD = 'From x Mon Jan  1 00:00:00 2024\nFrom: A <a@example.org>\nSubject: [PATCH 1/1] mm: x\nMIME-Version: 1.0\n';

/** The hostile files the probes read, written under `dir`. */
function writeFixtures(dir: string): Record<string, string> {
  const f = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  // Billion laughs: nine levels of nine aliases, 9^9 strings once expanded.
  const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const p = String.fromCharCode(96 + i);
    const c = String.fromCharCode(97 + i);
    laughs.push(`${c}: &${c} [${Array(9).fill(`*${p}`).join(',')}]`);
  }
  let nested = `${MAIL_HEAD}Content-Type: multipart/mixed; boundary="b0"\n\n`;
  for (let i = 0; i < 5000; i++) nested += `--b${i}\nContent-Type: multipart/mixed; boundary="b${i + 1}"\n\n`;
  let parts = `${MAIL_HEAD}Content-Type: multipart/mixed; boundary="B"\n\n`;
  for (let i = 0; i < 100000; i++) parts += '--B\nContent-Type: text/plain\n\nx\n';
  parts += '--B--\n';
  const night = join(dir, 'shard');
  mkdirSync(night, { recursive: true });
  writeFileSync(join(night, 'night.json'), JSON.stringify({ schema: 1, id: '../../../tmp/daxh-escaped', configHash: 'x', shard: null, status: 'done', cells: [], matrix: [], startedAt: '2026-01-01T00:00:00Z' }));
  return {
    laughs: f('laughs.yaml', laughs.join('\n') + '\n'),
    deepYaml: f('deep.yaml', `kernels: ${'['.repeat(50000)}${']'.repeat(50000)}\n`),
    dashYaml: f('dash.yaml', `${'- '.repeat(100000)}x\n`),
    bigYaml: f('big.yaml', '# padding\n'.repeat(200000)),
    hugeRepeat: f('repeat.yaml', 'repeat: 100000000\nkernels:\n  - name: stock\n    stock: true\nsuites:\n  - name: smoke\n'),
    nestedMime: f('nested.mbox', nested + '--b5000\nContent-Type: text/plain\n\nhello\n'),
    manyParts: f('parts.mbox', parts),
    bigKnown: f('known.txt', '# padding\n'.repeat(500_000)),
    manyMails: f('archive.mbox', Array.from({ length: 20000 }, (_, i) => `From x Mon Jan  1 00:00:00 2024\nFrom: a@example.org\nSubject: s${i}\n\nhello\n\n`).join('')),
    report: f('report.txt', 'BUG: unable to handle page fault for address: ffff888000000000\n'),
    night,
  };
}

/** The probes, their files written under `dir`. */
export function hostileProbes(dir: string): Probe[] {
  const x = writeFixtures(dir);
  const range = (opt: string) => new RegExp(`${opt.replace(/[-]/g, '\\-')} .*(out of range|not a port|not a whole number)`);
  return [
    // Ports: QEMU's hostfwd binds 127.0.0.1, so 1024-65535.
    { name: 'ssh port past 65535', args: ['run', '--ssh-port', '70000'], says: range('--ssh-port') },
    { name: 'privileged ssh port', args: ['run', '--ssh-port', '80'], says: range('--ssh-port') },
    { name: 'negative ssh port', args: ['shell', '--ssh-port=-1'], says: range('--ssh-port') },
    // Durations past Node's 2^31-1 ms timer would fire at once.
    { name: 'boot timeout past the timer', args: ['run', '--boot-timeout', '4000000'], says: range('--boot-timeout') },
    { name: 'hang timeout past the timer', args: ['run', '--hang-timeout', '99999999999'], says: range('--hang-timeout') },
    { name: 'keep-idle of a month', args: ['run', '--keep', '--keep-idle', '30d'], says: range('--keep-idle') },
    { name: 'repro budget of a month', args: ['repro', '--budget', '4w', x.report], says: range('--budget') },
    { name: 'nightly boot timeout past the timer', args: ['nightly', x.hugeRepeat, '--boot-timeout', '3000000'], says: range('--boot-timeout') },
    { name: 'cache age in the millennia', args: ['cache', 'prune', '--older-than', '99999999w'], says: range('--older-than') },
    // Counts.
    { name: 'eleven-digit NVDIMM count', args: ['run', '--nvdimms', '99999999999'], says: range('--nvdimms') },
    { name: 'RAM of 10^30 GiB', args: ['run', '--mem', `1${'0'.repeat(30)}G`], says: /--mem "10+G" is not a size any guest could have/ },
    { name: 'no vCPU', args: ['run', '--cpus', '0'], says: range('--cpus') },
    { name: 'a million passes', args: ['run', '--repeat', '1000000'], says: range('--repeat') },
    { name: 'seed past 2^31', args: ['run', '--seed', '99999999999999999999'], says: range('--seed') },
    { name: 'stressor seconds in exponent form', args: ['run', '--seconds', '1e9'], says: range('--seconds') },
    { name: 'no nightly jobs', args: ['nightly', x.hugeRepeat, '--jobs', '0'], says: range('--jobs') },
    { name: 'a million nightly jobs', args: ['nightly', x.hugeRepeat, '--jobs', '1000000'], says: range('--jobs') },
    { name: 'shard of 10^20 jobs', args: ['nightly', x.hugeRepeat, '--shard', '1/100000000000000000000'], says: /--shard 1\/1+0+: i must be from 1 to N, and N from 1 to 10000/ },
    { name: 'reruns by the thousand', args: ['nightly', x.hugeRepeat, '--rerun-failures', '1000'], says: range('--rerun-failures') },
    { name: 'bisect boots past the budget', args: ['bisect', '--series', x.report, '--test', 'smoke:ext4', '--max-boots', '99999999999'], says: range('--max-boots') },
    { name: 'bisect seconds past a day', args: ['bisect', '--series', x.report, '--test', 'stressors:vma_ops', '--seconds', '999999'], says: range('--seconds') },
    { name: 'repro confirm runs by the million', args: ['repro', '--confirm', '1000000', x.report], says: range('--confirm') },
    { name: 'make jobs by the million', args: ['build', '--jobs', '1000000'], says: range('--jobs') },
    { name: 'keep-last past sense', args: ['cache', 'prune', '--keep-last', '99999999999'], says: range('--keep-last') },
    { name: 'history of no nights', args: ['results', 'history', 'x', '--nights', '0'], says: range('--nights') },
    { name: 'a config fragment mistyped', args: ['run', '--config', 'dax,debgu-vm'], says: /no config fragment "debgu-vm"/ },
    // Config files.
    { name: 'YAML alias bomb', args: ['nightly', x.laughs], says: /alias/ },
    { name: 'YAML nested 50000 deep', args: ['nightly', x.deepYaml], says: /deep\.yaml: not a usable config: it opens over 1000/ },
    { name: 'YAML of 100000 "- " on a line', args: ['nightly', x.dashYaml], says: /dash\.yaml: not a usable config: line 1 is indented or nested/ },
    { name: 'night id that climbs out', args: ['nightly', x.hugeRepeat, '--night', '../../etc'], says: /--night "\.\.\/\.\.\/etc" is not a usable name/ },
    { name: 'YAML over 1 MiB', args: ['nightly', x.bigYaml], says: /big\.yaml: \d+ bytes is over/ },
    { name: 'config repeat of 10^8', args: ['nightly', x.hugeRepeat], says: /repeat: must be a whole number from 1 to 1000/ },
    { name: 'known-outcome list of 5 MB', args: ['run', '--known', x.bigKnown], says: /known-outcome file .*known\.txt is over 4 MiB/ },
    // Mails.
    { name: 'MIME nested 5000 deep (bisect)', args: ['bisect', '--series', x.nestedMime, '--test', 'smoke:ext4'], says: /nested\.mbox#1 is not a mail .*multipart/ },
    { name: 'MIME with 100000 parts (bisect)', args: ['bisect', '--series', x.manyParts, '--test', 'smoke:ext4'], says: /parts\.mbox#1 is not a mail .*MIME parts/ },
    { name: 'MIME with 100000 parts (run)', args: ['run', '--series', x.manyParts], says: /parts\.mbox#1 is not a mail .*MIME parts/ },
    { name: 'MIME nested 5000 deep (parse-log)', args: ['parse-log', x.nestedMime], says: /is not a mail .*multipart/ },
    { name: 'MIME with 100000 parts (repro)', args: ['repro', '--dry-run', x.manyParts], says: /is not a mail .*MIME parts/ },
    { name: 'an archive of 20000 mails (parse-log)', args: ['parse-log', x.manyMails], says: /holds 20000 mails, over the 10000/ },
    // A night id from night.json used as a path.
    { name: 'merge of a night named ../../..', args: ['merge', x.night], says: /not a usable night id/ },
  ];
}

/** One probe through the real CLI, with a cache and results root of its own (checked empty afterwards). */
export function runProbe(p: Probe, scratch: string): Promise<ProbeResult> {
  const cache = mkdtempSync(join(scratch, 'cache-'));
  const results = mkdtempSync(join(scratch, 'results-'));
  const env = { ...process.env, DAX_HARNESS_CACHE: cache, DAX_HARNESS_RESULTS: results };
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...p.args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.resume();
    // A probe that hangs is a finding, not a bench that never ends.
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      const ms = performance.now() - t0;
      const written = [...readdirSync(cache).map((f) => `cache/${f}`), ...readdirSync(results).map((f) => `results/${f}`)];
      resolve({ probe: p, code, signal, lines: err.split('\n').filter((l) => l !== ''), ms, written });
    });
  });
}

/** How long `dax-harness --help` takes: node and the module loader, the floor under every probe. */
export async function startupFloor(scratch: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 2; i++) times.push((await runProbe({ name: 'floor', args: ['run', '--help'], says: /./ }, scratch)).ms);
  return Math.min(...times);
}

/** What is wrong with a probe's outcome (empty: exit 2, one line saying the right thing, nothing written). */
export function problems(r: ProbeResult): string[] {
  const out: string[] = [];
  if (r.code !== 2) out.push(`exit ${r.code ?? r.signal}, not 2`);
  if (r.lines.length !== 1) out.push(`${r.lines.length} stderr lines, not 1: ${r.lines.slice(0, 3).join(' | ').slice(0, 300)}`);
  else if (!r.probe.says.test(r.lines[0]!)) out.push(`says "${r.lines[0]!.slice(0, 200)}", not ${r.probe.says}`);
  else if (!/^dax-harness [a-z-]+: /.test(r.lines[0]!)) out.push('the line does not name the command');
  if (r.written.length) out.push(`wrote ${r.written.join(', ')}`);
  return out;
}

/** Every probe, one after another (they are timed), in a scratch directory removed afterwards. */
export async function runHostileProbes(onResult: (r: ProbeResult) => void = () => {}): Promise<{ results: ProbeResult[]; floorMs: number }> {
  const scratch = mkdtempSync(join(tmpdir(), 'daxh-hostile-'));
  try {
    const probes = hostileProbes(scratch);
    const floorMs = await startupFloor(scratch);
    const results: ProbeResult[] = [];
    for (const p of probes) {
      const r = await runProbe(p, scratch);
      results.push(r);
      onResult(r);
    }
    return { results, floorMs };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** A row of bench/hostile's tables: what was measured, its figures, and whether the goal was met ("yes" or "NO: ..."). */
export interface ProbeRow {
  what: string;
  figures: Record<string, string>;
  goal: string;
}

/**
 * bench/hostile's "input" section: a row per probe, then the tally (probes
 * tried, how many ended with each exit code, the slowest time past the
 * start-up floor). Goal: every probe exits 2 with one line within 1 s.
 */
export async function inputSection(): Promise<ProbeRow[]> {
  const { results, floorMs } = await runHostileProbes();
  const rows: ProbeRow[] = results.map((r) => {
    const bad = problems(r);
    if (r.ms - floorMs > 1000) bad.push(`${((r.ms - floorMs) / 1000).toFixed(2)} s past start-up`);
    return { what: r.probe.name, figures: { exit: String(r.code ?? r.signal), s: (r.ms / 1000).toFixed(2) }, goal: bad.length ? `NO: ${bad.join('; ')}` : 'yes' };
  });
  const byCode = new Map<string, number>();
  for (const r of results) byCode.set(String(r.code ?? r.signal), (byCode.get(String(r.code ?? r.signal)) ?? 0) + 1);
  const slowest = Math.max(...results.map((r) => r.ms));
  const failed = rows.filter((r) => r.goal !== 'yes').length;
  rows.push({
    what: 'bad-input probes',
    figures: {
      tried: String(results.length),
      'exit codes': [...byCode].map(([c, n]) => `${c}x${n}`).join(' '),
      'slowest s': (slowest / 1000).toFixed(2),
      'start-up floor s': (floorMs / 1000).toFixed(2),
      'slowest past floor s': ((slowest - floorMs) / 1000).toFixed(2),
    },
    goal: failed ? `NO: ${failed} of ${results.length} probes not exit 2 with one line within 1 s of start-up` : 'yes',
  });
  return rows;
}
