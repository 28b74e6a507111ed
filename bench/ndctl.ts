// bench/ndctl: ndctl's dax suite from a user's tree through the harness vs
// the same `meson test` commands over plain ssh, in one ndctl guest (the one
// `run --suite ndctl` boots), passes alternating which side goes first; and
// how many of the suite's tests reached a verdict of their own (pass, skip
// with its reason, fail, or a kernel report) rather than a timeout or a lost
// guest. By hand, with an ndctl tree (never committed, not in the registries):
//   npm run bench:ndctl -- --ndctl ~/src/ndctl [--tests a,b] [--rounds 2]
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareCell } from '../harness/src/workflows/cell/index.ts';
import { startSession } from '../harness/src/workflows/session.ts';
import { watchConsole } from '../harness/src/workflows/watch.ts';
import { prepareNdctl, runNdctlSuite, NDCTL_SUITE } from '../harness/src/suites/ndctl/ndctl.ts';
import type { SuiteContext } from '../harness/src/suites/context.ts';
import type { Guest, ExecOptions } from '../harness/src/vm/guest.ts';
import type { TestResult } from '../harness/src/results/records.ts';

const { values } = parseArgs({ options: { ndctl: { type: 'string' }, tests: { type: 'string' }, rounds: { type: 'string', default: '2' } } });
if (!values.ndctl) {
  console.error('bench/ndctl: --ndctl PATH (an ndctl git tree) is needed');
  process.exit(2);
}
const quiet = () => {};
const tree = resolve(values.ndctl);
const tests = values.tests?.split(',');
const p = await prepareCell({ kernel: { kind: 'stock' }, suite: 'ndctl', ndctl: tree, tests }, { progress: quiet });
const nb = await prepareNdctl(tree, quiet);
const dir = mkdtempSync(join(tmpdir(), 'daxh-bench-ndctl-'));
mkdirSync(join(dir, 'tests'));
const s = await startSession({
  kernel: p.kernel, image: p.image, modules: p.modules, topology: p.topology, accel: p.accel.used, cpu: p.accel.cpu,
  runDir: dir, workDir: join(dir, 'work'), cmdlineExtra: p.cmdlineExtra, bootTimeoutMs: 300000, lifetimeMs: 12 * 3600 * 1000,
  progress: quiet, shares: p.prepared.shares,
});
console.log(`kernel ${p.kernel.label}, accel ${p.accel.used}, ndctl ${tree}, ${tests?.length ?? nb.tests.length} tests`);

const meson: Array<{ argv: string[]; timeoutMs: number }> = [];
const recording = new Proxy(s.guest, {
  get(target, prop, recv) {
    if (prop !== 'exec') return Reflect.get(target, prop, recv);
    return (argv: string[], o: ExecOptions) => {
      if (argv[0] === 'meson' && argv[1] === 'test') meson.push({ argv, timeoutMs: o.timeoutMs });
      return target.exec(argv, o);
    };
  },
}) as Guest;
const stop = new AbortController();
const watch = watchConsole(s.machine.console, s.machine.exited, (why) => stop.abort(new Error(why)));
let pass = 0;
const ctx = (): SuiteContext => ({
  guest: recording, kernel: p.kernel, topology: p.topology, runDir: dir, logPrefix: `pass${++pass}`,
  timeScale: p.accel.used === 'tcg' ? 3 : 1, signal: stop.signal, seed: 1, seconds: 0, progress: quiet,
  takeCrashes: () => watch.take(), settle: async () => {},
});

async function harnessPass(): Promise<{ ms: number; results: TestResult[] }> {
  meson.length = 0;
  const results: TestResult[] = [];
  const t0 = performance.now();
  await runNdctlSuite(ctx(), nb, { tests, onResult: async (r) => void results.push(r) });
  return { ms: performance.now() - t0, results };
}
async function plainPass(): Promise<number> {
  const t0 = performance.now();
  for (const m of meson) await s.guest.exec(m.argv, { timeoutMs: m.timeoutMs });
  return performance.now() - t0;
}

const verdicts = (rs: TestResult[]) => rs.filter((r) => r.status !== 'timeout' && r.status !== 'infra-error').length;
const first = await harnessPass();
console.log(`pass 1 (harness, sets up the shares): ${(first.ms / 1000).toFixed(0)} s, ${verdicts(first.results)} of ${first.results.length} tests reached a verdict`);
for (const r of first.results) console.log(`  ${r.name}: ${r.status}${r.reason ? ` — ${r.reason.slice(0, 100)}` : ''}`);
const ratios: number[] = [];
for (let round = 1; round <= Number(values.rounds); round++) {
  let h: Awaited<ReturnType<typeof harnessPass>>;
  let plain: number;
  if (round % 2 === 1) {
    plain = await plainPass();
    h = await harnessPass();
  } else {
    h = await harnessPass();
    plain = await plainPass();
  }
  ratios.push(h.ms / plain);
  console.log(`round ${round}: harness ${(h.ms / 1000).toFixed(0)} s (${verdicts(h.results)}/${h.results.length} verdicts), plain ssh ${(plain / 1000).toFixed(0)} s, ratio ${(h.ms / plain).toFixed(3)}`);
}
const sorted = [...ratios].sort((a, b) => a - b);
console.log(`\nratio harness / the same meson test commands over plain ssh: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)} (goal ≤ 1.05) of ${ratios.map((r) => r.toFixed(3)).join(', ')}; suite ${NDCTL_SUITE}`);
watch.stop();
await s.close();
rmSync(dir, { recursive: true, force: true });
