// A hostile guest and hostile input against the harness, in sections; each
// measurement runs in a child process of its own so its peak RSS is its own.
//   npm run bench:hostile                      every section
//   npm run bench:hostile -- --section stack   one section (repeatable)
//   npm run bench:hostile -- --mb 100          the console/stack volume
//
// Sections:
//   console  50 MB without a newline through the console stream and the live
//            oracle, as QEMU's stdout reaches them (64 KiB chunks), plus the
//            console.log writer. Goal: linear time, <= 300 MB RSS, >= 50 MB/s
//            (of CPU time: on a shared host the wall clock measures the neighbours too).
//   stack    50 MB of one endless stack (a recursion that never ends) the
//            same way, then the report's record as --json prints it. Same goals.
//   parse    parseLog on an 8 MB line beside a 1 MB line of "BUG: " repeated,
//            and on 20 MB of console noise with a report every 5000 lines,
//            each at an eighth of that too (sizes scale with --mb / 50).
//            Goal: linear, the time at 8x the bytes under 16x (quadratic is 64x).
//   input    every bad-input probe of bench/hostile-probes.ts (out-of-range
//            numbers, ports and durations on every command, YAML and MIME
//            bombs, over-large files, a night id that climbs out of the
//            results) through the real CLI: exit code, stderr lines, time.
//            Goal: all exit 2 with one line, within 1 s of start-up.
// A section is a function from its options to rows of figures: add one to
// SECTIONS (with its line in the list above) and it runs in its own child.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ConsoleStream } from '../harness/src/vm/console.ts';
import { ReportDetector, parseLog } from '../harness/src/oracle/index.ts';
import { CappedFile, logCaps } from '../harness/src/host/capped-file.ts';
import type { CrashReport } from '../harness/src/results/records.ts';
import { inputSection } from './hostile-probes.ts';

export interface SectionOptions {
  /** MB (10^6 bytes) of hostile console. */
  mb: number;
}

/** One line of a section's table: what was measured and the figures, already formatted. */
export interface Row {
  what: string;
  figures: Record<string, string>;
  /** The goal and whether it was met, in words ("yes", "NO: 412 MB RSS"). */
  goal: string;
}

export type Section = (o: SectionOptions) => Promise<Row[]>;

const CHUNK = 64 * 1024;

/** The harness's live path: QEMU's stdout → console stream → oracle and console.log. */
async function throughHarness(chunks: () => Iterable<string>, bytes: number): Promise<{ ms: number; cpuMs: number; reports: CrashReport[]; lines: number; logBytes: number; maxBlockMs: number; jsonBytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-hostile-'));
  try {
    const stream = new ConsoleStream();
    const reports: CrashReport[] = [];
    const det = new ReportDetector({ onReport: (r) => reports.push(r) });
    const log = new CappedFile(join(dir, 'console.log'), { capBytes: logCaps().consoleBytes, what: 'console.log', batch: true });
    stream.subscribe((l) => det.push(l));
    stream.subscribe((l) => log.write(`${l}\n`));
    // Chunks arrive as I/O callbacks do: the event loop turns between them, and the longest turn is how long the harness stops answering.
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (const c of chunks()) {
      stream.write(c);
      await new Promise((r) => setImmediate(r));
    }
    stream.end();
    det.flush();
    det.close();
    log.close();
    const jsonBytes = Buffer.byteLength(JSON.stringify(reports, null, 2));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    delay.disable();
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, reports, lines: stream.lines(), logBytes: statSync(join(dir, 'console.log')).size, maxBlockMs: delay.max / 1e6, jsonBytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function* repeatChunks(chunk: string, bytes: number): Iterable<string> {
  for (let sent = 0; sent < bytes; sent += chunk.length) yield sent + chunk.length <= bytes ? chunk : chunk.slice(0, bytes - sent);
}

const peakRssMB = () => process.resourceUsage().maxRSS / 1024;

function figures(bytes: number, r: Awaited<ReturnType<typeof throughHarness>>): Row['figures'] {
  return {
    MB: (bytes / 1e6).toFixed(0),
    s: (r.ms / 1000).toFixed(2),
    'CPU s': (r.cpuMs / 1000).toFixed(2),
    'MB/s': (bytes / 1e6 / (r.ms / 1000)).toFixed(0),
    'MB/CPU s': (bytes / 1e6 / (r.cpuMs / 1000)).toFixed(0),
    'peak RSS MB': peakRssMB().toFixed(0),
    'longest block ms': r.maxBlockMs.toFixed(0),
    'console.log KB': (r.logBytes / 1024).toFixed(0),
  };
}

// The rate goal is judged on CPU time: on a shared host the wall clock also
// measures the neighbours (both are printed).
function goal(bytes: number, cpuMs: number, extra: string[] = [], halfCpuMs?: number, eighthCpuMs?: number): string {
  const bad = [...extra];
  // Twice the bytes should cost twice the time, eight times eight; quadratic would be four and 64 times.
  if (halfCpuMs !== undefined && cpuMs > 200 && cpuMs / halfCpuMs > 3) bad.push(`not linear: ${(cpuMs / halfCpuMs).toFixed(1)}x the time for 2x the bytes`);
  if (eighthCpuMs !== undefined && cpuMs > 200 && cpuMs / eighthCpuMs > 16) bad.push(`not linear: ${(cpuMs / eighthCpuMs).toFixed(1)}x the time for 8x the bytes`);
  const rss = peakRssMB();
  const rate = bytes / 1e6 / (cpuMs / 1000);
  if (rss > 300) bad.push(`${rss.toFixed(0)} MB RSS`);
  if (rate < 50) bad.push(`${rate.toFixed(0)} MB per CPU second`);
  return bad.length ? `NO: ${bad.join(', ')}` : 'yes';
}

/** CPU time at an eighth, a half and all of the bytes, and the ratios (near 2 and 8 when linear; 4 and 64 when quadratic). */
function scaling(eighthMs: number, halfMs: number, fullMs: number): Row['figures'] {
  return {
    'CPU ms at 1/8, 1/2, 1': [eighthMs, halfMs, fullMs].map((m) => m.toFixed(1)).join(' / '),
    'CPU x for 2x bytes': (fullMs / halfMs).toFixed(1),
    'CPU x for 8x bytes': (fullMs / eighthMs).toFixed(1),
  };
}

/** CPU milliseconds of the fastest of three calls (the first also warms the code up). */
function cpuOf(f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000);
  }
  return best;
}

/** A parseLog input at an eighth of its size and at all of it: both timed, side by side with the ratio. */
function parseRow(what: string, make: (scale: number) => string, check: (text: string, found: CrashReport[]) => string[]): Row {
  const small = make(1 / 8);
  const big = make(1);
  let found: CrashReport[] = [];
  const smallMs = cpuOf(() => parseLog(small));
  const bigMs = cpuOf(() => (found = parseLog(big)));
  const bad = check(big, found);
  const x = bigMs / smallMs;
  if (bigMs > 200 && x > 16) bad.push(`not linear: ${x.toFixed(1)}x the time for 8x the bytes`);
  return {
    what,
    figures: {
      'MB at 1/8, 1': `${(small.length / 1e6).toFixed(2)} / ${(big.length / 1e6).toFixed(2)}`,
      'CPU ms at 1/8, 1': `${smallMs.toFixed(1)} / ${bigMs.toFixed(1)}`,
      'CPU x for 8x bytes': x.toFixed(1),
      'MB/CPU s': (big.length / 1e6 / (bigMs / 1000)).toFixed(0),
      reports: String(found.length),
    },
    goal: bad.length ? `NO: ${bad.join(', ')}` : 'yes',
  };
}

const GPF = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../harness/src/oracle/corpus/gpf-kasan-null.log'), 'utf8');
const NOISE = [
  '[  100.000001] EXT4-fs (pmem0): mounted filesystem 2adea02a r/w with ordered data mode. Quota mode: none.',
  '[  100.000002] nd_pmem namespace0.0: unable to guarantee persistence of writes',
  'pmd_pte_mix: iteration 1234 ok (8 threads, 512 faults)',
  '[  100.000003] rcu: Hierarchical RCU implementation.',
].join('\n');

const STACK_HEAD = [
  '[   10.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008',
  '[   10.000001] #PF: supervisor write access in kernel mode',
  '[   10.000002] Oops: 0002 [#1] PREEMPT SMP NOPTI',
  '[   10.000003] CPU: 0 PID: 77 Comm: dax_recurse Not tainted 6.1.0 #1',
  '[   10.000004] RIP: 0010:dax_recurse+0x10/0x20',
  '[   10.000005] Call Trace:',
  '[   10.000006]  <TASK>',
].join('\n');

export const SECTIONS: Record<string, Section> = {
  async console({ mb }) {
    const bytes = mb * 1e6;
    const run = (n: number) => throughHarness(() => repeatChunks('A'.repeat(CHUNK), n), n);
    await run(bytes / 8); // warm-up: the first run also compiles the code
    const eighth = await run(bytes / 8);
    const half = await run(bytes / 2);
    const r = await run(bytes);
    const bad = r.lines !== 1 ? [`${r.lines} lines`] : [];
    return [{ what: `${mb} MB console line without a newline`, figures: { ...figures(bytes, r), ...scaling(eighth.cpuMs, half.cpuMs, r.cpuMs) }, goal: goal(bytes, r.cpuMs, bad, half.cpuMs, eighth.cpuMs) }];
  },

  async stack({ mb }) {
    const bytes = mb * 1e6;
    // Frames of a recursion: what a kernel stuck printing one stack prints.
    // Made before the clock starts (the guest makes them, not the harness):
    // 16 different chunks in turn.
    const made: string[] = [];
    for (let n = 0; made.length < 16; ) {
      let c = '';
      while (c.length < CHUNK) {
        c += `[   10.${100000 + n}]  dax_recurse_${n % 5}+0x${(0x10 + (n % 7)).toString(16)}/0x80\n`;
        n++;
      }
      made.push(c);
    }
    const frames = (total: number) =>
      function* () {
        yield STACK_HEAD + '\n';
        for (let sent = 0, i = 0; sent < total; i++) {
          const c = made[i % made.length]!;
          sent += c.length;
          yield c;
        }
      };
    await throughHarness(frames(bytes / 8), bytes / 8); // warm-up
    const eighth = await throughHarness(frames(bytes / 8), bytes / 8);
    const half = await throughHarness(frames(bytes / 2), bytes / 2);
    const r = await throughHarness(frames(bytes), bytes);
    const rep = r.reports[0];
    const bad: string[] = [];
    if (r.reports.length !== 1) bad.push(`${r.reports.length} reports`);
    if (!rep?.truncated) bad.push('not marked truncated');
    return [
      {
        what: `${mb} MB endless stack`,
        figures: {
          ...figures(bytes, r),
          ...scaling(eighth.cpuMs, half.cpuMs, r.cpuMs),
          'report lines': String(rep?.lines.length ?? 0),
          'dropped lines': String(rep?.truncated?.lines ?? 0),
          '--json KB': (r.jsonBytes / 1024).toFixed(0),
          title: rep?.title ?? '(none)',
        },
        goal: goal(bytes, r.cpuMs, bad, half.cpuMs, eighth.cpuMs),
      },
    ];
  },

  // test/unit/oracle-robust.test.ts's two large inputs (at --mb 50), timed here rather than there.
  async parse({ mb }) {
    const k = mb / 50;
    const longLine = (scale: number) => 'x'.repeat(Math.round(8e6 * k * scale)) + '\n' + 'BUG: '.repeat(Math.round(200000 * k * scale)) + '\n';
    const noisy = (scale: number) => {
      const chunks: string[] = [];
      for (let size = 0, i = 0; size < 20e6 * k * scale; i++) {
        const c = i % 5000 === 2500 ? GPF : NOISE + '\n';
        chunks.push(c);
        size += c.length;
      }
      return chunks.join('');
    };
    return [
      parseRow('a long junk line beside a line of "BUG: " repeated', longLine, (_, found) => (found.length ? [`${found.length} reports from junk`] : [])),
      parseRow('console noise with a report every 5000 lines', noisy, (text, found) => {
        const want = text.split(GPF).length - 1;
        return found.length === want ? [] : [`${found.length} reports of ${want}`];
      }),
    ];
  },

  // The CLI's answers to bad input; --mb does not apply (the probes are what they are).
  input: () => inputSection(),
};

// ------------------------------------------------------------------ driver

const self = fileURLToPath(import.meta.url);

async function child(name: string, o: SectionOptions): Promise<void> {
  const rows = await SECTIONS[name]!(o);
  process.stdout.write(JSON.stringify(rows));
}

function inChild(name: string, o: SectionOptions): Row[] {
  const r = spawnSync(process.execPath, [...process.execArgv, self, '--child', name, '--mb', String(o.mb)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) return [{ what: name, figures: {}, goal: `NO: the section failed (${r.signal ?? `exit ${r.status}`}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` }];
  return JSON.parse(r.stdout) as Row[];
}

function print(name: string, rows: Row[]): void {
  console.log(`\n== ${name}`);
  for (const row of rows) {
    console.log(`${row.what}: ${Object.entries(row.figures).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(`  goal met: ${row.goal}`);
  }
}

if (process.argv[1] === self) {
  const { values } = parseArgs({ options: { section: { type: 'string', multiple: true }, mb: { type: 'string', default: '50' }, child: { type: 'string' } } });
  const mb = Number(values.mb);
  if (!Number.isFinite(mb) || mb <= 0 || mb > 10000) {
    console.error(`bench:hostile: --mb ${values.mb} is not a size: use 1-10000`);
    process.exit(2);
  }
  if (values.child) await child(values.child, { mb });
  else {
    const names = values.section?.length ? values.section : Object.keys(SECTIONS);
    const unknown = names.filter((n) => !SECTIONS[n]);
    if (unknown.length) {
      console.error(`bench:hostile: no section ${unknown.join(', ')}: choose from ${Object.keys(SECTIONS).join(', ')}`);
      process.exit(2);
    }
    let failed = 0;
    for (const n of names) {
      const rows = inChild(n, { mb });
      failed += rows.filter((r) => r.goal !== 'yes').length;
      print(n, rows);
    }
    process.exitCode = failed ? 1 : 0;
  }
}
