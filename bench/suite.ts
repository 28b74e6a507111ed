// bench/suite: harness overhead of the stressor suite. One guest (stock
// kernel, default topology) runs the stressor set through the harness
// (runStressorSuite with its per-test bookkeeping: logs, taint and kernel-log
// marks, /proc/mounts checks, umount watchdog, fsck, crash oracle); every
// guest command it issued is recorded. The same guest then replays the
// commands over the bare ssh channel (Guest.exec, no TestLog, no parsing):
//   - "same commands": every recorded command, so the difference is the
//     harness's own host-side bookkeeping;
//   - "essential commands": only what a person would type to run the set by
//     hand (ndctl/daxctl, mkfs, mount, xfs_io, the stressors, umount), so the
//     difference also includes the harness's checks in the guest.
// Commands that ran concurrently (the device-dax revoke hook) are replayed
// at the same offset from the command they overlapped.
//
// Order matters under TCG: the first pass over a fresh, sparse NVDIMM backing
// file pays for the host allocating its pages, and WARN_ON_ONCE reports are
// printed (slowly, over the serial console) only the first time. So the
// device is written end to end first and a warm-up pass is discarded; the
// host-side time between guest commands (harness wall time minus the union
// of its commands' run times) is printed as the direct measure.
//   node --import tsx bench/suite.ts [--tests a,b.target] [--seconds S] [--rounds N]
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startSession } from '../harness/src/workflows/session.ts';
import { watchConsole } from '../harness/src/workflows/watch.ts';
import { prepareStockKernel } from '../harness/src/kernel/stock.ts';
import { buildInitramfs, loadRecipe } from '../harness/src/image/initramfs.ts';
import { buildModulesCpio } from '../harness/src/image/modules.ts';
import { chooseAccel } from '../harness/src/vm/accel.ts';
import { assembleInitrd } from '../harness/src/workflows/session.ts';
import { defaultTopology } from '../harness/src/vm/topology.ts';
import { runStressorSuite } from '../harness/src/suites/stressors/stressors.ts';
import { loadManifest } from '../harness/src/suites/stressors/stressor-manifest.ts';
import type { SuiteContext } from '../harness/src/suites/context.ts';
import type { Guest, ExecOptions } from '../harness/src/vm/guest.ts';
import type { TestResult } from '../harness/src/results/records.ts';

const { values } = parseArgs({ options: { tests: { type: 'string' }, seconds: { type: 'string', default: '1' }, rounds: { type: 'string', default: '3' } } });
const tests = values.tests ? values.tests.split(',') : undefined;
const quiet = () => {};
const kernel = await prepareStockKernel(quiet);
const image = await buildInitramfs('initramfs', quiet);
const modules = await buildModulesCpio(kernel, (await loadRecipe('initramfs')).modules, quiet);
const accel = await chooseAccel({ kernel: kernel.bzImage, initrd: await assembleInitrd(image, modules), log: quiet });
const dir = mkdtempSync(join(tmpdir(), 'daxh-bench-suite-'));
// TestLog opens its file as it is made: the directory must already exist (as a run directory's does).
mkdirSync(join(dir, 'tests'));
const s = await startSession({
  kernel, image, modules, topology: defaultTopology, accel: accel.used, cpu: accel.cpu, runDir: dir,
  workDir: join(dir, 'work'), cmdlineExtra: [], bootTimeoutMs: 300000, lifetimeMs: 3 * 3600 * 1000, progress: quiet,
});
console.log(`kernel ${kernel.label}, accel ${accel.used}, tests ${tests?.join(',') ?? 'default set'}, ${values.seconds} s each`);

interface Rec {
  argv: string[];
  start: number;
  end: number;
  timeoutMs: number;
}
const recorded: Rec[] = [];
// The harness sees a Guest whose exec records what it ran and when.
const recording = new Proxy(s.guest, {
  get(target, prop, recv) {
    if (prop !== 'exec') return Reflect.get(target, prop, recv);
    return async (argv: string[], o: ExecOptions) => {
      const r: Rec = { argv, start: performance.now(), end: 0, timeoutMs: o.timeoutMs };
      recorded.push(r);
      try {
        return await target.exec(argv, o);
      } finally {
        r.end = performance.now();
      }
    };
  },
}) as Guest;

const stop = new AbortController();
const watch = watchConsole(s.machine.console, s.machine.exited, (why) => stop.abort(new Error(why)));
const ctx: SuiteContext = {
  guest: recording, kernel, topology: defaultTopology, runDir: dir, timeScale: accel.used === 'tcg' ? 3 : 1,
  signal: stop.signal, seed: 1, seconds: Number(values.seconds), progress: quiet,
  takeCrashes: () => watch.take(), settle: async () => {},
};
// Touch every page of the raw namespace once, so no pass pays for the host
// allocating the backing file.
const warm = await s.guest.exec(['sh', '-c', 'dd if=/dev/zero of=/dev/pmem0 bs=2M 2>&1 | tail -1'], { timeoutMs: 600000 });
console.log(`warm-up: /dev/pmem0 written in ${(warm.durationMs / 1000).toFixed(1)} s`);

async function harnessPass(): Promise<{ ms: number; idleMs: number; results: TestResult[] }> {
  recorded.length = 0;
  const results: TestResult[] = [];
  const t0 = performance.now();
  await runStressorSuite(ctx, { tests, onResult: async (r) => void results.push(r) });
  const ms = performance.now() - t0;
  // Union of command intervals: the rest is the harness's own host-side time.
  let busy = 0;
  let until = t0;
  for (const r of [...recorded].sort((a, b) => a.start - b.start)) {
    if (r.end <= until) continue;
    busy += r.end - Math.max(r.start, until);
    until = r.end;
  }
  return { ms, idleMs: ms - busy, results };
}
const manifest = await loadManifest();
const binaries = new Set(manifest.tests.map((x) => x.binary ?? x.name));
const ESSENTIAL = new Set(['ndctl', 'daxctl', 'mkfs.ext4', 'mkfs.xfs', 'mkdir', 'mount', 'umount', 'xfs_io']);
/** The command a person would have typed, or null for a harness check. */
function essential(argv: string[]): string[] | null {
  if (ESSENTIAL.has(argv[0]) || binaries.has(argv[0])) return argv;
  if (argv[0] === 'sh' && argv[3] === 'umount-watch') return ['umount', argv[4]]; // the watchdog wraps a plain umount
  return null;
}

async function replay(list: Rec[], pick: (argv: string[]) => string[] | null): Promise<number> {
  const start = performance.now();
  let pending: Promise<unknown>[] = [];
  const replayStart = new Map<Rec, number>();
  for (const [i, r] of list.entries()) {
    const argv = pick(r.argv);
    if (!argv) continue;
    // Started while an earlier command was still running: start it at the same offset.
    const over = list.slice(0, i).reverse().find((p) => p.end > r.start && replayStart.has(p));
    const run = () => s.guest.exec(argv, { timeoutMs: r.timeoutMs });
    if (over) {
      const delay = Math.max(0, replayStart.get(over)! + (r.start - over.start) - performance.now());
      replayStart.set(r, performance.now() + delay);
      pending.push(new Promise((res) => setTimeout(res, delay)).then(run));
    } else {
      const next = list[i + 1];
      const overlapped = next && next.start < r.end;
      await Promise.all(pending);
      pending = [];
      replayStart.set(r, performance.now());
      const p = run();
      if (overlapped) pending.push(p);
      else await p;
    }
  }
  await Promise.all(pending);
  return performance.now() - start;
}

// A discarded warm-up pass pays for first-touch costs; then rounds alternate
// which side goes first (harness→replay, replay→harness, ...), so drift in
// the machine's load hits both sides alike; the median ratio is the figure.
const warmPass = await harnessPass();
const bad = warmPass.results.filter((r) => r.status !== 'pass' && r.status !== 'skip');
console.log(`warm-up harness pass: ${warmPass.results.length} results (${bad.length} not pass/skip, as the manifest may expect) in ${(warmPass.ms / 1000).toFixed(1)} s, ${recorded.length} guest commands`);
const ratios: number[] = [];
const idleShares: number[] = [];
let lastList: Rec[] = [...recorded];
for (let round = 1; round <= Number(values.rounds); round++) {
  let h: Awaited<ReturnType<typeof harnessPass>>;
  let plain: number;
  if (round % 2 === 1) {
    h = await harnessPass();
    lastList = [...recorded];
    plain = await replay(lastList, (a) => a);
  } else {
    plain = await replay(lastList, (a) => a);
    h = await harnessPass();
    lastList = [...recorded];
  }
  ratios.push(h.ms / plain);
  idleShares.push(h.idleMs / h.ms);
  console.log(`round ${round} (${round % 2 === 1 ? 'harness first' : 'replay first'}): harness ${(h.ms / 1000).toFixed(1)} s (host-side ${(h.idleMs / 1000).toFixed(2)} s), plain ssh replay ${(plain / 1000).toFixed(1)} s, ratio ${(h.ms / plain).toFixed(3)}`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ess = await replay(lastList, essential);
const ratio = median(ratios);
console.log(`\nratio harness / same commands over plain ssh: median ${ratio.toFixed(3)} of ${ratios.map((r) => r.toFixed(3)).join(', ')} (goal ≤ 1.05)`);
console.log(`harness host-side share of its wall time: median ${(100 * median(idleShares)).toFixed(2)} %`);
console.log(`plain ssh, essential commands only (what a person would type): ${(ess / 1000).toFixed(1)} s`);
watch.stop();
await s.close();
rmSync(dir, { recursive: true, force: true });
