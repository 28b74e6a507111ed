// The DAX smoke's one test per filesystem: make the filesystem, mount it -o
// dax, prove DAX is really on, and run the dax_smoke stressor (PMD/PTE/MAP_SYNC
// mappings with pattern checks).
import type { TestResult } from '../../results/records.ts';
import { TestLog, StepFailed, step, blankResult, parseKeyValues, judge, type SuiteContext } from '../context.ts';
import { newFailingTaint } from '../../oracle/index.ts';
import { umountWithWatchdog } from '../watchdog.ts';
import { mkfsArgv, daxMountState, type DaxFs } from '../fsdax.ts';

const MNT = '/mnt/dax';

export async function runSmokeOn(ctx: SuiteContext, fs: DaxFs, dev: string): Promise<TestResult> {
  const name = `dax-smoke.${fs}`;
  const log = new TestLog(ctx, name);
  await log.ready;
  const res = blankResult('dax-smoke', { fs, mode: 'fsdax', dev }, log.rel);
  const t0 = Date.now();
  ctx.progress(`${name} ...`);
  let mounted = false;
  try {
    const taintBefore = Number((await step(ctx, log, 'read taint', ['cat', '/proc/sys/kernel/tainted'], 10000)).trim());
    const qdax = (await step(ctx, log, 'read queue/dax', ['cat', `/sys/block/${dev.replace('/dev/', '')}/queue/dax`], 10000)).trim();
    if (qdax !== '1') throw new StepFailed('fail', `${dev} has queue/dax=${qdax}: the namespace is not DAX-capable`);
    await step(ctx, log, `mkfs.${fs}`, mkfsArgv(fs, dev), 120000);
    await step(ctx, log, 'mkdir', ['mkdir', '-p', MNT], 10000);
    await step(ctx, log, `mount ${fs} -o dax`, ['mount', '-t', fs, '-o', 'dax', dev, MNT], 60000);
    mounted = true;
    const mounts = await step(ctx, log, 'read /proc/mounts', ['cat', '/proc/mounts'], 10000);
    const state = daxMountState(mounts, MNT);
    res.metrics.dax_mount = state;
    // xfs falls back to dax=never silently when the device cannot do DAX.
    if (state !== 'on') throw new StepFailed('fail', `${fs} mounted without DAX (/proc/mounts shows dax ${state})`);
    if (fs === 'xfs') await step(ctx, log, 'xfs extsize 2m', ['xfs_io', '-c', 'extsize 2m', MNT], 10000);
    const out = await step(
      ctx,
      log,
      'dax_smoke',
      ['dax_smoke', '--file', `${MNT}/smoke.dat`, '--size-mib', '16', '--seconds', String(ctx.seconds), '--seed', String(ctx.seed), '--expect', 'yes'],
      120000 + ctx.seconds * 1000,
    ).catch((e: unknown) => {
      if (e instanceof StepFailed && e.status === 'fail') {
        const kv = parseKeyValues(e.message);
        throw new StepFailed('fail', kv.reason ? `dax_smoke: ${kv.reason}` : e.message);
      }
      throw e;
    });
    for (const [k, v] of Object.entries(parseKeyValues(out))) {
      if (['file', 'result', 'reason', 'stressor', 'target', 'variant', 'threads'].includes(k)) continue;
      res.metrics[k] = /^\d+$/.test(v) ? Number(v) : v;
    }
    // A leaked page reference can leave umount stuck in D state: the
    // watchdog reports where it sits instead of waiting for the hung-task timer.
    await umountWithWatchdog(ctx, log, MNT);
    mounted = false;
    if (ctx.afterUnmount) {
      const c = await ctx.afterUnmount(log, { dev, mode: 'fsdax' });
      if (c.detail !== undefined) res.census = c.detail;
      if (!c.ok) throw new StepFailed('fail', c.reason);
    }
    const taintAfter = Number((await step(ctx, log, 'read taint', ['cat', '/proc/sys/kernel/tainted'], 10000)).trim());
    const bad = newFailingTaint(taintBefore, taintAfter);
    if (bad.letters) throw new StepFailed('fail', `kernel taint gained ${bad.letters} (${bad.names.join(', ')}) during the test`);
  } catch (e) {
    // Anything but a failed step means the guest or the channel broke: the
    // test's outcome is unknown, which is the run's problem, not the kernel's.
    res.status = e instanceof StepFailed ? e.status : 'infra-error';
    res.reason = e instanceof Error ? e.message : String(e);
    if (!(e instanceof StepFailed)) await ctx.settle();
  } finally {
    if (mounted && !ctx.signal.aborted) await log.exec(ctx, ['umount', MNT], 60000).catch(() => undefined);
    judge(res, ctx.takeCrashes());
    res.durationMs = Date.now() - t0;
    await log.close();
  }
  return res;
}
