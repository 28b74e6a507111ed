// The run primitive: a typed plan in, a run record out. Every workflow (run,
// nightly, bisect, repro, shell) goes through here:
//
//   plan → check (no downloads) → prepare (kernel, suite needs, image,
//   modules, our kernel modules) → boot (the oracle live from QEMU's first
//   byte) → execute (the tests, repeated in one guest while it survives,
//   rebooted after a crash) → judge (outcome × known outcomes × crashes) →
//   record (run.json rewritten at every state change).
//
// prepareCell() does everything that needs no guest and can be shared (a
// nightly prepares a kernel once for many cells); executeCell() boots and
// runs; runCell() is both.
import { hostname } from 'node:os';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir } from '../host/paths.ts';
import { harnessVersion } from '../host/version.ts';
import { ensurePackages, harnessNeeds } from '../host/apt.ts';
import { setInterruptHandler } from '../host/proc.ts';
import { prepareStockKernel, kernelFromPath } from '../kernel/stock.ts';
import { prepareKernel, type PrepareKernelOptions } from '../kernel/index.ts';
import { buildImage, loadAnyRecipe } from '../image/index.ts';
import { buildModulesCpio, type ModulesArchive } from '../image/modules.ts';
import { buildExtrasCpio } from '../image/extras.ts';
import { chooseAccel, qemuVersion } from '../vm/accel.ts';
import { validateTopology, topologyHash } from '../vm/topology.ts';
import { kernelCmdline, watchdogsFor } from '../vm/qemu-args.ts';
import { GuestLostError } from '../vm/guest.ts';
import { portIsFree } from '../vm/ports.ts';
import { ConsoleStream } from '../vm/console.ts';
import { claimRun, saveRun } from '../results/store.ts';
import { reserveSpace } from '../host/space.ts';
import { CappedFile, describeWriteError, logCaps } from '../host/capped-file.ts';
import { label } from '../results/table.ts';
import { sha256 } from '../host/fsutil.ts';
import { InputError } from '../host/errors.ts';
import { checkKernelInputs } from '../kernel/index.ts';
import { startHeartbeat } from '../results/store.ts';
import type { Accel, CrashReport, ImageArtifact, KernelArtifact, PlanSummary, RunRecord, TestResult, Topology } from '../results/records.ts';
import { startSession, assembleInitrd, SessionError, describePhase, type Session } from './session.ts';
import { watchConsole, endsRun, type ConsoleWatch } from './watch.ts';
import { guestKey, handOver, shutdown, type GuestPool, type PooledGuest } from './guest-pool.ts';
import { DEFAULT_SUITE, suiteByName, type PreparedSuite, type Suite, type SuiteInputs, type SuiteName } from '../suites/index.ts';
import { blankResult, type SuiteContext } from '../suites/context.ts';
import { censusAfterUnmount, buildCensusTools, type CensusTools } from '../suites/census.ts';
import { BUILTIN_KNOWN, applyKnown, loadKnown, failingVerdict, type KnownEntry } from '../suites/known.ts';
import { parseLog, symbolizeReport } from '../oracle/index.ts';
import { Addr2lineSymbolizer } from '../kernel/symbolize.ts';
import type { DaxFs } from '../suites/fsdax.ts';

export type KernelChoice =
  | { kind: 'stock'; pkg?: string }
  | { kind: 'build'; opts: PrepareKernelOptions }
  | { kind: 'path'; bzImage: string; modules: string | null }
  | { kind: 'artifact'; artifact: KernelArtifact };

/** Everything a run is: the input of the run primitive. */
export interface CellPlan {
  kernel: KernelChoice;
  suite?: SuiteName;
  tests?: string[];
  filesystems?: DaxFs[];
  ndctl?: string;
  hangMs?: number;
  /** Image recipe; default: what the suite needs. */
  image?: string;
  /** Guest NVDIMMs, legacy pmem and RAM; default: what the suite needs. */
  topology?: Topology;
  cmdlineExtra?: string[];
  seconds?: number;
  seed?: number;
  /** The refcount census after every unmount (default on). */
  census?: boolean;
  /** Run the suite's tests this many times in one booted guest (rebooted after a crash). */
  repeat?: number;
  /** Known-outcome files of the user's, after ours. */
  known?: string[];
  accel?: Accel;
  sshPort?: number;
  bootTimeoutMs?: number;
  /** The caller's identity for this cell (a nightly's matrix key); default: derived from the plan. */
  cellKey?: string;
}

export interface CellEnv {
  resultsRoot: string;
  progress: (phase: string, msg: string) => void;
  /** Stop from outside (nightly/bisect cancelling); ^C is handled here too. */
  signal?: AbortSignal;
  /** Test hook: runs once per boot when the guest is ready, before the tests. */
  onReady?: (s: Session, runDir: string) => void | Promise<void>;
  /** Stop repeating once this says so (repro: the crash was matched; bisect: enough evidence). */
  stopWhen?: (record: RunRecord) => boolean;
  /** No new pass starts after this much wall time (ms). */
  budgetMs?: number;
  /** Install the ^C/SIGTERM handler that marks the record interrupted (default true; a nightly handles signals itself). */
  handleSignals?: boolean;
  /**
   * What a pass does in place of the suite's tests (repro: the tests its loop
   * asks for next; shell: a person at a pty; run --keep: the suite, then the
   * guest kept up). Resolving false ends the run before this pass counts.
   */
  pass?: (o: PassHook) => Promise<boolean | void>;
  /**
   * Guests kept up between cells (a nightly's): the run starts in an idle
   * guest that would have been booted the same way, and hands its guest back
   * if it leaves it clean.
   */
  guests?: GuestPool;
}

export interface PassHook {
  ctx: SuiteContext;
  session: Session;
  /** What the guest was booted from (its image carries the ssh keys). */
  prepared: PreparedCell;
  pass: number;
  onResult: (r: TestResult) => Promise<void>;
  /** The suite's own tests for this pass. */
  runSuite: () => Promise<void>;
}

export class RunInputError extends InputError {}

export interface RunOutcome {
  record: RunRecord;
  runDir: string;
}

/** What prepareCell made: everything a boot needs, reusable for many executions. */
export interface PreparedCell {
  plan: CellPlan;
  suite: Suite;
  prepared: PreparedSuite;
  kernel: KernelArtifact;
  image: ImageArtifact;
  modules: ModulesArchive | null;
  extras: string[];
  accel: NonNullable<RunRecord['accel']>;
  topology: Topology;
  cmdlineExtra: string[];
  census: CensusTools | null;
  known: KnownEntry[];
  summary: PlanSummary;
}

export async function resolveKernel(k: KernelChoice, log: (m: string) => void): Promise<KernelArtifact> {
  if (k.kind === 'artifact') return k.artifact;
  if (k.kind === 'path') return kernelFromPath(k.bzImage, k.modules);
  if (k.kind === 'build') return prepareKernel({ ...k.opts, log });
  return prepareStockKernel(log, k.pkg);
}

/** A kernel built for a suite gets the suite's fragments unless the user chose some. */
export function suiteKernelChoice(k: KernelChoice, fragments: string[] | null): KernelChoice {
  if (k.kind !== 'build' || k.opts.config?.length || !fragments) return k;
  return { kind: 'build', opts: { ...k.opts, config: [...fragments] } };
}

function inputsOf(plan: CellPlan): SuiteInputs {
  return { tests: plan.tests, filesystems: plan.filesystems, ndctl: plan.ndctl, hangMs: plan.hangMs };
}

/** A stable identity for "the same cell" across nights and reruns. */
export function planSummary(plan: CellPlan, suiteName: string, image: string, topology: Topology, cmdline: string[]): PlanSummary {
  const k = plan.kernel;
  const kernel: Record<string, unknown> =
    k.kind === 'stock'
      ? { kind: 'stock', pkg: k.pkg ?? 'default' }
      : k.kind === 'path'
        ? { kind: 'path', bzImage: k.bzImage }
        : k.kind === 'artifact'
          ? { kind: 'artifact', key: k.artifact.key }
          : { kind: 'build', source: k.opts.source ?? null, ref: k.opts.ref ?? null, series: k.opts.series ?? null, config: k.opts.config ?? null };
  const params: PlanSummary['params'] = { seconds: plan.seconds ?? 0, seed: plan.seed ?? 1, census: plan.census !== false };
  if (plan.filesystems?.length) params.fs = plan.filesystems.join(',');
  if (cmdline.length) params.cmdline = cmdline.join(' ');
  const tests = [...(plan.tests ?? [])];
  const cellKey = sha256('cell-v1', JSON.stringify({ kernel, suite: suiteName, tests, image, topology: topologyHash(topology), params })).slice(0, 16);
  return { cellKey, suite: suiteName, tests, kernel, image, params, repeat: Math.max(1, plan.repeat ?? 1) };
}

/** Everything that can be judged without downloading or building: bad input is exit 2 before any work. */
export async function checkCell(plan: CellPlan): Promise<{ suite: Suite; image: string; topology: Topology; cmdlineExtra: string[]; known: KnownEntry[] }> {
  const suite = suiteByName(plan.suite ?? DEFAULT_SUITE);
  const needs = suite.needs(inputsOf(plan));
  const topology = plan.topology ?? needs.topology;
  const cmdlineExtra = [...needs.cmdline, ...(plan.cmdlineExtra ?? [])];
  validateTopology(topology, { cmdline: cmdlineExtra });
  const image = plan.image ?? needs.image;
  await loadAnyRecipe(image);
  await suite.check(inputsOf(plan));
  if (plan.sshPort !== undefined && (!Number.isInteger(plan.sshPort) || plan.sshPort < 1 || plan.sshPort > 65535))
    throw new RunInputError(`--ssh-port ${plan.sshPort} is not a port number: use 1024-65535`);
  if (plan.sshPort !== undefined && !(await portIsFree(plan.sshPort)))
    throw new RunInputError(`--ssh-port ${plan.sshPort} is taken on 127.0.0.1: pick another or leave it out to get a free one`);
  if (plan.repeat !== undefined && (!Number.isInteger(plan.repeat) || plan.repeat < 1)) throw new RunInputError(`--repeat ${plan.repeat} is not a whole number of 1 or more`);
  if (plan.kernel.kind === 'path') await kernelFromPath(plan.kernel.bzImage, plan.kernel.modules);
  if (plan.kernel.kind === 'build') await checkKernelInputs(plan.kernel.opts);
  const known = await loadKnown([BUILTIN_KNOWN, ...(plan.known ?? [])]);
  // A bad $DAX_HARNESS_*_LOG_MIB is the user's to fix, before anything is built.
  logCaps();
  return { suite, image, topology, cmdlineExtra, known };
}

/** Check, then make everything the guest needs before it boots. */
export async function prepareCell(plan: CellPlan, env: Pick<CellEnv, 'progress'>): Promise<PreparedCell> {
  const { suite, image: imageName, topology, cmdlineExtra, known } = await checkCell(plan);
  const prep = (m: string) => env.progress('prepare', m);
  const inputs = inputsOf(plan);
  const needs = suite.needs(inputs);
  await ensurePackages(harnessNeeds, prep);
  const host = await suite.prepareHost(inputs, prep);
  const resolved = await resolveKernel(suiteKernelChoice(plan.kernel, needs.kernelFragments), prep);
  const prepared = await suite.prepare(inputs, host, resolved, prep);
  const kernel = prepared.kernel;
  // Our own kernel modules (census, its leak fixture, the fault fixture) are
  // built for this kernel now, not from inside a test.
  const wantsFaults = cmdlineExtra.some((w) => w.startsWith('daxh.fault='));
  const census = plan.census !== false || wantsFaults ? await buildCensusTools(kernel, prep) : null;
  const { image, recipe } = await buildImage(imageName, prep);
  const modules = await buildModulesCpio(kernel, [...recipe.modules, ...needs.modules], prep);
  const extras = wantsFaults && census ? [await buildExtrasCpio([{ src: census.faults, dest: '/daxh/daxh_fault.ko' }])] : [];
  // The KVM probe boots Debian's stock kernel, known to boot: a broken kernel
  // under test must not turn a KVM host into a TCG host for good.
  const accel = await chooseAccel({
    override: plan.accel,
    log: prep,
    probeTarget: async () => ({ kernel: (await prepareStockKernel(prep)).bzImage, initrd: image.cpio }),
  });
  await assembleInitrd(image, modules, extras);
  prep(`accelerator: ${accel.used.toUpperCase()} — ${accel.why}`);
  const summary = planSummary(plan, suite.name, imageName, topology, cmdlineExtra);
  if (plan.cellKey) summary.cellKey = plan.cellKey;
  return { plan, suite, prepared, kernel, image, modules, extras, accel, topology, cmdlineExtra, census, known, summary };
}

export async function runCell(plan: CellPlan, env: CellEnv): Promise<RunOutcome> {
  return executeCell(await prepareCell(plan, env), env);
}

/** Boot the prepared guest, run the suite (repeatedly), judge and record. */
export async function executeCell(p: PreparedCell, env: CellEnv): Promise<RunOutcome> {
  const plan = p.plan;
  const { id, dir: runDir } = await claimRun(env.resultsRoot, { workRoot: cacheDir('work') });
  const record: RunRecord = {
    schema: 1,
    id,
    status: 'running',
    reason: '',
    harness: { pid: process.pid, hostname: hostname(), heartbeatAt: new Date().toISOString() },
    harnessVersion: await harnessVersion(),
    phase: 'prepare',
    plan: p.summary,
    startedAt: new Date().toISOString(),
    endedAt: null,
    host: { hostname: hostname(), qemuVersion: await qemuVersion() },
    accel: p.accel,
    kernel: p.kernel,
    image: { recipe: p.image.recipe, key: p.image.key },
    topology: p.topology,
    topologyHash: topologyHash(p.topology),
    kernelCmdline: kernelCmdline({ topology: p.topology, accel: p.accel.used, cmdlineExtra: [...(p.image.cmdline ?? []), ...p.cmdlineExtra] }),
    watchdogs: watchdogsFor(p.accel.used),
    qemuArgv: [],
    bootMs: null,
    kernelInitMs: null,
    tests: [],
    crashes: [],
  };
  const save = () => saveRun(runDir, record);
  await save();
  // Room held back for the last run.json, given up when the run ends: a disk
  // the guest's output filled still gets the record that says so.
  const releaseSpace = await reserveSpace(runDir);
  // A reader later tells a run whose harness died (SIGKILL, power loss) from a live one by this.
  const stopHeartbeat = startHeartbeat(runDir, record);
  env.progress('run', `results in ${runDir}`);

  const stop = new AbortController();
  // A run stopped from outside (^C here, or a caller's env.signal: a nightly
  // cancelling its cells) is no verdict: it is 'interrupted' and says so at
  // once, so a harness that exits right after leaves no 'running' record.
  const interrupt = async (why: string) => {
    stop.abort(new Error(why));
    if (record.status !== 'running') return;
    record.status = 'interrupted';
    record.reason = why;
    record.endedAt = new Date().toISOString();
    await save();
  };
  // A failed write here is retried by the run's last save.
  const outside = () => void interrupt(String((env.signal?.reason as Error)?.message ?? env.signal?.reason ?? 'stopped')).catch(() => {});
  env.signal?.addEventListener('abort', outside, { once: true });
  if (env.signal?.aborted) outside();
  if (env.handleSignals !== false) setInterruptHandler((sig) => interrupt(`interrupted by ${sig}`));

  const finish = async (status: RunRecord['status'], reason: string) => {
    if (record.status === 'interrupted') return;
    record.status = status;
    record.reason = reason;
    record.endedAt = new Date().toISOString();
    await save();
  };
  let currentPass = 0;
  const onResult = async (r: TestResult) => {
    if (currentPass) r.params.pass = String(currentPass);
    applyKnown(r, r.name === 'boot' ? 'boot' : p.suite.name, p.known, { ...p.kernel, accel: p.accel.used });
    record.tests.push(r);
    env.progress('test', `${label(r)}: ${verdictWord(r)} in ${(r.durationMs / 1000).toFixed(1)} s${r.reason ? ` — ${r.reason}` : ''}`);
    await save();
  };

  const repeat = Math.max(1, plan.repeat ?? 1);
  const started = Date.now();
  let boots = 0;
  let session: Session | null = null;
  let watch: ConsoleWatch | null = null;
  const poolKey = env.guests ? guestKeyOf(p) : null;
  // Who booted the guest the run is in now, and how many cells it has run.
  const booted: Pick<PooledGuest, 'bootedBy' | 'cells' | 'workRoot'> = { bootedBy: { id, dir: runDir }, cells: 0, workRoot: cacheDir('work', id) };
  let origin = booted;
  let closeConsole: (() => Promise<void>) | null = null;
  let keptOwnGuest = false;
  // Back to the pool when clean and asked to keep it, else shut down.
  const releaseGuest = async (keep: boolean) => {
    const s = session!;
    session = null;
    const close = closeConsole;
    closeConsole = null;
    const g: PooledGuest = { key: poolKey ?? '', session: s, console: s.machine.console, bootedBy: origin.bootedBy, workRoot: origin.workRoot, cells: origin.cells + 1 };
    if (keep && env.guests) {
      keptOwnGuest = origin.bootedBy.id === id;
      // give() starts collecting the console before its first await and this
      // run's writer stops in the same tick: every line lands in one place.
      const given = env.guests.give(g);
      await close?.();
      await given;
    } else {
      await shutdown(g);
      await close?.();
    }
  };
  // A file of the run could not be written (console.log, a test's log, run.json):
  // the disk is full or failing, and the run ends as the machine's problem.
  let writeFailure: string | null = null;
  const writeError = (e: NodeJS.ErrnoException, path: string) => {
    if (writeFailure) return;
    writeFailure = describeWriteError(e, path);
    env.progress('run', writeFailure);
    stop.abort(new Error(writeFailure));
  };
  // Where a run-ending report goes: the boot's stop while booting, then the pass's.
  const sink: Sink = { fatal: () => {}, stall: () => {}, writeError };
  const allCrashes: CrashReport[] = [];
  const enders: CrashReport[] = [];
  let ended: { status: RunRecord['status']; reason: string } | null = null;
  let inputError: InputError | null = null;
  try {
    for (let pass = 1; pass <= repeat && !stop.signal.aborted; pass++) {
      if (pass > 1 && env.budgetMs !== undefined && Date.now() - started > env.budgetMs) break;
      currentPass = repeat > 1 ? pass : 0;
      if (!session) {
        const pooled = boots === 0 && poolKey ? env.guests!.take(poolKey) : null;
        const adopted = pooled ? await adoptGuest(pooled, env, runDir, record, stop.signal, sink) : null;
        if (adopted) {
          origin = { bootedBy: pooled!.bootedBy, cells: pooled!.cells, workRoot: pooled!.workRoot };
          closeConsole = adopted.closeConsole;
          allCrashes.push(...adopted.idleReports);
          boots++;
        } else {
          origin = booted;
          await env.guests?.drain();
        }
        const boot = adopted?.boot ?? (await bootOnce(p, env, runDir, record, boots++, stop.signal, sink));
        watch = boot.watch;
        session = boot.session;
        await onResult(boot.result);
        if (!session) {
          allCrashes.push(...closeWatch(boot.watch));
          watch = null;
          ended = boot.ended;
          break;
        }
      }
      const passWatch: ConsoleWatch = watch!;
      const passStop = new AbortController();
      sink.fatal = (why) => passStop.abort(new Error(why));
      const live = session;
      const onStop = () => passStop.abort(stop.signal.reason);
      stop.signal.addEventListener('abort', onStop, { once: true });
      const m = session.machine;
      let guestGone = false;
      void m.exited.then((x) => {
        guestGone = true;
        if (!x.requested) passStop.abort(new GuestLostError(`QEMU exited unexpectedly (${x.signal ?? `exit ${x.exitCode}`})`));
      });
      // Until the cut test's tasks have left the kernel, the suite waits:
      // a umount stuck behind the stall still holds the device the next
      // test formats.
      let settling: Promise<void> | null = null;
      const { ctx, cutTest } = suiteContext(p, session, runDir, passStop.signal, passWatch, pass, repeat, env, () => settling, sink.writeError);
      // A stall fails the test it lands in. If the guest still answers, that
      // test is cut short and the suite goes on; if it does not, the pass ends.
      sink.stall = (r) => {
        // A second detector on the same stall (an expedited RCU stall, then
        // the soft lockup) belongs to the test already cut.
        if (settling) return;
        settling = (async () => {
          const alive = await guestAnswers(live, p.accel.used === 'tcg' ? 60000 : 30000);
          if (passStop.signal.aborted) return;
          if (!alive) {
            passWatch.markFatal(r);
            passStop.abort(new Error(`kernel report: ${r.title}; the guest no longer answers`));
            return;
          }
          // The cut test's result is the next one recorded.
          const cutAt = record.tests.length;
          cutTest(new Error(`kernel report: ${r.title} (the guest still answers: this test ends, the suite goes on)`));
          const limitS = watchdogsFor(p.accel.used).hungTaskS;
          const blocked = await blockedTasks(live, limitS, passStop.signal);
          if (passStop.signal.aborted) return;
          // Reports that came while its tasks drained are that test's too; if
          // it has not ended yet, it takes them itself.
          const cut = record.tests[cutAt];
          const late = cut ? passWatch.take() : [];
          if (cut && late.length) {
            cut.crashes.push(...late);
            cut.status = 'crash';
            applyKnown(cut, p.suite.name, p.known, { ...p.kernel, accel: p.accel.used });
            await save();
          }
          if (blocked) {
            passWatch.markFatal(r);
            passStop.abort(new Error(`kernel report: ${r.title}; tasks still blocked in the kernel ${limitS} s later (${blocked})`));
          }
        })().finally(() => {
          settling = null;
        });
      };
      record.phase = 'test';
      await save();
      const before = record.tests.length;
      let ran: boolean | void = true;
      try {
        const runSuite = () => p.prepared.run(ctx, onResult);
        ran = env.pass ? await env.pass({ ctx, session: live, prepared: p, pass, onResult, runSuite }) : await runSuite();
      } finally {
        stop.signal.removeEventListener('abort', onStop);
      }
      if (ran === false) break;
      // A lost ssh channel is usually the symptom; QEMU having died is the
      // cause worth reporting. Give its exit a moment to be noticed.
      if (record.tests.slice(before).some((x) => x.status === 'infra-error') && !passStop.signal.aborted)
        await Promise.race([m.exited, new Promise((r) => setTimeout(r, 1500))]);
      if (stop.signal.aborted) break;
      const fatal = passWatch.fatal();
      if (fatal) enders.push(fatal);
      if (passStop.signal.aborted || guestGone) {
        if (!fatal) {
          ended = { status: 'infra-error', reason: String((passStop.signal.reason as Error)?.message ?? 'the guest was lost') };
          break;
        }
        // The kernel ended this guest: a next pass boots a fresh one.
        allCrashes.push(...closeWatch(passWatch));
        watch = null;
        await releaseGuest(false);
      }
      if (env.stopWhen?.({ ...record, crashes: [...allCrashes, ...(watch ? watch.all() : [])] })) break;
    }
    if (!ended) {
      if (stop.signal.aborted && record.status === 'running') ended = { status: 'infra-error', reason: String((stop.signal.reason as Error)?.message ?? stop.signal.reason) };
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err?.code === 'ENOSPC' && !writeFailure) writeFailure = describeWriteError(err, err.path ?? runDir);
    ended = { status: 'infra-error', reason: e instanceof Error ? e.message : String(e) };
    if (e instanceof InputError) inputError = e;
  } finally {
    record.phase = 'teardown';
    // Asked while the oracle still watches the console: what the check itself
    // brings out is this run's.
    const mayKeep =
      Boolean(env.guests) && session !== null && !ended && !inputError && record.status === 'running' && !stop.signal.aborted && (session as Session).machine.running && (await guestIsClean(session as Session));
    if (watch) allCrashes.push(...closeWatch(watch));
    record.crashes = allCrashes;
    // Every report lands on a step: one that no test took (between tests, at
    // teardown) becomes a step of its own, so it can never go unjudged.
    const loose = allCrashes.filter((c) => !record.tests.some((t) => t.crashes.includes(c)));
    if (loose.length) {
      const r = blankResult('kernel', {}, 'console.log');
      r.status = 'crash';
      r.crashes = loose;
      r.reason = `kernel report outside any test: ${loose.map((c) => c.title).join('; ')}`;
      applyKnown(r, 'boot', p.known, { ...p.kernel, accel: p.accel.used });
      record.tests.push(r);
    }
    if (!ended && record.status === 'running') ended = runEnding(record, enders);
    // No await between closing the watch and handing a kept guest over: no console line goes unwatched.
    if (session) await releaseGuest(mayKeep && ended?.status === 'pass' && record.status === 'running' && !allCrashes.length);
    if (p.kernel.vmlinux && record.crashes.length) await symbolizeCrashes(record, p.kernel, env.progress);
    // A guest this run booted and left in the pool still runs on its backing files.
    if (!keptOwnGuest) await rm(cacheDir('work', id), { recursive: true, force: true });
    env.signal?.removeEventListener('abort', outside);
    await stopHeartbeat();
    record.phase = 'done';
    if (writeFailure && record.status === 'running') ended = { status: 'infra-error', reason: writeFailure };
    await releaseSpace();
    if (ended && record.status === 'running') await finish(ended.status, ended.reason);
    else if (record.status === 'running') await finish('infra-error', 'run ended without a verdict');
    else await save();
  }
  // Recorded as what it did to the run, and still the user's input to fix.
  if (inputError) throw inputError;
  return { record, runDir };
}

/** How a run that got through its passes ends: its verdicts, with the report that ended a guest named first. */
function runEnding(record: RunRecord, enders: CrashReport[]): { status: RunRecord['status']; reason: string } {
  const v = verdictOfRun(record);
  const fatal = enders[0];
  if (v.status === 'fail' && fatal) return { status: 'fail', reason: `kernel report ended the run: ${fatal.title}; ${v.reason}` };
  return v;
}

function closeWatch(w: ConsoleWatch): CrashReport[] {
  w.stop();
  return w.all();
}

/** The run's status from its tests' verdicts: only unexpected outcomes fail it. */
export function verdictOfRun(record: Pick<RunRecord, 'tests'>): { status: RunRecord['status']; reason: string } {
  const infra = record.tests.find((t) => t.verdict === 'error' || (!t.verdict && t.status === 'infra-error'));
  if (infra) return { status: 'infra-error', reason: `${label(infra)}: ${infra.reason}` };
  const bad = record.tests.filter((t) => (t.verdict ? failingVerdict(t.verdict) : t.status !== 'pass' && t.status !== 'skip'));
  const xfail = record.tests.filter((t) => t.verdict === 'xfail').length;
  const xpass = record.tests.filter((t) => t.verdict === 'xpass').length;
  const extra = [xfail ? `${xfail} expected failure${xfail > 1 ? 's' : ''}` : '', xpass ? `${xpass} unexpectedly passed (XPASS)` : ''].filter(Boolean).join(', ');
  if (bad.length) return { status: 'fail', reason: `${bad.length} of ${record.tests.length} tests failed unexpectedly${extra ? `; ${extra}` : ''}` };
  return { status: 'pass', reason: extra };
}

function verdictWord(r: TestResult): string {
  if (r.verdict === 'xfail') return `XFAIL (${r.status})`;
  if (r.verdict === 'xpass') return 'XPASS';
  return r.status.toUpperCase();
}

interface BootOutcome {
  session: Session | null;
  watch: ConsoleWatch;
  /** The boot as a test of its own: its crashes (a WARNING at boot) or why it never came up. */
  result: TestResult;
  ended: { status: RunRecord['status']; reason: string } | null;
}

/**
 * One boot. The console watch is attached before QEMU starts, so a report
 * printed while the kernel probes nd_pmem or mounts at boot is a titled crash
 * on the 'boot' step; a guest that never comes up without one is an
 * infrastructure error naming the phase it stopped after.
 */
interface Sink {
  fatal: (why: string) => void;
  stall: (r: CrashReport) => void;
  /** A file of the run could not be written: the run ends as an infrastructure error. */
  writeError: (e: NodeJS.ErrnoException, path: string) => void;
}

/**
 * Waits until no user task of the guest sits in uninterruptible sleep (what a
 * killed command stuck behind a stall looks like), for at most limitS
 * seconds. Returns null once drained, else the blocked tasks (pid:comm).
 */
async function blockedTasks(s: Session, limitS: number, signal: AbortSignal): Promise<string | null> {
  // Kernel threads (children of kthreadd, pid 2) sleep in D as a matter of course.
  const script = [
    'n=0',
    'while :; do',
    '  busy=',
    '  for f in /proc/[0-9]*/stat; do',
    '    read -r l < "$f" 2>/dev/null || continue',
    '    c=${l#*(}; c=${c%)*}; r=${l##*) }; st=${r%% *}; r=${r#* }; pp=${r%% *}',
    '    [ "$st" = D ] && [ "$pp" != 2 ] && [ "$pp" != 0 ] && busy="$busy ${f#/proc/}:$c"',
    '  done',
    '  [ -z "$busy" ] && exit 0',
    '  n=$((n + 1)); [ "$n" -ge "$1" ] && { echo "$busy"; exit 1; }',
    '  sleep 1',
    'done',
  ].join('\n');
  try {
    const r = await s.guest.exec(['sh', '-c', script, 'settle', String(limitS)], { timeoutMs: (limitS + 60) * 1000, signal });
    return r.exitCode === 0 ? null : r.stdout.trim().replace(/\/stat/g, '') || `exit ${r.exitCode}`;
  } catch (e) {
    return signal.aborted ? null : `the guest did not say: ${(e as Error).message}`;
  }
}

/** Whether the guest runs a command within the grace period (a stall it survived, or a wedged guest). */
async function guestAnswers(s: Session, graceMs: number): Promise<boolean> {
  try {
    const r = await s.guest.exec(['true'], { timeoutMs: graceMs });
    return r.exitCode === 0;
  } catch {
    return false;
  }
}

/** Whether a guest may serve another cell: it answers and nothing is stuck in its kernel. */
async function guestIsClean(s: Session): Promise<boolean> {
  return (await guestAnswers(s, 15000)) && (await blockedTasks(s, 3, new AbortController().signal)) === null;
}

/** The pool key of the guest a prepared cell boots: everything QEMU and the kernel start with. */
export function guestKeyOf(p: PreparedCell): string {
  return guestKey({
    kernel: { key: p.kernel.key, bzImage: p.kernel.bzImage, release: p.kernel.release },
    image: { key: p.image.key, builtAt: p.image.builtAt },
    modulesKey: p.modules?.key ?? null,
    extras: p.extras,
    topology: p.topology,
    cmdline: p.cmdlineExtra,
    accel: p.accel.used,
    cpu: p.accel.cpu,
    sshPort: p.plan.sshPort,
    shares: p.prepared.shares ?? [],
  });
}

/**
 * Start a run in a guest an earlier cell left in the pool: no boot. The run's
 * console.log is written from the hand-over on, beginning with what the guest
 * printed while idle, and that goes through the oracle like a boot's console:
 * a report there lands on this run's boot step. Null (the guest shut down)
 * when it no longer answers cleanly; the caller then boots a fresh one.
 */
async function adoptGuest(
  g: PooledGuest,
  env: CellEnv,
  runDir: string,
  record: RunRecord,
  signal: AbortSignal,
  sink: Sink,
): Promise<{ boot: BootOutcome; closeConsole: () => Promise<void>; idleReports: CrashReport[] } | null> {
  const s = g.session;
  const idle = handOver(g);
  if (!s.machine.running || idle.overflow) {
    env.progress('boot', `the guest kept from run ${g.bootedBy.id} ${idle.overflow ? 'printed too much while idle' : 'is gone'}: booting a fresh one`);
    await shutdown(g);
    return null;
  }
  // Subscribed in the same tick as the hand-over: no line is missed.
  const logPath = join(runDir, 'console.log');
  const out = new CappedFile(logPath, { capBytes: logCaps().consoleBytes, what: 'console.log', batch: true, onError: (e) => sink.writeError(e, logPath) });
  for (const l of idle.lines) out.write(`${l}\n`);
  const off = g.console.subscribe((l) => out.write(`${l}\n`));
  const closeConsole = () => {
    off();
    out.close();
    return Promise.resolve();
  };
  const watch = watchConsole(g.console, s.machine.exited, (why) => sink.fatal(why), (r) => sink.stall(r), idle.lines.length);
  const idleReports = parseLog(idle.lines.join('\n'));
  if (signal.aborted || !(await guestIsClean(s))) {
    const late = [...idleReports, ...watch.take()];
    watch.stop();
    await closeConsole();
    await shutdown(g);
    if (!late.length) {
      env.progress('boot', `the guest kept from run ${g.bootedBy.id} did not answer cleanly: booting a fresh one`);
      await rm(join(runDir, 'console.log'), { force: true });
      return null;
    }
    // What it printed is this run's first evidence: judged on its boot step, and the guest is not used.
    const result = blankResult('boot', {}, 'console.log');
    judgeBoot(result, late);
    return {
      boot: { session: null, watch, result, ended: { status: 'fail', reason: `kernel report in the guest kept from run ${g.bootedBy.id}: ${late[0].title}` } },
      closeConsole: async () => {},
      idleReports,
    };
  }
  const result = blankResult('boot', {}, 'console.log');
  result.metrics.reused_from = g.bootedBy.id;
  result.metrics.cells_before = g.cells;
  judgeBoot(result, [...idleReports, ...watch.take()]);
  record.qemuArgv = s.machine.argv;
  record.bootMs = 0;
  record.kernelInitMs = s.kernelInitMs;
  record.guest = { reusedFrom: g.bootedBy.id, reusedFromDir: g.bootedBy.dir, cellsBefore: g.cells };
  env.progress('boot', `no boot: the guest run ${g.bootedBy.id} booted is kept up and clean (${g.cells} cell${g.cells === 1 ? '' : 's'} before this one)`);
  if (env.onReady) await env.onReady(s, runDir);
  return { boot: { session: s, watch, result, ended: null }, closeConsole, idleReports };
}

async function bootOnce(p: PreparedCell, env: CellEnv, runDir: string, record: RunRecord, n: number, signal: AbortSignal, sink: Sink): Promise<BootOutcome> {
  const consoleFile = n === 0 ? 'console.log' : `console.${n}.log`;
  const result = blankResult('boot', n ? { boot: String(n + 1) } : {}, consoleFile);
  const stream = new ConsoleStream();
  let exitedResolve: () => void = () => {};
  const exited = new Promise<void>((r) => (exitedResolve = r));
  const bootStop = new AbortController();
  const onOuter = () => bootStop.abort(signal.reason);
  signal.addEventListener('abort', onOuter, { once: true });
  sink.fatal = (why) => bootStop.abort(new Error(why));
  // A stall while booting is recorded on the boot step; the boot timeout decides whether it came up.
  sink.stall = () => {};
  const watch = watchConsole(
    stream,
    exited,
    (why) => sink.fatal(why),
    (r) => sink.stall(r),
  );
  record.phase = 'boot';
  await saveRun(runDir, record);
  env.progress('boot', `starting QEMU (${p.accel.used}, ${p.topology.nvdimms.length} NVDIMM, ${p.topology.memmap.length} memmap)${n ? `, boot ${n + 1}` : ''}`);
  const t0 = Date.now();
  try {
    const session = await startSession({
      kernel: p.kernel,
      image: p.image,
      modules: p.modules,
      extraInitrd: p.extras,
      topology: p.topology,
      accel: p.accel.used,
      cpu: p.accel.cpu,
      sshPort: p.plan.sshPort,
      runDir,
      consoleFile,
      console: stream,
      workDir: cacheDir('work', record.id, String(n)),
      cmdlineExtra: p.cmdlineExtra,
      bootTimeoutMs: p.plan.bootTimeoutMs ?? 180000,
      lifetimeMs: 6 * 3600 * 1000,
      progress: (m) => env.progress('boot', m),
      signal: bootStop.signal,
      shares: p.prepared.shares,
      onWriteError: sink.writeError,
    });
    void session.machine.exited.then(() => exitedResolve());
    if (!record.qemuArgv.length) record.qemuArgv = session.machine.argv;
    record.bootMs ??= session.bootMs;
    record.kernelInitMs ??= session.kernelInitMs;
    result.durationMs = session.bootMs;
    env.progress('boot', `guest ready over ssh in ${(session.bootMs / 1000).toFixed(1)} s`);
    const crashes = watch.take();
    judgeBoot(result, crashes);
    if (env.onReady) await env.onReady(session, runDir);
    return { session, watch, result, ended: null };
  } catch (e) {
    exitedResolve();
    result.durationMs = Date.now() - t0;
    watch.stop();
    // The user's input (a port they chose, taken since it was checked): exit 2, not an infrastructure error.
    if (e instanceof InputError) throw e;
    const crashes = watch.take();
    if (crashes.length) {
      judgeBoot(result, crashes);
      const fatal = crashes.find(endsRun) ?? crashes[0];
      return { session: null, watch, result, ended: { status: 'fail', reason: `kernel report during boot: ${fatal.title}` } };
    }
    if (signal.aborted) {
      result.status = 'infra-error';
      result.reason = String((signal.reason as Error)?.message ?? signal.reason);
      return { session: null, watch, result, ended: { status: 'infra-error', reason: result.reason } };
    }
    result.status = 'infra-error';
    const tail = e instanceof SessionError ? e.tail : [];
    result.reason = e instanceof Error ? e.message.split('; console ends')[0] : String(e);
    if (tail.length) result.metrics.console_tail = tail.join('\n');
    if (e instanceof SessionError) result.metrics.boot_phase = e.phase;
    const shown = tail.slice(-5).join(' | ');
    return { session: null, watch, result, ended: { status: 'infra-error', reason: `${result.reason}${shown ? `; console ends: ${shown.slice(-400)}` : ''}` } };
  } finally {
    signal.removeEventListener('abort', onOuter);
  }
}

function judgeBoot(result: TestResult, crashes: CrashReport[]): void {
  result.crashes = crashes;
  if (!crashes.length) return;
  result.status = 'crash';
  result.reason = `kernel report during boot: ${crashes.map((c) => c.title).join('; ')}`;
}

export { describePhase };

/**
 * The suite's view of one pass. Its `signal` is the pass's, except that a
 * stall the guest survived cuts the command running now: that command's
 * signal fires, and later commands get a fresh one.
 */
function suiteContext(
  p: PreparedCell,
  session: Session,
  runDir: string,
  passSignal: AbortSignal,
  watch: ConsoleWatch,
  pass: number,
  repeat: number,
  env: CellEnv,
  settling: () => Promise<void> | null,
  writeError: Sink['writeError'],
): { ctx: SuiteContext; cutTest: (why: Error) => void } {
  const m = session.machine;
  // Every call the suite makes into the guest waits while a cut test drains.
  const gated = new Set<PropertyKey>(['exec', 'check', 'putFile']);
  const guest = new Proxy(session.guest, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      if (!gated.has(prop)) return v.bind(target);
      return async (...args: unknown[]) => {
        await settling();
        return v.apply(target, args);
      };
    },
  });
  let current = new AbortController();
  passSignal.addEventListener('abort', () => current.abort(passSignal.reason), { once: true });
  const cutTest = (why: Error) => {
    const old = current;
    current = new AbortController();
    if (passSignal.aborted) current.abort(passSignal.reason);
    old.abort(why);
  };
  const ctx: SuiteContext = {
    guest,
    kernel: p.kernel,
    topology: p.topology,
    runDir,
    logPrefix: repeat > 1 ? `pass${pass}` : undefined,
    timeScale: p.accel.used === 'tcg' ? 3 : 1,
    get signal() {
      return current.signal;
    },
    seed: p.plan.seed ?? 1,
    seconds: p.plan.seconds ?? 0,
    progress: (msg) => env.progress('test', repeat > 1 ? `[pass ${pass}/${repeat}] ${msg}` : msg),
    takeCrashes: () => watch.take(),
    onWriteError: writeError,
    settle: async () => {
      await Promise.race([m.exited, new Promise((r) => setTimeout(r, 1500))]);
    },
    afterUnmount: p.plan.census === false ? undefined : (log, target) => censusAfterUnmount(ctx, log, target, { log: (msg) => env.progress('prepare', msg) }),
  };
  return { ctx, cutTest };
}

/**
 * With a vmlinux that has debug info (built kernels), stacks get file:line
 * and inlined callees. The same report objects sit in the run and in the test
 * that held them, so both are updated in place.
 */
async function symbolizeCrashes(record: RunRecord, kernel: KernelArtifact, progress: CellEnv['progress']): Promise<void> {
  try {
    const sym = new Addr2lineSymbolizer({ vmlinux: kernel.vmlinux!, systemMap: kernel.systemMap, timeoutMs: 120000 });
    for (const c of record.crashes) Object.assign(c, await symbolizeReport(c, sym));
  } catch (e) {
    progress('run', `could not symbolize the crash stacks: ${(e as Error).message}`);
  }
}
