// The stressor suite: runs the manifest's matrix (suites/stressors/manifest.json)
// in the guest. Per target: the namespace in the right mode (fsdax, or devdax
// at the target's alignment), the filesystem made with the alignment PMD
// faults need; per case: mount -o dax (DAX verified on), the stressor, umount
// under a watchdog, the refcount census hook, fsck -n, taint and kernel-log
// checks. One TestResult per (stressor, target); names are `stressor` or
// `stressor.target` (see stressor-manifest.ts). --seconds > 0 sets every
// stressor's duration; 0 keeps the manifest's per-test seconds. A result's
// status is the kernel's answer as observed; metrics.expected_status and
// metrics.as_expected say whether that is what the manifest expects of this
// kernel version (a known kernel bug stays a fail/crash, never a pass).
// Device-dax hooks: revoke (daxctl disable-device under the stressor's live
// mapping once it prints ready=1, enable-device after) and cycle-namespace
// (fsdax/devdax with -M mem and dev, then back).
import type { CommandResult, TestResult } from '../../results/records.ts';
import { TestLog, StepFailed, step, blankResult, parseKeyValues, judge, type SuiteContext } from '../context.ts';
import { umountWithWatchdog } from '../watchdog.ts';
import { setupFsdax, daxMountState, mkfsArgv } from '../fsdax.ts';
import { newFailingTaint } from '../../oracle/index.ts';
import { loadManifest, expandMatrix, caseArgv, caseParams, outcomeExpected, expectedOutcome, ManifestError, type StressorCase, type ManifestTarget } from './stressor-manifest.ts';

export interface StressorSuiteOptions {
  tests?: string[];
  onResult: (r: TestResult) => Promise<void>;
}

const MNT = '/mnt/dax';
/** How long S8/S13 hold pages in a pipe: well under any hung-task timeout. */
const HOLD_MS = 300;
/** Seconds umount may take before it counts as hung (a leaked reference). */
const UMOUNT_WATCH_S = 60;

/** Kernel log lines that mean a wrong kernel answer but that the crash oracle does not report. */
export const KERNEL_LOG_FAILS: RegExp[] = [/\bbad (pmd|pud|pte)\b/i, /Bad rss-counter state/, /Memory failure: .*: (Failed|Ignored)\b/];

export function kernelLogFailure(lines: string[]): string | null {
  for (const l of lines) for (const re of KERNEL_LOG_FAILS) if (re.test(l)) return l.replace(/^\[\s*[\d.]+\]\s*/, '').trim();
  return null;
}

/** Status of a stressor from how its process ended (exit 0 ok, 77 skip, else fail). */
export function stressorOutcome(r: Pick<CommandResult, 'exitCode' | 'signal' | 'timedOut' | 'stdout' | 'durationMs'>): { status: TestResult['status']; reason: string } {
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('result='));
  const last = lines.length ? parseKeyValues(lines[lines.length - 1]) : {};
  if (r.timedOut) return { status: 'timeout', reason: `stressor timed out after ${r.durationMs} ms${last.reason ? ` (${last.reason})` : ''}` };
  if (r.exitCode === 0 && last.result === 'ok') return { status: 'pass', reason: '' };
  if (r.exitCode === 77) return { status: 'skip', reason: last.reason ?? 'skipped (no reason printed)' };
  if (r.signal) return { status: 'fail', reason: `stressor killed by ${r.signal}${last.reason ? `: ${last.reason}` : ''}` };
  if (r.exitCode === 0) return { status: 'fail', reason: 'stressor exited 0 without printing result=ok' };
  return { status: 'fail', reason: last.reason ?? `stressor exited ${r.exitCode} without a reason` };
}

export function mkfsFor(t: ManifestTarget, dev: string): string[] {
  return mkfsArgv(t.fs === 'ext4' ? 'ext4' : 'xfs', dev, t.reflink === '1');
}

export function fsckFor(t: ManifestTarget, dev: string): string[] {
  return t.fs === 'ext4' ? ['e2fsck', '-fn', dev] : ['xfs_repair', '-n', dev];
}

interface Place {
  /** The namespace the suite reconfigures (e.g. namespace0.0). */
  ns: string;
  /** Block device of the fsdax namespace (/dev/pmemN), or null while in devdax mode. */
  blockdev: string | null;
  /** Character device of the devdax instance, or null in fsdax mode. */
  chardev: string | null;
  mode: 'fsdax' | 'devdax';
}

function field(json: string, key: string): string | null {
  const m = new RegExp(`"${key}"\\s*:\\s*"([^"]+)"`).exec(json);
  return m ? m[1] : null;
}

// Taint and the kernel log's length, before a case; taint and the new lines after.
const MARK = 'cat /proc/sys/kernel/tainted; dmesg | wc -l';
const SINCE = 'cat /proc/sys/kernel/tainted; dmesg | tail -n +"$1"';

export async function runStressorSuite(ctx: SuiteContext, o: StressorSuiteOptions): Promise<void> {
  const manifest = await loadManifest();
  const setupLog = new TestLog(ctx, 'setup.stressors');
  await setupLog.ready;
  let place: Place;
  let cases: StressorCase[];
  try {
    const cpuinfo = await step(ctx, setupLog, 'read cpuinfo', ['cat', '/proc/cpuinfo'], 10000);
    const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
    cases = expandMatrix(manifest, { tests: o.tests, release: ctx.kernel.release, cpuFlags: flags, seconds: ctx.seconds });
    setupLog.line(`# ${cases.length} cases: ${cases.map((c) => c.id).join(' ')}`);
    if (!cases.length) return;
    const blockdev = await setupFsdax(ctx, setupLog);
    const list = await step(ctx, setupLog, 'list namespaces', ['ndctl', 'list', '-N'], 30000);
    // The namespace whose block device we got: everything else is reconfigured from it.
    const entry = list.split('}').find((s) => field(s, 'blockdev') === blockdev.replace('/dev/', ''));
    const ns = entry ? field(entry, 'dev') : null;
    if (!ns) throw new StepFailed('fail', `no namespace lists ${blockdev}: ${list.slice(0, 200)}`);
    place = { ns, blockdev, chardev: null, mode: 'fsdax' };
  } catch (e) {
    const r = blankResult('setup.stressors', {}, setupLog.rel);
    // A bad manifest or test name is the user's input, not a broken guest.
    const ours = e instanceof StepFailed || e instanceof ManifestError;
    r.status = e instanceof StepFailed ? e.status : ours ? 'fail' : 'infra-error';
    r.reason = e instanceof Error ? e.message : String(e);
    if (!ours) await ctx.settle();
    judge(r, ctx.takeCrashes());
    await setupLog.close();
    await o.onResult(r);
    return;
  }
  await setupLog.close();

  let i = 0;
  while (i < cases.length && !ctx.signal.aborted) {
    const targetName = cases[i].targetName;
    const group: StressorCase[] = [];
    while (i < cases.length && cases[i].targetName === targetName) group.push(cases[i++]);
    const lost = await runTarget(ctx, place, group, o.onResult);
    if (lost) break;
  }
}

/** Prepare one target, run its cases; true if the guest was lost (stop the suite). */
async function runTarget(ctx: SuiteContext, place: Place, group: StressorCase[], onResult: (r: TestResult) => Promise<void>): Promise<boolean> {
  const c0 = group[0];
  const t = c0.target;
  const log = new TestLog(ctx, `setup.${c0.targetName}`);
  await log.ready;
  let prepError: { status: TestResult['status']; reason: string } | null = null;
  try {
    if (c0.unavailable) prepError = { status: 'skip', reason: c0.unavailable };
    else await prepareTarget(ctx, log, place, t);
  } catch (e) {
    if (!(e instanceof StepFailed)) {
      await log.close();
      const r = blankResult(`setup.${c0.targetName}`, {}, log.rel);
      r.status = 'infra-error';
      r.reason = e instanceof Error ? e.message : String(e);
      await ctx.settle();
      judge(r, ctx.takeCrashes());
      await onResult(r);
      return true;
    }
    // 1 GiB device-dax needs an aligned, large enough namespace: an
    // environment limit, so its cases are skipped with ndctl's words.
    prepError = { status: t.align === '1G' ? 'skip' : e.status, reason: `${c0.targetName} setup: ${e.message}` };
  }
  await log.close();
  for (const c of group) {
    if (ctx.signal.aborted) return true;
    let r: TestResult;
    if (prepError) {
      r = blankResult(c.test.name, caseParams(c), log.rel);
      r.status = prepError.status;
      r.reason = prepError.reason;
      r.metrics.expected_status = c.expect.status;
      r.expected = expectedOutcome(c.expect);
    } else r = await runCase(ctx, place, c);
    await onResult(r);
    if (r.status === 'infra-error') return true;
  }
  // Between targets the namespace goes down and up again (dax-test-spec §1),
  // which also re-initialises struct pages poisoned by hwpoison.
  if (!prepError && t.mode === 'fsdax' && !ctx.signal.aborted) {
    const l2 = new TestLog(ctx, `setup.${c0.targetName}`);
    await l2.ready;
    try {
      await step(ctx, l2, 'disable namespace', ['ndctl', 'disable-namespace', place.ns], 60000);
      await step(ctx, l2, 'enable namespace', ['ndctl', 'enable-namespace', place.ns], 60000);
    } catch (e) {
      if (!(e instanceof StepFailed)) return true;
    } finally {
      await l2.close();
    }
  }
  return false;
}

async function prepareTarget(ctx: SuiteContext, log: TestLog, place: Place, t: ManifestTarget): Promise<void> {
  if (t.mode === 'fsdax') {
    if (place.mode !== 'fsdax') await reconfigure(ctx, log, place, ['-m', 'fsdax']);
    const dev = place.blockdev!;
    const qdax = (await step(ctx, log, 'read queue/dax', ['cat', `/sys/block/${dev.replace('/dev/', '')}/queue/dax`], 10000)).trim();
    if (qdax !== '1') throw new StepFailed('fail', `${dev} has queue/dax=${qdax}: the namespace is not DAX-capable`);
    await step(ctx, log, `mkfs.${t.fs}`, mkfsFor(t, dev), 120000);
    await step(ctx, log, 'mkdir', ['mkdir', '-p', MNT], 10000);
    return;
  }
  await reconfigure(ctx, log, place, ['-m', 'devdax', '-a', t.align!]);
}

/** `ndctl create-namespace -f -e NS ...`: updates where the namespace's device is. */
async function reconfigure(ctx: SuiteContext, log: TestLog, place: Place, mode: string[]): Promise<void> {
  const out = await step(ctx, log, `reconfigure ${place.ns} ${mode.join(' ')}`, ['ndctl', 'create-namespace', '-f', '-e', place.ns, ...mode], 120000);
  place.mode = mode[1] === 'devdax' ? 'devdax' : 'fsdax';
  const bd = field(out, 'blockdev');
  const cd = field(out, 'chardev');
  place.blockdev = bd ? `/dev/${bd}` : null;
  place.chardev = cd ? `/dev/${cd}` : null;
  place.ns = field(out, 'dev') ?? place.ns;
  if (place.mode === 'fsdax' && !place.blockdev) throw new StepFailed('fail', `ndctl printed no blockdev: ${out.slice(0, 200)}`);
  if (place.mode === 'devdax' && !place.chardev) throw new StepFailed('fail', `ndctl printed no chardev: ${out.slice(0, 200)}`);
}

async function runCase(ctx: SuiteContext, place: Place, c: StressorCase): Promise<TestResult> {
  const log = new TestLog(ctx, c.id);
  await log.ready;
  const res = blankResult(c.test.name, caseParams(c), log.rel);
  res.metrics.expected_status = c.expect.status;
  res.expected = expectedOutcome(c.expect);
  if (!c.expect.verified) res.metrics.expectation_unverified = true;
  const t0 = Date.now();
  ctx.progress(`${c.id} ...`);
  const fsdax = c.target.mode === 'fsdax';
  const dev = fsdax ? place.blockdev! : place.chardev!;
  let mounted = false;
  try {
    const [taintBefore, logLines] = (await step(ctx, log, 'mark taint and kernel log', ['sh', '-c', MARK], 10000)).trim().split(/\s+/).map(Number);
    if (fsdax) {
      await step(ctx, log, `mount ${c.target.fs} -o dax`, ['mount', '-t', c.target.fs!, '-o', 'dax', dev, MNT], 60000);
      mounted = true;
      const state = daxMountState(await step(ctx, log, 'read /proc/mounts', ['cat', '/proc/mounts'], 10000), MNT);
      res.metrics.dax_mount = state;
      if (state !== 'on') throw new StepFailed('fail', `${c.target.fs} mounted without DAX (/proc/mounts shows dax ${state})`);
      if (c.target.fs === 'xfs') await step(ctx, log, 'xfs extsize 2m', ['xfs_io', '-c', 'extsize 2m', MNT], 10000);
    }
    const argv = caseArgv(c, ctx.seed, { file: `${MNT}/${c.binary}.dat`, dev, mnt: MNT, raw: place.blockdev ?? '', holdMs: String(HOLD_MS) });
    const r = await runStressor(ctx, log, c, argv, dev);
    for (const [k, v] of Object.entries(parseKeyValues(r.stdout))) {
      if (['result', 'reason', 'stressor', 'target'].includes(k)) continue;
      res.metrics[k] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    }
    const out = stressorOutcome(r);
    res.status = out.status;
    res.reason = out.reason;
    if (ctx.signal.aborted) throw new StepFailed('crash', `stopped (${String(ctx.signal.reason ?? 'aborted')})`);

    if (fsdax) {
      // The stressor may have unmounted (teardown remounts when done): only
      // unmount what is mounted.
      mounted = daxMountState(await step(ctx, log, 'read /proc/mounts', ['cat', '/proc/mounts'], 10000), MNT) !== 'absent';
      if (mounted) {
        // A page reference left behind can leave umount stuck in D state: the
        // watchdog names where it sleeps instead of waiting for hung_task.
        await umountWithWatchdog(ctx, log, MNT, UMOUNT_WATCH_S * 1000);
        mounted = false;
      }
    }
    if (ctx.afterUnmount) {
      const cen = await ctx.afterUnmount(log, { dev, mode: c.target.mode });
      if (cen.detail !== undefined) res.census = cen.detail;
      res.metrics.census_ok = cen.ok;
      if (!cen.ok) failWith(res, `census: ${cen.reason}`);
    }
    if (fsdax) {
      const f = await log.exec(ctx, ['sh', '-c', '"$@" 2>&1', 'fsck', ...fsckForTarget(c, dev)], 180000);
      res.metrics.fsck = f.exitCode === 0 ? 'clean' : `exit ${f.exitCode}`;
      if (f.exitCode !== 0) failWith(res, `${fsckForTarget(c, dev)[0]} -n found problems after the test (exit ${f.exitCode}): ${f.stdout.trim().split('\n').slice(-2).join(' | ')}`);
    }
    if (c.test.hooks?.includes('cycle-namespace') && !fsdax) await cycleNamespace(ctx, log, place, c.target.align!);
    const after = await step(ctx, log, 'taint and new kernel log lines', ['sh', '-c', SINCE, 'since', String(logLines + 1)], 20000);
    const [taintLine, ...newLines] = after.split('\n');
    const bad = newFailingTaint(taintBefore, Number(taintLine.trim()));
    res.metrics.taint_before = taintBefore;
    res.metrics.taint_after = Number(taintLine.trim());
    res.metrics.taint_new = bad.letters || 'none';
    if (bad.letters) failWith(res, `kernel taint gained ${bad.letters} (${bad.names.join(', ')}) during the test`);
    const klog = kernelLogFailure(newLines);
    if (klog) failWith(res, `kernel log: ${klog}`);
  } catch (e) {
    // Anything but a failed step means the guest or the channel broke.
    const status = e instanceof StepFailed ? e.status : 'infra-error';
    if (res.status === 'pass' || res.status === 'skip' || status !== 'fail') res.status = status;
    res.reason = [res.reason, e instanceof Error ? e.message : String(e)].filter(Boolean).join('; ');
    if (!(e instanceof StepFailed)) await ctx.settle();
  } finally {
    if (mounted && !ctx.signal.aborted) await log.exec(ctx, ['umount', MNT], 60000).catch(() => undefined);
    judge(res, ctx.takeCrashes());
    res.durationMs = Date.now() - t0;
    res.metrics.as_expected = outcomeExpected(c.expect, res.status, res.reason);
    log.line(`# ${c.id}: ${res.status}${res.reason ? ` — ${res.reason}` : ''} (expected ${c.expect.status}: ${c.expect.why.join('; ') || 'correct kernel answer'})`);
    await log.close();
  }
  return res;
}

function fsckForTarget(c: StressorCase, dev: string): string[] {
  return fsckFor(c.target, dev);
}

/** A later check failing a test that passed (or skipped) keeps the first reason first. */
function failWith(res: TestResult, reason: string): void {
  if (res.status === 'pass' || res.status === 'skip') {
    res.status = 'fail';
    res.reason = reason;
  } else res.reason = `${res.reason}; ${reason}`;
}

/**
 * Run the stressor. With the revoke hook (device-dax), once the stressor
 * prints ready=1 the device is unbound under its live mapping
 * (daxctl disable-device), and bound again after it ends.
 */
async function runStressor(ctx: SuiteContext, log: TestLog, c: StressorCase, argv: string[], dev: string): Promise<CommandResult> {
  const timeoutMs = (90 + c.seconds * 3) * 1000;
  const revoke = c.target.mode === 'devdax' && c.test.hooks?.includes('revoke');
  if (!revoke) return log.exec(ctx, argv, timeoutMs);
  const name = dev.replace('/dev/', '');
  let pending = '';
  let disabling: Promise<CommandResult> | null = null;
  const r = await log.exec(ctx, argv, timeoutMs, {
    onOutput: (chunk) => {
      // TestLog's own writer is replaced here: write whole lines to the log.
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop()!;
      for (const p of parts) {
        log.line(p);
        if (p.trim() === 'ready=1' && !disabling) disabling = log.exec(ctx, ['daxctl', 'disable-device', name], 60000);
      }
    },
  });
  if (pending) log.line(pending);
  const d = await (disabling as Promise<CommandResult> | null);
  if (d && d.exitCode !== 0) log.line(`# daxctl disable-device failed (exit ${d.exitCode})`);
  await step(ctx, log, 'enable the device again', ['daxctl', 'enable-device', name], 60000);
  return r;
}

/** S13(d): cycle the namespace through fsdax/devdax with -M mem and dev, then back. */
async function cycleNamespace(ctx: SuiteContext, log: TestLog, place: Place, align: string): Promise<void> {
  for (const mode of [
    ['-m', 'fsdax', '-M', 'mem'],
    ['-m', 'devdax', '-M', 'mem', '-a', align],
    ['-m', 'fsdax', '-M', 'dev'],
    ['-m', 'devdax', '-a', align],
  ])
    await reconfigure(ctx, log, place, mode);
}
