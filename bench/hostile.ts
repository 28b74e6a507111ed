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
//   input    every bad-input probe of bench/hostile-probes.ts (out-of-range
//            numbers, ports and durations on every command, YAML and MIME
//            bombs, over-large files, a night id that climbs out of the
//            results) through the real CLI: exit code, stderr lines, time.
//            Goal: all exit 2 with one line, within 1 s of start-up.
// A section is a function from its options to rows of figures: add one to
// SECTIONS (with its line in the list above) and it runs in its own child.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ConsoleStream } from '../harness/src/vm/console.ts';
import { ReportDetector } from '../harness/src/oracle/index.ts';
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
function goal(bytes: number, cpuMs: number, extra: string[] = [], halfCpuMs?: number): string {
  const bad = [...extra];
  // Twice the bytes should cost twice the time; quadratic would be four times.
  if (halfCpuMs !== undefined && cpuMs > 200 && cpuMs / halfCpuMs > 3) bad.push(`not linear: ${(cpuMs / halfCpuMs).toFixed(1)}x the time for 2x the bytes`);
  const rss = peakRssMB();
  const rate = bytes / 1e6 / (cpuMs / 1000);
  if (rss > 300) bad.push(`${rss.toFixed(0)} MB RSS`);
  if (rate < 50) bad.push(`${rate.toFixed(0)} MB per CPU second`);
  return bad.length ? `NO: ${bad.join(', ')}` : 'yes';
}

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
    const half = await run(bytes / 2);
    const r = await run(bytes);
    const bad = r.lines !== 1 ? [`${r.lines} lines`] : [];
    return [{ what: `${mb} MB console line without a newline`, figures: { ...figures(bytes, r), 'CPU x for 2x bytes': (r.cpuMs / half.cpuMs).toFixed(1) }, goal: goal(bytes, r.cpuMs, bad, half.cpuMs) }];
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
          'CPU x for 2x bytes': (r.cpuMs / half.cpuMs).toFixed(1),
          'report lines': String(rep?.lines.length ?? 0),
          'dropped lines': String(rep?.truncated?.lines ?? 0),
          '--json KB': (r.jsonBytes / 1024).toFixed(0),
          title: rep?.title ?? '(none)',
        },
        goal: goal(bytes, r.cpuMs, bad, half.cpuMs),
      },
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
