// Shared by the suites that test filesystem-DAX: the filesystems they run on,
// the fsdax namespace they make, mkfs with the alignment PMD faults need, and
// the check that a mount really has DAX on.
import { StepFailed, step, type SuiteContext, type TestLog } from './context.ts';

/** The filesystems DAX is tested on: the one list every suite, workflow and command reads. */
export const DAX_FILESYSTEMS = ['ext4', 'xfs'] as const;
export type DaxFs = (typeof DAX_FILESYSTEMS)[number];

/** Whether a word is one of DAX_FILESYSTEMS. */
export function isDaxFs(w: string): w is DaxFs {
  return (DAX_FILESYSTEMS as readonly string[]).includes(w);
}


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

export function mkfsArgv(fs: DaxFs, dev: string, reflink = false): string[] {
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
