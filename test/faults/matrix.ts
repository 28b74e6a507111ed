// The fault matrix: the real CLI, run as a user runs it (its own process
// group, as a terminal starts it), with one fault each, and what must hold
// afterwards: the exit code, a result that says what happened, the console
// kept, no process the harness started left running, no half-written result
// file. Shared by test/integration/fault-matrix.test.ts (the quick cases),
// test-long/fault-matrix.test.ts (the rest) and bench/faults.ts (the table).
import { spawn, execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, readlinkSync, existsSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync, openSync, writeSync, closeSync, statfsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, cacheRoot } from '../../harness/src/host/paths.ts';
import { loadRun } from '../../harness/src/results/store.ts';
import { nightOwnerLock } from '../../harness/src/results/nights.ts';
import { freePort } from '../../harness/src/vm/ports.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';

const BIN = join(repoRoot, 'harness', 'bin', 'dax-harness.js');

export interface Observed {
  exit: number | null;
  signal: string | null;
  stderr: string;
  /** The run's record as a later reader sees it (aborted for a dead harness), if a run directory was made. */
  record: RunRecord | null;
  resultsDir: string;
  runDirs: string[];
  consoleBytes: number;
  /** The harness's own peak resident memory (VmHWM), MB, as last sampled while it ran. */
  peakRssMB: number;
  /** Processes the harness started (its descendants while it ran) still alive afterwards, as "pid comm". */
  leftovers: string[];
  /** Result files left half-written (temp files, JSON that does not parse). */
  halfWritten: string[];
  /** Every file left under the results directory, relative to it, read before a mounted one is undone. */
  files: string[];
  ms: number;
}

export interface FaultCase {
  name: string;
  /** What should happen, in words, for the table. */
  expected: string;
  quick: boolean;
  /** The CLI words after `run --results DIR` (a function: computed after before()). */
  args: string[] | (() => string[]);
  /** The command and its positionals instead of `run` (e.g. nightly CONFIG). */
  command?: () => string[];
  env?: Record<string, string>;
  /** Results go here (default: a fresh temp dir). */
  results?: () => string;
  /** Before the run (corrupt the cache...); may return a cleanup. */
  before?: () => Promise<(() => void) | void> | (() => void) | void;
  /** Called with each stderr line; may inject the fault. */
  onLine?: (line: string, h: Handle) => void;
  check: (o: Observed) => string[];
}

export interface Handle {
  pid: number;
  resultsDir: string;
  /** Signal the harness's whole process group, as a terminal's ^C does. */
  signalGroup(sig: NodeJS.Signals): void;
  signal(sig: NodeJS.Signals): void;
  once(key: string, fn: () => void): void;
}

// ------------------------------------------------------------------ processes

interface Proc {
  pid: number;
  ppid: number;
  start: string;
  comm: string;
}

function readProcs(): Proc[] {
  const out: Proc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      // A zombie has ended; only its parent's wait is missing.
      if (f[0] === 'Z') continue;
      out.push({ pid: Number(d), ppid: Number(f[1]), start: f[19], comm });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Everything descending from root while it runs, remembered by pid and start time (pids get reused). */
class Tracker {
  private seen = new Map<string, Proc>();
  private timer: NodeJS.Timeout;
  peakRssKB = 0;
  constructor(private readonly root: number) {
    this.timer = setInterval(() => this.sample(), 150);
  }
  sample(): void {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.root}/status`, 'utf8'));
      if (hwm) this.peakRssKB = Math.max(this.peakRssKB, Number(hwm[1]));
    } catch {
      // exited
    }
    const procs = readProcs();
    const kids = new Map<number, Proc[]>();
    for (const p of procs) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p]);
    const stack = [this.root];
    while (stack.length) {
      for (const c of kids.get(stack.pop()!) ?? []) {
        this.seen.set(`${c.pid}:${c.start}`, c);
        stack.push(c.pid);
      }
    }
  }
  stop(): void {
    clearInterval(this.timer);
  }
  alive(): string[] {
    const now = new Set(readProcs().map((p) => `${p.pid}:${p.start}`));
    return [...this.seen.entries()].filter(([k]) => now.has(k)).map(([, p]) => `${p.pid} ${p.comm}`);
  }
}

function qemuMentioning(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', 'qemu-system'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(text));
  } catch {
    return [];
  }
}

function filesUnder(dir: string, rel = ''): string[] {
  if (!existsSync(join(dir, rel))) return [];
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(dir, join(rel, e.name)) : [join(rel, e.name)]));
}

function halfWritten(dir: string): string[] {
  const bad: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tmp$|\.tmp\.|\.\d+-[0-9a-f]+\.tmp/.test(e.name)) bad.push(p);
      else if (e.name.endsWith('.json')) {
        try {
          JSON.parse(readFileSync(p, 'utf8'));
        } catch {
          bad.push(`${p} (does not parse)`);
        }
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return bad;
}

// --------------------------------------------------------------------- runner

export async function runCase(c: FaultCase, timeoutMs = 900000): Promise<Observed> {
  const undo = await c.before?.();
  const resultsDir = c.results ? c.results() : mkdtempSync(join(tmpdir(), 'daxh-fault-'));
  const t0 = Date.now();
  const args = typeof c.args === 'function' ? c.args() : c.args;
  const child = spawn(process.execPath, [BIN, ...(c.command?.() ?? ['run']), '--results', resultsDir, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...c.env },
  });
  const tracker = new Tracker(child.pid!);
  let stderr = '';
  let partial = '';
  const done = new Set<string>();
  const h: Handle = {
    pid: child.pid!,
    resultsDir,
    signalGroup: (sig) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        /* gone */
      }
    },
    signal: (sig) => {
      try {
        process.kill(child.pid!, sig);
      } catch {
        /* gone */
      }
    },
    once: (key, fn) => {
      if (done.has(key)) return;
      done.add(key);
      fn();
    },
  };
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) c.onLine?.(line, h);
  });
  child.stdout.resume();
  const killer = setTimeout(() => h.signalGroup('SIGKILL'), timeoutMs);
  const [exit, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (code, sig) => r([code, sig])));
  clearTimeout(killer);
  // Give anything the harness left a moment to show itself, then look.
  tracker.sample();
  await new Promise((r) => setTimeout(r, 1500));
  tracker.stop();
  const runDirs = existsSync(resultsDir) ? readdirSync(resultsDir).filter((d) => existsSync(join(resultsDir, d, 'run.json'))) : [];
  // A writer killed mid-write (SIGKILL) leaves its temp file beside an intact
  // run.json; the first reader of the run removes temps whose writer is dead.
  // What must hold is what a reader finds: no temp left, every JSON whole.
  const record = runDirs.length ? await loadRun(join(resultsDir, runDirs[0])).catch(() => null) : null;
  const half = halfWritten(resultsDir);
  const con = runDirs.length ? join(resultsDir, runDirs[0], 'console.log') : '';
  // A killed QEMU takes a few seconds to release a guest's memory on a busy
  // host: what is still there after 10 s was left behind.
  const left = () => [...tracker.alive(), ...runDirs.flatMap((d) => qemuMentioning(d))];
  let leftovers = left();
  for (let waited = 0; leftovers.length && waited < 10000; waited += 250) {
    await new Promise((r) => setTimeout(r, 250));
    leftovers = left();
  }
  const consoleBytes = con && existsSync(con) ? statSync(con).size : 0;
  const files = filesUnder(resultsDir);
  // Undone after looking: a results directory the case mounted is read first.
  if (typeof undo === 'function') undo();
  return {
    exit,
    signal,
    stderr,
    record,
    resultsDir,
    runDirs,
    consoleBytes,
    peakRssMB: tracker.peakRssKB / 1024,
    leftovers,
    halfWritten: half,
    files,
    ms: Date.now() - t0,
  };
}

/** The checks every case shares: nothing left running, nothing half-written. */
export function common(o: Observed): string[] {
  const bad: string[] = [];
  if (o.leftovers.length) bad.push(`processes left: ${o.leftovers.join(', ')}`);
  if (o.halfWritten.length) bad.push(`half-written files: ${o.halfWritten.join(', ')}`);
  if (o.record && o.record.status === 'running') bad.push('run.json still says running');
  return bad;
}

function expect(o: Observed, exit: number | null, status: RunRecord['status'] | null, reason?: RegExp, console = true): string[] {
  const bad = common(o);
  if (o.exit !== exit) bad.push(`exit ${o.exit ?? o.signal}, wanted ${exit} (stderr: ${o.stderr.trim().split('\n').slice(-2).join(' | ')})`);
  if (status === null) {
    if (o.record) bad.push(`a run record exists (${o.record.status})`);
  } else {
    if (!o.record) bad.push('no run record');
    else if (o.record.status !== status) bad.push(`status ${o.record.status}, wanted ${status}: ${o.record.reason}`);
    if (reason && o.record && !reason.test(o.record.reason)) bad.push(`reason "${o.record.reason}" does not match ${reason}`);
    if (console && o.consoleBytes < 200) bad.push(`console.log kept? ${o.consoleBytes} bytes`);
  }
  return bad;
}

const FAST = ['--fs', 'ext4', '--accel', 'tcg'];
const afterLine = (re: RegExp, key: string, act: (h: Handle) => void) => (line: string, h: Handle) => {
  if (re.test(line)) h.once(key, () => act(h));
};

let portServer: Server | null = null;

export const CASES: FaultCase[] = [
  {
    name: 'crash at boot',
    expected: 'exit 1, fail: kernel BUG titled on the boot step',
    quick: true,
    args: [...FAST, '--append', 'daxh.fault=bug'],
    check: (o) => [
      ...expect(o, 1, 'fail', /kernel report during boot: kernel BUG in daxh_fault_bug/),
      ...(o.record?.tests[0]?.name === 'boot' && o.record.tests[0].status === 'crash' ? [] : ['the boot step does not hold the crash']),
    ],
  },
  {
    name: 'WARNING at boot',
    expected: 'exit 1, fail: boot step crash, tests still ran',
    quick: true,
    args: [...FAST, '--append', 'daxh.fault=warn'],
    check: (o) => [
      ...expect(o, 1, 'fail'),
      ...(o.record?.tests.some((x) => x.name === 'dax-smoke' && x.status === 'pass') ? [] : ['the tests did not run after the boot WARNING']),
    ],
  },
  {
    name: 'guest hang, no output',
    expected: 'exit 3, infra-error naming the phase, console tail',
    quick: true,
    args: [...FAST, '--append', 'daxh.stall=1', '--boot-timeout', '20'],
    check: (o) => expect(o, 3, 'infra-error', /stopped after init ran, before sshd started.*console ends/),
  },
  {
    name: 'guest panic mid-test',
    expected: 'exit 1, fail: the panic ended the run, titled',
    quick: true,
    args: ['--accel', 'tcg', '--suite', 'stressors', '--test', 'pmd_pte_mix.ext4', '--seconds', '60', '--append', 'daxh.panic_with=pmd_pte_mix daxh.panic_after=5'],
    check: (o) => [
      ...expect(o, 1, 'fail', /kernel report ended the run: kernel panic: sysrq triggered crash/),
      ...(o.record?.tests.some((x) => x.name.includes('pmd_pte_mix')) ? [] : ['no stressor result: the panic did not come mid-test']),
    ],
  },
  {
    name: 'QEMU killed',
    expected: 'exit 3, infra-error: QEMU exited unexpectedly',
    quick: true,
    args: [...FAST],
    onLine: afterLine(/\[test\] setup\.fsdax|\[test\] dax-smoke/, 'kill', (h) => {
      // QEMU's command line names the run's work directory (its id), not the results root.
      for (const id of readdirSync(h.resultsDir)) for (const l of qemuMentioning(`/${id}/`)) process.kill(Number(l.split(' ')[0]), 'SIGKILL');
    }),
    check: (o) => expect(o, 3, 'infra-error', /QEMU exited unexpectedly \((?:SIGKILL|exit 137)\)/),
  },
  {
    name: 'ssh dropped mid-command',
    expected: 'exit 3, infra-error: the guest stopped answering ssh',
    quick: true,
    args: ['--accel', 'tcg', '--suite', 'stressors', '--test', 'pmd_pte_mix.ext4', '--seconds', '60', '--append', 'daxh.sshd_kill_after=15'],
    check: (o) => expect(o, 3, 'infra-error', /ssh/),
  },
  {
    name: 'host disk full while writing results',
    expected: 'exit 3, one line naming the full disk, nothing half-written',
    quick: true,
    args: [...FAST],
    results: () => FULL.dir,
    before: () => smallDisk(FULL, 'daxh-full', '48k'),
    check: (o) => {
      const bad = common(o);
      if (o.exit !== 3) bad.push(`exit ${o.exit}, wanted 3`);
      if (!/no space left/i.test(o.stderr) || /internal error|at .*\.ts:\d+/.test(o.stderr)) bad.push(`stderr is not one clear line: ${o.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      return bad;
    },
  },
  {
    name: 'results disk fills up during boot',
    expected: 'exit 3, infra-error naming the full disk, run.json and console.log kept',
    quick: true,
    args: [...FAST],
    results: () => FILLED.dir,
    before: () => smallDisk(FILLED, 'daxh-filled', '20m'),
    // Once the kernel prints, something else takes every free block.
    onLine: afterLine(/\[boot\] kernel started/, 'fill', (h) => fillDisk(join(h.resultsDir, 'filler.bin'))),
    check: (o) => [...expect(o, 3, 'infra-error', /no space left on the device holding .*console\.log/), ...(o.files.some((f) => f.endsWith('.space-reserve')) ? ['the space reserve was left behind'] : [])],
  },
  // The guest's emulated UART carries ~50 KB/s under TCG: a megabyte is what
  // a guest prints in a test's time. bench:hostile feeds the harness 50 MB.
  {
    name: 'console flood without a newline (1 MB)',
    expected: 'exit 0: lines capped at 4 KiB and counted, the harness under 300 MB',
    quick: false,
    args: [...FAST, '--append', 'daxh.flood=1000000'],
    check: (o) => [...expect(o, 0, 'pass'), ...hostileConsole(o, true)],
  },
  {
    name: 'endless report (1 MB of stack)',
    expected: 'exit 1: one report, titled, capped and marked truncated; the harness under 300 MB',
    quick: false,
    args: [...FAST, '--append', 'daxh.endless=1000000'],
    check: (o) => {
      const bad = [...expect(o, 1, 'fail', /daxh_recurse/), ...hostileConsole(o)];
      const r = o.record?.crashes.find((c) => /daxh_recurse/.test(c.title));
      if (!r) bad.push('no report titled in daxh_recurse');
      else if (!r.truncated || r.lines.length > 2000) bad.push(`report not capped: ${r.lines.length} lines, truncated ${JSON.stringify(r.truncated)}`);
      return bad;
    },
  },
  {
    name: 'NVDIMMs larger than the free disk',
    expected: 'exit 3 before boot: infra-error naming the directory and the sizes',
    quick: true,
    // More than the cache's disk has free, in NVDIMMs of the largest size allowed
    // (data a multiple of 16 MiB, ndctl's region alignment, plus the 2 MiB label).
    args: () => {
      mkdirSync(cacheRoot(), { recursive: true });
      const s = statfsSync(cacheRoot());
      const n = Math.ceil(((s.bavail * s.bsize) / 2 ** 20 + 1024) / 65520);
      return [...FAST, '--nvdimms', String(n), '--nvdimm-size', '65522M'];
    },
    check: (o) => [
      ...expect(o, 3, 'infra-error', /not enough free space in \S+ for the \d+ NVDIMM backing files?: they may grow to \d+ MiB and 256 MiB more is kept free, but \d+ MiB is free/, false),
      ...(o.record?.bootMs === null && !o.record?.qemuArgv.length ? [] : ['QEMU was started']),
    ],
  },
  {
    name: 'Ctrl-C during prepare',
    expected: 'exit 130, no run left behind',
    quick: true,
    args: [...FAST],
    onLine: afterLine(/\[prepare\]/, 'int', (h) => h.signalGroup('SIGINT')),
    check: (o) => {
      const bad = common(o);
      if (o.exit !== 130) bad.push(`exit ${o.exit ?? o.signal}, wanted 130`);
      if (o.record && o.record.status !== 'interrupted') bad.push(`run ${o.record.status}`);
      return bad;
    },
  },
  {
    name: 'Ctrl-C during boot',
    expected: 'exit 130, interrupted, console kept',
    quick: true,
    args: [...FAST],
    onLine: afterLine(/\[boot\] kernel started/, 'int', (h) => h.signalGroup('SIGINT')),
    check: (o) => expect(o, 130, 'interrupted', /SIGINT/),
  },
  {
    name: 'Ctrl-C during test',
    expected: 'exit 130, interrupted, finished tests kept',
    quick: true,
    args: [...FAST],
    onLine: afterLine(/\[test\] dax-smoke\.ext4 \.\.\./, 'int', (h) => h.signalGroup('SIGINT')),
    check: (o) => [...expect(o, 130, 'interrupted', /SIGINT/), ...(o.record?.tests.some((x) => x.name === 'setup.fsdax') ? [] : ['the finished setup step was lost'])],
  },
  {
    name: 'SIGTERM during test',
    expected: 'exit 143, interrupted',
    quick: true,
    args: [...FAST],
    onLine: afterLine(/\[test\] setup\.fsdax|\[test\] dax-smoke/, 'term', (h) => h.signal('SIGTERM')),
    check: (o) => expect(o, 143, 'interrupted', /SIGTERM/),
  },
  {
    name: 'SIGKILL of the harness',
    expected: 'killed; QEMU goes with it; readers see the run aborted',
    quick: true,
    args: [...FAST],
    onLine: afterLine(/\[test\] setup\.fsdax|\[test\] dax-smoke/, 'kill', (h) => h.signal('SIGKILL')),
    check: (o) => {
      const bad = common(o);
      if (o.signal !== 'SIGKILL') bad.push(`ended by ${o.signal ?? `exit ${o.exit}`}`);
      if (o.record?.status !== 'aborted') bad.push(`a reader sees ${o.record?.status}, wanted aborted`);
      if (o.consoleBytes < 200) bad.push('console not kept');
      return bad;
    },
  },
  {
    name: 'corrupt image cache entry',
    expected: 'exit 0: the damaged image is detected and rebuilt',
    quick: true,
    args: [...FAST],
    before: () => {
      for (const d of readdirSync(join(cacheRoot(), 'images')).filter((x) => x.startsWith('initramfs-'))) {
        const f = join(cacheRoot(), 'images', d, 'image.cpio');
        if (existsSync(f)) truncateSync(f, 1000);
      }
    },
    check: (o) => expect(o, 0, 'pass'),
  },
  {
    name: 'corrupt kernel cache entry',
    expected: 'exit 0: the damaged kernel is detected and fetched again',
    quick: true,
    args: [...FAST],
    before: () => {
      const root = join(cacheRoot(), 'kernels', 'debian');
      for (const d of existsSync(root) ? readdirSync(root) : []) {
        const boot = join(root, d, 'root', 'boot');
        for (const f of existsSync(boot) ? readdirSync(boot).filter((x) => x.startsWith('vmlinuz')) : []) writeFileSync(join(boot, f), 'not a kernel');
      }
    },
    check: (o) => expect(o, 0, 'pass'),
  },
  {
    name: 'two runs at once on a cold cache',
    expected: 'both exit 0; each artifact built once',
    quick: false,
    args: [...FAST],
    check: (o) => expect(o, 0, 'pass'),
  },
  {
    name: 'bad config fragment',
    expected: 'exit 2, one line, before any download',
    quick: true,
    args: ['--source', 'debian:6.1', '--config', 'dax,no-such-fragment'],
    check: (o) => {
      const bad = common(o);
      if (o.exit !== 2) bad.push(`exit ${o.exit}`);
      if (!/no-such-fragment/.test(o.stderr) || /\[prepare\]/.test(o.stderr)) bad.push(`not a one-line error before any work: ${o.stderr.trim()}`);
      return bad;
    },
  },
  {
    name: 'missing host tool',
    expected: 'exit 2, one line naming the tool',
    quick: true,
    args: [...FAST],
    env: { PATH: '/nonexistent' },
    check: (o) => {
      const bad = common(o);
      if (o.exit !== 2) bad.push(`exit ${o.exit}`);
      if (!/host tool "[^"]+" is not installed or not on PATH/.test(o.stderr)) bad.push(`stderr: ${o.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      return bad;
    },
  },
  {
    name: 'port taken between check and use',
    expected: 'exit 2: the chosen --ssh-port is named as taken',
    quick: true,
    args: () => [...FAST, '--ssh-port', String(CASES_PORT.value)],
    before: async () => {
      const port = await freePort();
      CASES_PORT.value = port;
      return () => {
        portServer?.close();
        portServer = null;
      };
    },
    onLine: afterLine(/\[prepare\]/, 'take', () => {
      portServer = createServer().listen(CASES_PORT.value, '127.0.0.1');
    }),
    check: (o) => {
      const bad = common(o);
      if (o.exit !== 2) bad.push(`exit ${o.exit}: ${o.stderr.trim().split('\n').slice(-1)}`);
      if (!new RegExp(`${CASES_PORT.value}.*taken`).test(o.stderr)) bad.push('the port is not named as taken');
      return bad;
    },
  },
  {
    name: 'stale ndctl log',
    expected: 'exit 1: a meson that dies before writing gives no verdict, not the last run\'s',
    quick: false,
    args: ['--accel', 'tcg', '--suite', 'ndctl', '--ndctl', join(repoRoot, 'suites', 'fake-ndctl'), '--test', 'meson-dies.sh', '--append', 'daxh.fake.kill_meson=1'],
    before: async () => {
      // The same test passes in a first run on the same tree, leaving its log behind (it used to).
      const first = await runCase({ ...CASES.find((x) => x.name === 'stale ndctl log')!, args: ['--accel', 'tcg', '--suite', 'ndctl', '--ndctl', join(repoRoot, 'suites', 'fake-ndctl'), '--test', 'meson-dies.sh'], before: undefined, check: () => [] });
      if (first.exit !== 0) throw new Error(`the first ndctl run did not pass: ${first.stderr.slice(-300)}`);
    },
    check: (o) => [...expect(o, 1, 'fail'), ...(/without a result/.test(o.record?.tests.find((x) => x.name === 'meson-dies.sh')?.reason ?? '') ? [] : ['meson-dies.sh was not failed for its missing log'])],
  },
  {
    name: 'non-applying patch',
    expected: 'exit 1 before any build: the patch and why',
    quick: false,
    args: ['--accel', 'tcg', '--source', 'debian:6.1', '--series', join(repoRoot, 'patches', 'fixtures', 'does-not-apply.mbox')],
    check: (o) => {
      const bad = common(o);
      if (o.exit !== 1 && o.exit !== 2) bad.push(`exit ${o.exit}`);
      if (!/does not apply|failed to apply|patch/i.test(o.stderr)) bad.push(`stderr: ${o.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      return bad;
    },
  },
  {
    name: 'build failure',
    expected: 'exit 1: the compiler error named, no compiler left',
    quick: false,
    args: ['--accel', 'tcg', '--source', 'debian:6.1', '--series', join(repoRoot, 'patches', 'fixtures', 'breaks-build.patch')],
    check: (o) => {
      const bad = common(o);
      if (o.exit !== 1) bad.push(`exit ${o.exit}: ${o.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      if (!/error/i.test(o.stderr)) bad.push('the build error is not shown');
      return bad;
    },
  },
  {
    name: 'Ctrl-C during a kernel build',
    expected: 'exit 130, no make or compiler left',
    quick: false,
    // A profile nothing else builds, so make really runs when the ^C comes.
    args: ['--accel', 'tcg', '--source', 'debian:6.1', '--config', 'dax,lockdep'],
    onLine: afterLine(/\[prepare\].*(make|build|compil)/i, 'int', (h) => setTimeout(() => h.signalGroup('SIGINT'), 15000)),
    check: (o) => {
      const bad = common(o);
      if (o.exit !== 130) bad.push(`exit ${o.exit ?? o.signal}`);
      return bad;
    },
  },
];

/** A sleeping process standing for a live harness on this host (it holds a night, or a run's directories). */
function liveHolder(): { pid: number; stop: () => void } {
  const p = spawn('sleep', ['600'], { stdio: 'ignore' });
  return { pid: p.pid!, stop: () => p.kill('SIGKILL') };
}

/** A lease as host/lock.ts writes it, for `owner` (another host: its heartbeat alone decides). */
function plantLease(lockDir: string, owner: { pid: number; host: string; bootId?: string; pidNs?: string }, ageMs: number): void {
  mkdirSync(lockDir, { recursive: true });
  const f = join(lockDir, 'g000000000001');
  writeFileSync(f, JSON.stringify({ bootId: 'other-boot', pidNs: 'other-ns', since: new Date(Date.now() - ageMs).toISOString(), ...owner }));
  const t = new Date(Date.now() - ageMs);
  utimesSync(f, t, t);
}

const here = () => ({ host: hostname(), bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), pidNs: readlinkSync('/proc/self/ns/pid') });

const SHARED = { dir: '', holder: null as ReturnType<typeof liveHolder> | null, entries: [] as string[] };

/** Shared-host cases (issue 17): stale foreign locks, a night's one owner, run ids that collide. */
CASES.push(
  {
    name: 'lock left by a dead host',
    expected: 'exit 0: a CI runner\'s lock with no heartbeat for an hour is taken over, not waited on for 4 h',
    quick: true,
    args: [...FAST],
    before: () => {
      // The image must be rebuilt (its entry damaged), and its build lock is held by a runner that was killed.
      SHARED.entries = [];
      for (const d of readdirSync(join(cacheRoot(), 'images')).filter((x) => x.startsWith('initramfs-') && !x.includes('.'))) {
        const f = join(cacheRoot(), 'images', d, 'image.cpio');
        if (!existsSync(f)) continue;
        truncateSync(f, 1000);
        plantLease(join(cacheRoot(), 'images', `${d}.lock`), { pid: 4242, host: 'ci-runner-killed' }, 3600_000);
        SHARED.entries.push(join(cacheRoot(), 'images', `${d}.lock`));
      }
    },
    check: (o) => {
      const bad = expect(o, 0, 'pass');
      if (!SHARED.entries.length) bad.push('no image entry to plant a lock on (run the default run once first)');
      const left = SHARED.entries.filter((l) => existsSync(l) && readdirSync(l).some((n) => n.startsWith('g')));
      // Locks of images this run did not need stay as they were; the one it used was taken and released.
      if (left.length === SHARED.entries.length) bad.push('every planted lock is still there: none was taken over');
      if (o.ms > 600_000) bad.push(`took ${Math.round(o.ms / 1000)} s: it waited on the dead lock`);
      return bad;
    },
  },
  {
    name: 'two nightlies of one config',
    expected: 'exit 2 before any boot: one line naming the live owner (pid, host, since); the night untouched',
    quick: true,
    command: () => ['nightly', SHARED.dir + '/night.yaml'],
    args: ['--night', 'owned'],
    results: () => SHARED.dir,
    before: () => {
      SHARED.dir = mkdtempSync(join(tmpdir(), 'daxh-owned-'));
      writeFileSync(join(SHARED.dir, 'night.yaml'), 'kernels:\n  - name: stock\n    stock: true\nsuites:\n  - name: smoke\n    modes: [ext4]\ntopologies:\n  - name: default\n');
      SHARED.holder = liveHolder();
      plantLease(nightOwnerLock(SHARED.dir, 'owned'), { pid: SHARED.holder.pid, ...here() }, 0);
      return () => SHARED.holder?.stop();
    },
    check: (o) => {
      const bad = common(o);
      if (o.exit !== 2) bad.push(`exit ${o.exit ?? o.signal}, wanted 2`);
      const lines = o.stderr.trim().split('\n');
      if (lines.length !== 1 || !new RegExp(`night owned of \\S+ is being run by pid ${SHARED.holder?.pid} on \\S+ since \\d{4}-`).test(lines[0]!)) bad.push(`stderr is not one line naming the owner: ${o.stderr.trim()}`);
      if (existsSync(join(SHARED.dir, 'nights', 'owned'))) bad.push('the refused nightly made the night directory');
      if (!existsSync(join(nightOwnerLock(SHARED.dir, 'owned'), 'g000000000001'))) bad.push("the owner's lease was touched");
      return bad;
    },
  },
  {
    name: 'run-id collision forced',
    expected: 'exit 0 under another id; the live run holding the id keeps its run directory and NVDIMM files',
    quick: true,
    args: [...FAST],
    env: { DAX_HARNESS_TEST_RUN_ID: 'collide-1' },
    results: () => SHARED.dir,
    before: () => {
      // A run of another harness, alive, that drew the same id: its directories must survive ours.
      SHARED.dir = mkdtempSync(join(tmpdir(), 'daxh-collide-'));
      SHARED.holder = liveHolder();
      mkdirSync(join(SHARED.dir, 'collide-1', 'tests'), { recursive: true });
      writeFileSync(join(SHARED.dir, 'collide-1', 'marker'), 'first run');
      const work = join(cacheRoot(), 'work', 'collide-1');
      mkdirSync(join(work, '.use'), { recursive: true });
      writeFileSync(join(work, '.use', `${SHARED.holder.pid}@${hostname()}`), '');
      writeFileSync(join(work, 'nvdimm0.img'), 'first run');
      return () => SHARED.holder?.stop();
    },
    check: (o) => {
      const mine = o.runDirs.filter((d) => d !== 'collide-1');
      const bad = common(o);
      if (o.exit !== 0) bad.push(`exit ${o.exit ?? o.signal}: ${o.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      if (mine.length !== 1) bad.push(`run directories: ${o.runDirs.join(', ')}`);
      if (readFileSync(join(SHARED.dir, 'collide-1', 'marker'), 'utf8') !== 'first run') bad.push("the first run's directory was touched");
      if (existsSync(join(SHARED.dir, 'collide-1', 'run.json'))) bad.push("the second run wrote into the first run's directory");
      const work = join(cacheRoot(), 'work', 'collide-1');
      if (!existsSync(join(work, 'nvdimm0.img')) || readFileSync(join(work, 'nvdimm0.img'), 'utf8') !== 'first run') bad.push("the first run's NVDIMM file is gone or changed");
      rmSync(work, { recursive: true, force: true });
      return bad;
    },
  },
);

const CASES_PORT = { value: 0 };
const FULL = { dir: '' };
const FILLED = { dir: '' };

/**
 * A tmpfs of SIZE for a case's results, its path put in `into.dir`. Root
 * mounts it. An ordinary user cannot mount, but may in a user and mount
 * namespace of its own: a holder process keeps that namespace alive and
 * the tmpfs is reached from outside through /proc/HOLDER/root, so the
 * harness under test runs unchanged, as the user, and meets a real ENOSPC.
 */
async function smallDisk(into: { dir: string }, name: string, size: string): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  if (process.geteuid?.() === 0) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, name, dir]);
    into.dir = dir;
    return () => execFileSync('umount', ['-l', dir]);
  }
  // unshare execs sh, which execs sleep: one pid throughout, the namespace's only process.
  const holder = spawn('unshare', ['--user', '--map-root-user', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=${size} ${name} "$1" && echo mounted && exec sleep 86400`, 'sh', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  holder.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const mounted = await new Promise<boolean>((res) => {
    holder.stdout.on('data', (d: Buffer) => d.toString().includes('mounted') && res(true));
    holder.on('exit', () => res(false));
    holder.on('error', () => res(false));
  });
  if (!mounted) throw new Error(`cannot mount a ${size} tmpfs for this case as uid ${process.geteuid?.()} (unshare --user --map-root-user --mount): ${err.trim()}`);
  into.dir = `/proc/${holder.pid}/root${dir}`;
  return () => {
    holder.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
}

/** A guest that printed without end: the harness stayed small; with `lines`, every console line is capped and the flood was counted. */
function hostileConsole(o: Observed, lines = false): string[] {
  const bad: string[] = [];
  if (o.peakRssMB > 300) bad.push(`the harness peaked at ${o.peakRssMB.toFixed(0)} MB`);
  if (lines) {
    const con = o.runDirs.length ? readFileSync(join(o.resultsDir, o.runDirs[0]!, 'console.log'), 'utf8') : '';
    const long = con.split('\n').filter((l) => l.length > 4096 && !/^.{4096} \[… \d+ bytes dropped\]$/.test(l));
    if (long.length) bad.push(`${long.length} console lines over 4 KiB not capped`);
    const dropped = [...con.matchAll(/\[… (\d+) bytes dropped\]/g)].reduce((n, m) => n + Number(m[1]), 0);
    if (dropped < 500_000) bad.push(`${dropped} bytes counted as dropped: the flood did not get through`);
  }
  return bad;
}

/** Write `file` until its filesystem has no block left. */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  // Large blocks until one no longer fits, then smaller ones: full to the last block.
  for (const size of [1 << 20, 4096, 512]) {
    const buf = Buffer.alloc(size, 0x55);
    try {
      for (;;) writeSync(fd, buf);
    } catch {
      // ENOSPC at this size
    }
  }
  closeSync(fd);
}

/** Two harnesses at once on one cold cache: run both, judge both. */
export async function runTwoAtOnce(): Promise<Observed[]> {
  const cache = mkdtempSync(join(tmpdir(), 'daxh-coldcache-'));
  const c = CASES.find((x) => x.name === 'two runs at once on a cold cache')!;
  return Promise.all([runCase({ ...c, env: { DAX_HARNESS_CACHE: cache } }), runCase({ ...c, env: { DAX_HARNESS_CACHE: cache } })]);
}
