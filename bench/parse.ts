// bench/parse: crash-oracle throughput on a mixed console log, the latency from
// a report's last line reaching a console file to a ReportDetector's verdict,
// and how long `dax-harness parse-log` takes to start.
// Run: npm run bench:parse [-- MB]   (default 40 MB of mixed log)
//
// The mixed log is what consoles look like: every report of the corpus beside
// the oracle (all kinds, not only DAX), each between stretches of ordinary
// output — boot and driver messages, SELinux audit lines, test runners, long
// fuzzer program lines — about a third of the bytes being report text.
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, appendFileSync, openSync, readSync, closeSync, rmSync, watch, createReadStream } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseLog, parseLines, ReportDetector } from '../harness/src/oracle/index.js';
import type { CrashReport } from '../harness/src/results/records.js';
import { formatSummary, loadCorpus, summarize } from './oracle-corpus.ts';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = join(here, '../harness/src/oracle/corpus');
const targetMB = Number(process.argv[2] ?? 40);

const corpusLogs = readdirSync(corpus)
  .filter((f) => f.endsWith('.log'))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(join(corpus, f), 'utf8'), reports: (JSON.parse(readFileSync(join(corpus, f.replace(/\.log$/, '.expected.json')), 'utf8')) as { reports: unknown[] }).reports.length }));
const reportLogs = corpusLogs.filter((l) => l.reports > 0);

// A small deterministic generator, so every run parses the same bytes.
let seed = 12345;
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  // The low bits of this generator repeat quickly; the high ones do not.
  return (seed >>> 12) % n;
};
const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[rnd(16)]).join('');

const KERNEL = [
  () => `EXT4-fs (pmem${rnd(2)}): mounted filesystem ${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)} r/w with ordered data mode. Quota mode: none.`,
  () => `XFS (pmem1): Mounting V5 Filesystem ${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
  () => 'nd_pmem namespace0.0: unable to guarantee persistence of writes',
  () => `pmem0: detected capacity change from 0 to ${rnd(1 << 30) * 8}`,
  () => `audit: type=1400 audit(${1700000000 + rnd(100000)}.${rnd(1000)}:${rnd(999)}): avc:  denied  { read write } for  pid=${rnd(30000)} comm="syz-executor.${rnd(6)}" path="/dev/dax0.0" dev="devtmpfs" ino=${rnd(9999)} scontext=root:sysadm_r:sysadm_t:s0-s0:c0.c1023 tcontext=system_u:object_r:device_t:s0 tclass=chr_file permissive=1`,
  () => `systemd[1]: Started session-${rnd(99)}.scope - Session ${rnd(99)} of User root.`,
  () => `Memory failure: 0x${hex(6)}: recovery action for dax page: Recovered`,
  () => `device-dax: dax0.0: mapping ${rnd(64)}: 0x${hex(9)}-0x${hex(9)} (2048M)`,
  () => `random: crng reseeded on system resumption`,
  () => `virtio_net virtio0 eth0: renamed from eth${rnd(3)}`,
];
const USER = [
  () => `${2026}/11/21 08:${String(rnd(60)).padStart(2, '0')}:${String(rnd(60)).padStart(2, '0')} executing program ${rnd(8)}:`,
  () => `r${rnd(9)} = openat$dax(0xffffffffffffff9c, &(0x7f00000${hex(5)})='./file${rnd(9)}\\x00', 0x${hex(5)}, 0x${hex(3)})`,
  () => `mmap(&(0x7f0000${hex(6)}/0x${hex(6)})=nil, 0x${hex(6)}, 0x3, 0x11, r${rnd(9)}, 0x0) ; fallocate(r${rnd(9)}, 0x3, 0x${hex(6)}, 0x${hex(6)}) ; ioctl$FS_IOC_FSSETXATTR(r${rnd(9)}, 0x401c5820, &(0x7f0000000100)={0x${hex(4)}, 0x${hex(4)}, 0x0, 0x0, 0x0, [0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0]})`,
  () => ` ${rnd(13) + 1}/13 ndctl:dax / ${['daxdev-errors.sh', 'multi-dax.sh', 'sub-section.sh', 'dax-ext4.sh'][rnd(4)]}                  OK              ${rnd(20)}.${rnd(99)}s`,
  () => `pmd_pte_mix: iteration ${rnd(9999)} ok (8 threads, ${rnd(1024)} faults)`,
  () => `fio: ${rnd(4)} jobs, read: IOPS=${rnd(99999)}, BW=${rnd(9999)}MiB/s (${rnd(9999)}MB/s)(${rnd(99)}.${rnd(9)}GiB/${rnd(99999)}msec); lat (usec): min=${rnd(9)}, max=${rnd(9999)}, avg=${rnd(99)}.${rnd(99)}, stdev=${rnd(99)}.${rnd(99)}`,
];

/** The mixed log: reports of every kind between stretches of ordinary console output. */
function mixedLog(mb: number): { text: string; reports: number } {
  const out: string[] = [];
  let size = 0;
  let t = 100;
  let reports = 0;
  for (let k = 0; size < mb * 1e6; k++) {
    // Two bytes of ordinary output per byte of report.
    const log = reportLogs[k % reportLogs.length]!;
    const noise: string[] = [];
    let n = 0;
    while (n < 2 * log.text.length) {
      t += 0.000137;
      const l = rnd(3) === 0 ? USER[rnd(USER.length)]!() : `[${t.toFixed(6).padStart(12)}] ${KERNEL[rnd(KERNEL.length)]!()}`;
      noise.push(l);
      n += l.length + 1;
    }
    const chunk = noise.join('\n') + '\n' + log.text;
    out.push(chunk);
    size += chunk.length;
    reports += log.reports;
  }
  return { text: out.join(''), reports };
}

/** CPU and wall time of the fastest of `runs`. */
function measure(runs: number, f: () => void): { cpu: number; wall: number } {
  let cpu = Infinity;
  let wall = Infinity;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    wall = Math.min(wall, performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1000);
  }
  return { cpu, wall };
}

const rate = (mb: number, ms: number) => `${(mb / (ms / 1000)).toFixed(1)} MB/s`;

/** Corpus agreement, origins and clean-log false reports, the line test/unit/oracle-corpus.test.ts prints. */
function agreement(): void {
  console.log(formatSummary(summarize(loadCorpus())));
}

async function throughput(): Promise<void> {
  agreement();
  const { text, reports } = mixedLog(targetMB);
  const mb = text.length / 1e6;
  let found: CrashReport[] = [];
  const m = measure(3, () => (found = parseLog(text)));
  console.log(`mixed log: ${mb.toFixed(1)} MB, ${reportLogs.length} report logs of the corpus repeated (${reports} reports inserted, ${found.length} found), ${(found.length / mb).toFixed(0)} reports/MB`);
  console.log(`  parseLog: ${rate(mb, m.wall)} wall (${m.wall.toFixed(0)} ms), ${rate(mb, m.cpu)} CPU time (${m.cpu.toFixed(0)} ms)`);

  const dir = mkdtempSync(join(tmpdir(), 'dax-bench-'));
  const file = join(dir, 'console.log');
  writeFileSync(file, text);
  const t1 = performance.now();
  const rl = createInterface({ input: createReadStream(file, { highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  const streamed = await parseLines(rl);
  const streamMs = performance.now() - t1;
  console.log(`  streamed from a file (readline + parser): ${rate(mb, streamMs)} (${streamMs.toFixed(0)} ms, ${streamed.length} found)`);

  // The two extremes: nothing but reports, and nothing but ordinary output.
  const dense = reportLogs.map((l) => l.text).join('').repeat(Math.max(1, Math.round(4e6 / reportLogs.reduce((a, l) => a + l.text.length, 0))));
  const d = measure(3, () => parseLog(dense));
  console.log(`  reports only (${(dense.length / 1e6).toFixed(1)} MB): ${rate(dense.length / 1e6, d.wall)} wall, ${rate(dense.length / 1e6, d.cpu)} CPU time`);
  const quiet = mixedLog(4).text.split('\n').filter((l) => !reportLogs.some((r) => r.text.includes(l))).join('\n');
  const q = measure(3, () => parseLog(quiet));
  console.log(`  ordinary output only (${(quiet.length / 1e6).toFixed(1)} MB): ${rate(quiet.length / 1e6, q.wall)} wall, ${rate(quiet.length / 1e6, q.cpu)} CPU time`);
  rmSync(dir, { recursive: true, force: true });
}

// Tails a file the way the console capture is followed: fs.watch plus a short poll as backstop.
async function latency(runs: number): Promise<number[]> {
  const kinds = ['dax-pmd-6.6-console', 'lockdep-circular', 'kasan-uaf', 'hung-task-synchronize-rcu'];
  const out: number[] = [];
  for (let run = 0; run < runs; run++) {
    const lines = readFileSync(join(corpus, `${kinds[run % kinds.length]}.log`), 'utf8').split('\n').filter(Boolean);
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

// `dax-harness parse-log` on a small log, as a pipe user or the nightly store runs it.
function cliStart(runs: number): void {
  const bin = join(here, '../harness/bin/dax-harness.js');
  const log = join(corpus, 'kasan-uaf.log');
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [bin, 'parse-log', log], { encoding: 'utf8' });
    ms.push(performance.now() - t0);
    if (r.status !== 1) throw new Error(`parse-log exited ${r.status}: ${r.stderr}`);
  }
  ms.sort((a, b) => a - b);
  // The same test the launcher makes: compiled JavaScript only when it is as new as every source.
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : e.name.endsWith('.ts') ? statSync(join(dir, e.name)).mtimeMs : 0), 0);
  let how = 'tsx: harness/dist is missing or older than a source (npm ci or node harness/bin/build.js builds it)';
  try {
    if (statSync(join(here, '../harness/dist/.built')).mtimeMs >= newest(join(here, '../harness/src'))) how = 'compiled JavaScript in harness/dist';
  } catch {
    // no build: tsx
  }
  console.log(`parse-log start to exit on a ${(readFileSync(log).length / 1e3).toFixed(0)} KB log: median ${ms[runs >> 1]!.toFixed(0)} ms, min ${ms[0]!.toFixed(0)} ms over ${runs} runs (${how})`);
}

await throughput();
const lat = await latency(8);
console.log(`verdict latency after a report's last line (idle 300 ms for reports without an end marker): ${lat.map((x) => x.toFixed(0)).join(', ')} ms (max ${Math.max(...lat).toFixed(0)} ms)`);
cliStart(9);
