// The spine's DAX smoke: make an fsdax namespace, then for ext4 and xfs make
// the filesystem, mount it -o dax, prove DAX is really on, and run the
// dax_smoke stressor (PMD/PTE/MAP_SYNC mappings with pattern checks).
import type { TestResult } from '../results/records.ts';
import { TestLog, StepFailed, step, blankResult, parseKeyValues, judge, type SuiteContext } from './context.ts';
import { newFailingTaint } from '../oracle/index.ts';
import { umountWithWatchdog } from './watchdog.ts';

export type SmokeFs = 'ext4' | 'xfs';
export const smokeFilesystems: SmokeFs[] = ['ext4', 'xfs'];
const MNT = '/mnt/dax';

/** Turn the first region into one fsdax namespace; returns the block device. */
export async function setupFsdax(ctx: SuiteContext, log: TestLog): Promise<string> {
  const labelled = ctx.topology.nvdimms.length > 0 && ctx.topology.nvdimms[0].labelSizeMiB > 0;
  if (labelled) {
    // Labelled regions come up with uninitialised labels (no namespace yet).
    // The NVDIMM's region is not region0 when memmap= pmem is there too.
    const region = firstRegion(await step(ctx, log, 'list NVDIMM regions', ['ndctl', 'list', '-R', '-b', 'ACPI.NFIT'], 30000));
    await step(ctx, log, `disable ${region}`, ['ndctl', 'disable-region', region], 30000);
    await step(ctx, log, 'init labels', ['ndctl', 'init-labels', '-f', '-b', 'ACPI.NFIT', 'all'], 30000);
    await step(ctx, log, `enable ${region}`, ['ndctl', 'enable-region', region], 30000);
    const out = await step(ctx, log, 'create fsdax namespace', ['ndctl', 'create-namespace', '-r', region, '-m', 'fsdax'], 60000);
    return blockdevOf(out);
  }
  // Label-less regions come up as a raw namespace with DAX off: reconfigure it.
  const out = await step(ctx, log, 'reconfigure namespace0.0 to fsdax', ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'fsdax'], 60000);
  return blockdevOf(out);
}

/** The first region `ndctl list -R` prints (an object or an array of them). */
export function firstRegion(ndctlJson: string): string {
  const m = /"dev"\s*:\s*"(region\d+)"/.exec(ndctlJson);
  if (!m) throw new StepFailed('fail', `ndctl lists no NVDIMM (ACPI.NFIT) region: ${ndctlJson.slice(0, 200) || 'nothing'}`);
  return m[1];
}

function blockdevOf(ndctlJson: string): string {
  const m = /"blockdev"\s*:\s*"([^"]+)"/.exec(ndctlJson);
  if (!m) throw new StepFailed('fail', `ndctl create-namespace printed no blockdev: ${ndctlJson.slice(0, 200)}`);
  return `/dev/${m[1]}`;
}

export function mkfsArgv(fs: SmokeFs, dev: string, reflink = false): string[] {
  // Both need 2 MiB alignment of data extents or no PMD fault can happen: ext4
  // (measured here) maps a fallocated file with PTEs unless mballoc is given a
  // 2 MiB stripe; xfs needs a 2 MiB stripe unit (and extsize on the directory).
  return fs === 'ext4'
    ? ['mkfs.ext4', '-F', '-q', '-b', '4096', '-E', 'stride=512,stripe_width=512', dev]
    : ['mkfs.xfs', '-f', '-q', '-d', 'su=2m,sw=1', '-m', `reflink=${reflink ? 1 : 0}`, dev];
}

/** The /proc/mounts options for a mount point say whether DAX really is on. */
export function daxMountState(procMounts: string, mnt: string): 'on' | 'off' | 'absent' {
  const line = procMounts.split('\n').find((l) => l.split(' ')[1] === mnt);
  if (!line) return 'absent';
  const opts = (line.split(' ')[3] ?? '').split(',');
  if (opts.includes('dax=never')) return 'off';
  return opts.includes('dax') || opts.includes('dax=always') ? 'on' : 'off';
}

export async function runSmokeOn(ctx: SuiteContext, fs: SmokeFs, dev: string): Promise<TestResult> {
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
