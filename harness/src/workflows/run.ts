// The run workflow: inputs → kernel + image → a booted guest → tests →
// run.json + table. Every state change is written to run.json so a run that
// dies half-way still leaves its console log and an honest status.
import { hostname } from 'node:os';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir } from '../host/paths.ts';
import { ensurePackages, harnessNeeds } from '../host/apt.ts';
import { setInterruptHandler } from '../host/proc.ts';
import { prepareStockKernel, kernelFromPath } from '../kernel/stock.ts';
import { prepareKernel, type PrepareKernelOptions } from '../kernel/index.ts';
import { buildImage, loadAnyRecipe } from '../image/index.ts';
import { buildModulesCpio } from '../image/modules.ts';
import { chooseAccel, qemuVersion } from '../vm/accel.ts';
import { validateTopology, topologyHash, defaultTopology } from '../vm/topology.ts';
import { kernelCmdline } from '../vm/qemu-args.ts';
import { GuestLostError } from '../vm/guest.ts';
import { portIsFree } from '../vm/ports.ts';
import { createRunDir, newRunId, saveRun } from '../results/store.ts';
import { label } from '../results/table.ts';
import type { Accel, KernelArtifact, RunRecord, TestResult, Topology } from '../results/records.ts';
import { startSession, assembleInitrd, type Session } from './session.ts';
import { setupFsdax, runSmokeOn, smokeFilesystems, type SmokeFs } from '../suites/dax-smoke.ts';
import { TestLog, StepFailed, blankResult, judge, type SuiteContext } from '../suites/context.ts';
import { watchConsole, type ConsoleWatch } from './watch.ts';
import { censusAfterUnmount } from '../suites/census.ts';
import { prepareNdctl, runNdctlSuite, NDCTL_GUEST, type NdctlBuild } from '../suites/ndctl.ts';
import { withNfitTest } from '../kernel/nfit-stock.ts';
import { checkStressorTestNames } from '../suites/stressor-manifest.ts';
import { symbolizeReport } from '../oracle/index.ts';
import { Addr2lineSymbolizer } from '../kernel/symbolize.ts';

export type KernelChoice =
  | { kind: 'stock'; pkg?: string }
  | { kind: 'build'; opts: PrepareKernelOptions }
  | { kind: 'path'; bzImage: string; modules: string | null }
  | { kind: 'artifact'; artifact: KernelArtifact };

export interface RunOptions {
  kernel: KernelChoice;
  image: string;
  /** Guest NVDIMMs, legacy pmem and RAM; default: what the suite needs. */
  topology?: Topology;
  accel?: Accel;
  sshPort?: number;
  resultsRoot: string;
  /** Which suite: the DAX smoke (default), the stressor matrix, or ndctl's meson dax suite. */
  suite?: 'smoke' | 'stressors' | 'ndctl';
  /** The user's ndctl tree (suite 'ndctl'). */
  ndctl?: string;
  /** Harness limit for an ndctl test with meson's timeout disabled. */
  hangMs?: number;
  /** Only these tests of the suite (names as the suite lists them). */
  tests?: string[];
  /** Filesystems for the DAX smoke. */
  filesystems: SmokeFs[];
  seconds: number;
  seed: number;
  bootTimeoutMs: number;
  cmdlineExtra: string[];
  progress: (phase: string, msg: string) => void;
  /** The refcount census after every unmount (default on; false skips it). */
  census?: boolean;
  /** Test hook: runs once the guest is ready, before the tests. */
  onReady?: (s: Session, runDir: string) => void | Promise<void>;
}

export class RunInputError extends Error {
  override name = 'RunInputError';
}

export interface RunOutcome {
  record: RunRecord;
  runDir: string;
}

export async function resolveKernel(k: KernelChoice, log: (m: string) => void): Promise<KernelArtifact> {
  if (k.kind === 'artifact') return k.artifact;
  if (k.kind === 'path') return kernelFromPath(k.bzImage, k.modules);
  if (k.kind === 'build') return prepareKernel({ ...k.opts, log });
  return prepareStockKernel(log, k.pkg);
}

/** A kernel built for the ndctl suite boots the systemd rootfs and carries dax_hmem: the ndctl fragment, unless the user chose fragments. */
export function ndctlKernelChoice(k: KernelChoice): KernelChoice {
  if (k.kind !== 'build' || k.opts.config?.length) return k;
  return { kind: 'build', opts: { ...k.opts, config: [...NDCTL_GUEST.kernelFragments] } };
}

export async function runWorkflow(opts: RunOptions): Promise<RunOutcome> {
  const ndctlSuite = opts.suite === 'ndctl';
  const o = {
    ...opts,
    topology: opts.topology ?? (ndctlSuite ? NDCTL_GUEST.topology : defaultTopology),
    cmdlineExtra: [...(ndctlSuite ? NDCTL_GUEST.cmdline : []), ...opts.cmdlineExtra],
  };
  // Everything that can be judged without a guest is judged before a result
  // directory exists, so bad input never leaves a run behind.
  validateTopology(o.topology);
  await loadAnyRecipe(o.image);
  if (o.sshPort !== undefined && (!Number.isInteger(o.sshPort) || o.sshPort < 1 || o.sshPort > 65535))
    throw new RunInputError(`--ssh-port ${o.sshPort} is not a port number: use 1024-65535`);
  if (o.sshPort !== undefined && !(await portIsFree(o.sshPort)))
    throw new RunInputError(`--ssh-port ${o.sshPort} is taken on 127.0.0.1: pick another or leave it out to get a free one`);
  if (o.kernel.kind === 'path') await kernelFromPath(o.kernel.bzImage, o.kernel.modules);
  const prep = (m: string) => o.progress('prepare', m);
  if (o.suite === 'ndctl' && !o.ndctl) throw new RunInputError('--suite ndctl needs --ndctl PATH: the top of your ndctl git tree');
  if ((o.suite ?? 'smoke') === 'smoke' && o.tests?.length) throw new RunInputError('--test goes with --suite stressors or --suite ndctl; the smoke takes --fs');
  if (o.suite === 'stressors') await checkStressorTestNames(o.tests);
  await ensurePackages(harnessNeeds, prep);
  // The ndctl tree is built before anything boots: the guest needs its build
  // directory shared at start, and a broken tree is the user's input error.
  const ndctlBuild = o.suite === 'ndctl' ? await prepareNdctl(o.ndctl!, prep) : null;
  if (ndctlBuild) {
    const names = ndctlBuild.tests.map((t) => t.name);
    for (const w of o.tests ?? [])
      if (!names.includes(w)) throw new RunInputError(`--test ${w} is not in ndctl's dax suite: choose from ${names.join(', ')}`);
  }
  // ndctl's nfit_test tests need the wrapped drivers in place of the stock ones
  // (a pipeline-built kernel carries them already).
  const resolved = await resolveKernel(ndctlSuite ? ndctlKernelChoice(o.kernel) : o.kernel, prep);
  const kernel = ndctlSuite ? await withNfitTest(resolved, prep) : resolved;
  const { image, recipe } = await buildImage(o.image, prep);
  const modules = await buildModulesCpio(kernel, ndctlSuite ? [...recipe.modules, ...NDCTL_GUEST.modules] : recipe.modules, prep);
  const accel = await chooseAccel({ override: o.accel, kernel: kernel.bzImage, initrd: await assembleInitrd(image, modules), log: prep });
  o.progress('prepare', `accelerator: ${accel.used.toUpperCase()} — ${accel.why}`);

  const id = newRunId();
  const runDir = await createRunDir(o.resultsRoot, id);
  const record: RunRecord = {
    schema: 1,
    id,
    status: 'running',
    reason: '',
    startedAt: new Date().toISOString(),
    endedAt: null,
    host: { hostname: hostname(), qemuVersion: await qemuVersion() },
    accel,
    kernel,
    image: { recipe: image.recipe, key: image.key },
    topology: o.topology,
    topologyHash: topologyHash(o.topology),
    kernelCmdline: kernelCmdline({ topology: o.topology, cmdlineExtra: [...(image.cmdline ?? []), ...o.cmdlineExtra] }),
    qemuArgv: [],
    bootMs: null,
    kernelInitMs: null,
    tests: [],
    crashes: [],
  };
  await saveRun(runDir, record);
  o.progress('run', `results in ${runDir}`);

  const stop = new AbortController();
  let session: Session | null = null;
  let watch: ConsoleWatch | null = null;
  setInterruptHandler(async (sig) => {
    stop.abort(new Error(`interrupted by ${sig}`));
    record.status = 'interrupted';
    record.reason = `interrupted by ${sig}`;
    record.endedAt = new Date().toISOString();
    await saveRun(runDir, record);
  });

  const finish = async (status: RunRecord['status'], reason: string) => {
    if (record.status === 'interrupted') return;
    record.status = status;
    record.reason = reason;
    record.endedAt = new Date().toISOString();
    await saveRun(runDir, record);
  };

  try {
    o.progress('boot', `starting QEMU (${accel.used}, ${o.topology.nvdimms.length} NVDIMM, ${o.topology.memmap.length} memmap)`);
    session = await startSession({
      kernel,
      image,
      modules,
      topology: o.topology,
      accel: accel.used,
      cpu: accel.cpu,
      sshPort: o.sshPort,
      runDir,
      workDir: cacheDir('work', id),
      cmdlineExtra: o.cmdlineExtra,
      bootTimeoutMs: o.bootTimeoutMs,
      lifetimeMs: 6 * 3600 * 1000,
      progress: (m) => o.progress('boot', m),
      signal: stop.signal,
      shares: ndctlBuild?.shares,
    });
    record.qemuArgv = session.machine.argv;
    record.bootMs = session.bootMs;
    record.kernelInitMs = session.kernelInitMs;
    await saveRun(runDir, record);
    o.progress('boot', `guest ready over ssh in ${(session.bootMs / 1000).toFixed(1)} s`);

    watch = watchConsole(session.machine, (why) => stop.abort(new Error(why)));
    const m = session.machine;
    void m.exited.then((x) => {
      if (!x.requested) stop.abort(new GuestLostError(`QEMU exited unexpectedly (${x.signal ?? `exit ${x.exitCode}`})`));
    });

    if (o.onReady) await o.onReady(session, runDir);

    const ctx: SuiteContext = {
      guest: session.guest,
      kernel,
      topology: o.topology,
      runDir,
      timeScale: accel.used === 'tcg' ? 3 : 1,
      signal: stop.signal,
      seed: o.seed,
      seconds: o.seconds,
      progress: (msg) => o.progress('test', msg),
      takeCrashes: () => watch?.take() ?? [],
      settle: async () => {
        await Promise.race([m.exited, new Promise((r) => setTimeout(r, 1500))]);
      },
      afterUnmount: o.census === false ? undefined : (log, target) => censusAfterUnmount(ctx, log, target, { log: prep }),
    };
    await runTests(ctx, o, record, runDir, ndctlBuild);
    // A lost ssh channel is usually the symptom; QEMU having died is the cause
    // worth reporting. Give its exit a moment to be noticed.
    if (record.tests.some((x) => x.status === 'infra-error') && !stop.signal.aborted)
      await Promise.race([m.exited, new Promise((r) => setTimeout(r, 1500))]);

    if (stop.signal.aborted && record.status === 'running') {
      const why = (stop.signal.reason as Error)?.message ?? String(stop.signal.reason);
      const fatal = watch.fatal();
      if (fatal) await finish('fail', `kernel report ended the run: ${fatal.title}`);
      else await finish('infra-error', why);
    } else {
      const bad = record.tests.filter((t) => t.status !== 'pass' && t.status !== 'skip');
      const infra = bad.find((t) => t.status === 'infra-error');
      if (infra) await finish('infra-error', `${infra.name}: ${infra.reason}`);
      else await finish(bad.length ? 'fail' : 'pass', bad.length ? `${bad.length} of ${record.tests.length} tests did not pass` : '');
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    await finish('infra-error', msg);
  } finally {
    if (watch) {
      watch.stop();
      record.crashes = watch.all();
    }
    if (kernel.vmlinux && record.crashes.length) await symbolizeCrashes(record, kernel, o.progress);
    if (session) await session.close();
    else await rm(cacheDir('work', id), { recursive: true, force: true });
    if (record.status === 'running') await finish('infra-error', 'run ended without a verdict');
    else await saveRun(runDir, record);
  }
  return { record, runDir };
}

async function runTests(ctx: SuiteContext, o: RunOptions, record: RunRecord, runDir: string, ndctlBuild: NdctlBuild | null): Promise<void> {
  const onResult = async (r: TestResult) => {
    record.tests.push(r);
    ctx.progress(`${label(r)}: ${r.status.toUpperCase()} in ${(r.durationMs / 1000).toFixed(1)} s${r.reason ? ` — ${r.reason}` : ''}`);
    await saveRun(runDir, record);
  };
  if (o.suite === 'stressors') {
    const { runStressorSuite } = await import('../suites/stressors.ts');
    await runStressorSuite(ctx, { tests: o.tests, onResult });
    return;
  }
  if (o.suite === 'ndctl' && ndctlBuild) {
    await runNdctlSuite(ctx, ndctlBuild, { tests: o.tests, onResult, hangMs: o.hangMs });
    return;
  }
  await runSmoke(ctx, o, onResult);
}

async function runSmoke(ctx: SuiteContext, o: RunOptions, onResult: (r: TestResult) => Promise<void>): Promise<void> {
  // The namespace setup is a test of its own: a kernel report while it runs
  // belongs to it, not to the first filesystem test after it.
  const setupLog = new TestLog(ctx.runDir, 'setup.fsdax');
  await setupLog.ready;
  const setup = blankResult('setup.fsdax', { mode: 'fsdax' }, setupLog.rel);
  const t0 = Date.now();
  let dev: string | null = null;
  try {
    dev = await setupFsdax(ctx, setupLog);
  } catch (e) {
    setup.status = e instanceof StepFailed ? e.status : 'infra-error';
    setup.reason = e instanceof Error ? e.message : String(e);
    if (!(e instanceof StepFailed)) await ctx.settle();
  }
  judge(setup, ctx.takeCrashes());
  setup.durationMs = Date.now() - t0;
  await setupLog.close();
  await onResult(setup);
  if (!dev || setup.status === 'infra-error') return;
  for (const fs of o.filesystems) {
    if (ctx.signal.aborted) break;
    const r: TestResult = await runSmokeOn(ctx, fs, dev);
    await onResult(r);
    if (r.status === 'infra-error') break;
  }
}

export { smokeFilesystems };

/**
 * With a vmlinux that has debug info (built kernels), stacks get file:line
 * and inlined callees. The same report objects sit in the run and in the test
 * that held them, so both are updated in place.
 */
async function symbolizeCrashes(record: RunRecord, kernel: KernelArtifact, progress: RunOptions['progress']): Promise<void> {
  try {
    const sym = new Addr2lineSymbolizer({ vmlinux: kernel.vmlinux!, systemMap: kernel.systemMap, timeoutMs: 120000 });
    for (const c of record.crashes) Object.assign(c, await symbolizeReport(c, sym));
  } catch (e) {
    progress('run', `could not symbolize the crash stacks: ${(e as Error).message}`);
  }
}
