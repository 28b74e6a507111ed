// bench/parse: parser throughput on a large synthetic console log, and the
// latency from a report's last line reaching a console file to the verdict of a
// ReportDetector tailing that file. Run: node --import tsx bench/parse.ts [MB]
import { mkdtempSync, readFileSync, writeFileSync, appendFileSync, openSync, readSync, closeSync, rmSync, watch, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseLog, parseLines, ReportDetector } from '../harness/src/oracle/index.js';
import type { CrashReport } from '../harness/src/results/records.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '../harness/src/oracle/corpus');
const targetMB = Number(process.argv[2] ?? 120);

const NOISE = [
  'EXT4-fs (pmem0): mounted filesystem 2adea02a-a791-4714-be40-125afd16634b r/w with ordered data mode. Quota mode: none.',
  'XFS (pmem1): Mounting V5 Filesystem 5d0f77a1-9b2c-4d8e-a1f2-3c4b5d6e7f80',
  'nd_pmem namespace0.0: unable to guarantee persistence of writes',
  'pmem0: detected capacity change from 0 to 8589934592',
  'dax_pmem dax0.0: unable to guarantee persistence of writes',
  'systemd[1]: Started Journal Service.',
  'random: crng reseeded on system resumption',
  'Memory failure: 0x17c000: recovery action for dax page: Recovered',
  'rcu: Hierarchical RCU implementation.',
  'Dentry cache hash table entries: 524288 (order: 10, 4194304 bytes, linear)',
];
const TEST_OUT = [
  'pmd_pte_mix: iteration 1234 ok (8 threads, 512 faults)',
  'layout_vs_fault: punch 0x200000+0x200000',
  ' 3/13 ndctl:dax / sub-section.sh                    OK               7.21s',
  'fork_storm: child 117 exited with status 0',
];

function buildLog(): { text: string; reports: number } {
  const reportsText = ['dax-pmd-6.6-console', 'kasan-uaf', 'lockdep-circular', 'warning-old', 'hung-task'].map((n) => readFileSync(join(corpus, `${n}.log`), 'utf8'));
  const parts: string[] = [];
  let size = 0;
  let t = 0;
  let n = 0;
  let reports = 0;
  const every = Math.floor((targetMB * 1e6) / 6);
  let nextReport = every;
  while (size < targetMB * 1e6) {
    const block: string[] = [];
    for (let i = 0; i < 1000; i++) {
      t += 0.000137;
      n++;
      const l = n % 7 === 0 ? TEST_OUT[n % TEST_OUT.length]! : `[${t.toFixed(6).padStart(12)}] ${NOISE[n % NOISE.length]}`;
      block.push(l);
    }
    const b = block.join('\n') + '\n';
    parts.push(b);
    size += b.length;
    if (size >= nextReport) {
      const r = reportsText[reports % reportsText.length]!;
      parts.push(r);
      size += r.length;
      reports++;
      nextReport += every;
    }
  }
  return { text: parts.join(''), reports };
}

async function throughput(): Promise<void> {
  const { text, reports } = buildLog();
  const mb = text.length / 1e6;
  const dir = mkdtempSync(join(tmpdir(), 'dax-bench-'));
  const file = join(dir, 'console.log');
  writeFileSync(file, text);
  let best = Infinity;
  let found: CrashReport[] = [];
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    found = parseLog(text);
    best = Math.min(best, performance.now() - t0);
  }
  const t1 = performance.now();
  const rl = createInterface({ input: createReadStream(file, { highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  const streamed = await parseLines(rl);
  const streamMs = performance.now() - t1;
  rmSync(dir, { recursive: true, force: true });
  console.log(`synthetic log: ${mb.toFixed(1)} MB, ${reports} reports inserted, ${found.length} found (streamed: ${streamed.length})`);
  console.log(`parseLog throughput: ${(mb / (best / 1000)).toFixed(1)} MB/s (${best.toFixed(0)} ms)`);
  console.log(`streamed file throughput (readline + parser): ${(mb / (streamMs / 1000)).toFixed(1)} MB/s (${streamMs.toFixed(0)} ms)`);
}

// Tails a file the way the console capture is followed: fs.watch plus a short poll as backstop.
async function latency(runs: number): Promise<number[]> {
  const report = readFileSync(join(corpus, 'dax-pmd-6.6-console.log'), 'utf8').split('\n').filter(Boolean);
  const warn = readFileSync(join(corpus, 'lockdep-circular.log'), 'utf8').split('\n').filter(Boolean).slice(0, -1);
  const out: number[] = [];
  for (let run = 0; run < runs; run++) {
    // Alternate a report with an end marker (fatal BUG) and one without (lockdep, idle-terminated).
    const lines = run % 2 === 0 ? report : warn;
    const dir = mkdtempSync(join(tmpdir(), 'dax-tail-'));
    const file = join(dir, 'console.log');
    writeFileSync(file, '');
    let pos = 0;
    let rest = '';
    let lastAppend = 0;
    const times: number[] = [];
    let cleanup = () => {};
    const got = new Promise<number>((resolve) => {
      const det = new ReportDetector({
        onReport: (r) => {
          // Measured from the moment the report's own last line reached the file.
          resolve(performance.now() - (times[r.endLine] ?? lastAppend));
          cleanup();
        },
        idleMs: 300,
      });
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(1 << 16);
      let open = true;
      const pump = () => {
        while (open) {
          const n = readSync(fd, buf, 0, buf.length, pos);
          if (n <= 0) break;
          pos += n;
          const s = rest + buf.subarray(0, n).toString('utf8');
          const parts = s.split('\n');
          rest = parts.pop()!;
          for (const p of parts) if (open) det.push(p);
        }
      };
      const w = watch(file, pump);
      const poll = setInterval(pump, 50);
      cleanup = () => {
        cleanup = () => {};
        open = false;
        w.close();
        clearInterval(poll);
        det.close();
        closeSync(fd);
      };
    });
    appendFileSync(file, 'pmd_pte_mix: starting\n[  1.000000] EXT4-fs (pmem0): mounted filesystem\n');
    times.push(performance.now(), performance.now());
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < lines.length; i++) {
      appendFileSync(file, lines[i] + '\n');
      lastAppend = performance.now();
      times.push(lastAppend);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 2));
    }
    const ms = await Promise.race([got, new Promise<number>((r) => setTimeout(() => r(NaN), 5000))]);
    cleanup();
    out.push(ms);
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

await throughput();
const lat = await latency(6);
const fatal = lat.filter((_, i) => i % 2 === 0);
const idle = lat.filter((_, i) => i % 2 === 1);
console.log(`tail latency, report with end marker (fatal BUG): ${fatal.map((x) => x.toFixed(0)).join(', ')} ms (max ${Math.max(...fatal).toFixed(0)} ms)`);
console.log(`tail latency, report without end marker (idle 300 ms): ${idle.map((x) => x.toFixed(0)).join(', ')} ms (max ${Math.max(...idle).toFixed(0)} ms)`);
