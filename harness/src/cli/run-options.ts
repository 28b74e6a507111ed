// The options that choose the guest `run` boots (kernel, image, topology,
// accelerator, ssh port), shared by every command that boots one the same
// way (run, shell): one parser, one manual section, one set of checks.
import { resolve } from 'node:path';
import { RunInputError, parseSizeMiB, parseMemmap, defaultTopology, validateTopology, type KernelChoice } from '../workflows/run.ts';
import { checkKernelInputs } from '../kernel/index.ts';
import { seriesArg } from './series-input.ts';
import type { Accel, Topology } from '../results/records.ts';
import { LIMITS, durationOption, portOption, secondsOption, wholeOption, type Range } from '../host/limits.ts';

/** parseArgs option specs that choose the kernel (run, shell, repro). */
export const KERNEL_OPTIONS = {
  kernel: { type: 'string' },
  modules: { type: 'string' },
  'kernel-package': { type: 'string' },
  source: { type: 'string' },
  ref: { type: 'string' },
  series: { type: 'string' },
  config: { type: 'string' },
  'config-base': { type: 'string' },
  'allow-dropped': { type: 'boolean', default: false },
  jobs: { type: 'string' },
} as const;

/** parseArgs option specs for the kernel and the guest. */
export const GUEST_OPTIONS = {
  ...KERNEL_OPTIONS,
  append: { type: 'string' },
  image: { type: 'string' },
  nvdimms: { type: 'string' },
  'nvdimm-size': { type: 'string' },
  'label-size': { type: 'string' },
  memmap: { type: 'string', multiple: true },
  mem: { type: 'string' },
  numa: { type: 'string' },
  cpus: { type: 'string' },
  accel: { type: 'string' },
  'ssh-port': { type: 'string' },
  'boot-timeout': { type: 'string' },
} as const;

export const KERNEL_HELP = `kernel:
  --kernel PATH          boot this bzImage instead of Debian's stock kernel
  --modules DIR          its modules: a tree holding lib/modules/<release>/ (INSTALL_MOD_PATH)
  --kernel-package NAME  a specific Debian kernel package (default: what linux-image-amd64 depends on)
  --source debian:X.Y|PATH  build the kernel from Debian's linux-source-X.Y or your git tree
                         (as in dax-harness build; any of --source/--series/--config builds);
                         PATH is built as it is: uncommitted edits and staged new files included
  --ref REF              build exactly this commit of --source PATH (default: the working tree,
                         or the series' base-commit)
  --series MBOX|DIR|A..B|-  patch series applied with git am before building (DIR: .patch files
                         or b4 am -o output; -: the mbox on standard input)
  --config LIST          config fragments from kernels/configs (default dax)
  --config-base BASE     tinyconfig (default) or defconfig
  --allow-dropped        go on when Kconfig drops options a fragment asked for
  --jobs N               make's parallel jobs for that build (default 2)
  --append WORDS         extra kernel command-line words`;

export const GUEST_HELP = `  --image NAME           image recipe under images/: initramfs (default) or rootfs (default for --suite ndctl)
  --nvdimms N            number of NVDIMMs (default 1; 0 with --memmap only)
  --nvdimm-size SIZE     backing file size per NVDIMM, label area included (default 2050M)
  --label-size SIZE      label area per NVDIMM, 0 for none (default 2M)
  --memmap SIZE!START    legacy e820 pmem (memmap= on the kernel command line); repeatable
  --mem SIZE             guest RAM (default 2G)
  --cpus N               vCPUs (default 2)
  --numa N               NUMA nodes (default 1); nodes past the first take 1 GiB of RAM each
  --accel kvm|tcg        skip the KVM probe and use this accelerator
  --ssh-port N           host port (on 127.0.0.1, 1024-65535) for the guest's sshd (default: a free one)
  --boot-timeout SEC     how long to wait for the guest's sshd (default 180, at most 86400)`;

export interface KernelArgs {
  kernel?: string;
  modules?: string;
  'kernel-package'?: string;
  source?: string;
  ref?: string;
  series?: string;
  config?: string;
  'config-base'?: string;
  'allow-dropped'?: boolean;
  jobs?: string;
}

export interface GuestArgs extends KernelArgs {
  append?: string;
  image?: string;
  nvdimms?: string;
  'nvdimm-size'?: string;
  'label-size'?: string;
  memmap?: string[];
  mem?: string;
  numa?: string;
  cpus?: string;
  accel?: string;
  'ssh-port'?: string;
  'boot-timeout'?: string;
}

/** The guest as the options choose it; image and topology undefined: what the suite needs. */
export interface GuestChoice {
  kernel: KernelChoice;
  image?: string;
  topology?: Topology;
  accel?: Accel;
  sshPort?: number;
  bootTimeoutMs: number;
  cmdlineExtra: string[];
}

/** "90s", "30m", "2h", "1h30m", "2d" or plain seconds → ms, within `range` (ms; default: a search budget's). */
export function parseDuration(v: string, name: string, range: Range = LIMITS.budgetMs): number {
  return durationOption(v, name, range);
}

/** A whole-number option within a range of host/limits.ts. */
export const whole = wholeOption;

/** Kernel options → the kernel choice (Debian's stock kernel when none is given), with the checks that need no file or network. */
export function kernelChoice(a: KernelArgs): KernelChoice {
  if (a['kernel-package'] && a.kernel) throw new RunInputError('--kernel and --kernel-package both given: choose one');
  if (a.modules && !a.kernel) throw new RunInputError('--modules goes with --kernel');
  const wantsBuild = Boolean(a.source || a.series || a.config || a.ref || a['config-base']);
  if (wantsBuild && (a.kernel || a['kernel-package'])) throw new RunInputError('--kernel/--kernel-package and --source/--series/--config both given: choose a kernel or a build');
  const base = a['config-base'];
  if (base !== undefined && base !== 'tinyconfig' && base !== 'defconfig') throw new RunInputError(`--config-base "${base}" is not tinyconfig or defconfig`);
  const jobs = a.jobs === undefined ? undefined : whole(a.jobs, '--jobs', LIMITS.jobs, 2);
  if (jobs !== undefined && !wantsBuild) throw new RunInputError('--jobs sets make\'s jobs for a kernel build: it goes with --source, --series or --config');
  if (a.kernel) return { kind: 'path', bzImage: resolve(a.kernel), modules: a.modules ? resolve(a.modules) : null };
  if (!wantsBuild) return { kind: 'stock', pkg: a['kernel-package'] };
  return {
    kind: 'build',
    opts: {
      source: a.source && !a.source.startsWith('debian:') ? resolve(a.source) : a.source,
      ref: a.ref,
      // Your tree as it is, edits included; --ref asks for that commit exactly.
      workingTree: Boolean(a.source && !a.source.startsWith('debian:') && !a.ref),
      // `-` (standard input) is read later, after the checks that need nothing.
      series: a.series && a.series !== '-' && !a.series.includes('..') ? resolve(a.series) : a.series,
      config: a.config ? a.config.split(',').filter(Boolean) : undefined,
      configBase: base as 'tinyconfig' | 'defconfig' | undefined,
      allowDropped: a['allow-dropped'],
      ...(jobs !== undefined ? { jobs } : {}),
    },
  };
}

/** Kernel and guest options → the guest; bad input is found here, before apt, a download or an unpack. */
export async function guestFromArgs(a: GuestArgs): Promise<GuestChoice> {
  const accel = a.accel as Accel | undefined;
  if (accel !== undefined && accel !== 'kvm' && accel !== 'tcg') throw new RunInputError(`--accel "${accel}" is not kvm or tcg`);
  const kernel = kernelChoice(a);
  const nvdimms = whole(a.nvdimms, '--nvdimms', LIMITS.nvdimms, defaultTopology.nvdimms.length);
  const size = a['nvdimm-size'] ? parseSizeMiB(a['nvdimm-size'], '--nvdimm-size') : defaultTopology.nvdimms[0].sizeMiB;
  const label = a['label-size'] !== undefined ? parseSizeMiB(a['label-size'], '--label-size') : defaultTopology.nvdimms[0].labelSizeMiB;
  const topology: Topology = {
    nvdimms: Array.from({ length: nvdimms }, () => ({ sizeMiB: size, labelSizeMiB: label })),
    memmap: (a.memmap ?? []).map(parseMemmap),
    memMiB: a.mem ? parseSizeMiB(a.mem, '--mem') : defaultTopology.memMiB,
    cpus: whole(a.cpus, '--cpus', LIMITS.cpus, defaultTopology.cpus),
    numaNodes: whole(a.numa, '--numa', LIMITS.numaNodes, 1),
  };
  // Without topology options each suite gets the guest it needs (ndctl's is larger).
  const topologyGiven = [a.nvdimms, a['nvdimm-size'], a['label-size'], a.memmap, a.mem, a.cpus, a.numa].some((v) => v !== undefined);
  const sshPort = portOption(a['ssh-port'], '--ssh-port');
  const bootTimeoutMs = secondsOption(a['boot-timeout'], '--boot-timeout', LIMITS.bootTimeoutS, 180);
  const append = a.append ? a.append.split(/\s+/).filter(Boolean) : [];
  if (topologyGiven) validateTopology(topology, { cmdline: append });
  if (kernel.kind === 'build') {
    if (kernel.opts.series === '-') kernel.opts.series = await seriesArg('-');
    await checkKernelInputs(kernel.opts);
  }
  return {
    kernel,
    ...(a.image ? { image: a.image } : {}),
    ...(topologyGiven ? { topology } : {}),
    ...(accel ? { accel } : {}),
    ...(sshPort !== undefined ? { sshPort } : {}),
    bootTimeoutMs,
    cmdlineExtra: append,
  };
}
