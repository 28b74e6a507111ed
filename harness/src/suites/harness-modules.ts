// The harness's own kernel modules a run carries, whatever its suite: the
// refcount census after every unmount (census.ts), and the fault module its
// own tests boot with (`daxh.fault=ACTION` on the kernel command line makes
// the image's /init load it before sshd). This file owns those names: a
// workflow asks what to build and what to put in the guest, and never spells
// a module's path or parameter.
import type { KernelArtifact } from '../results/records.ts';
import { buildCensusTools, censusAfterUnmount, type CensusTools } from './census.ts';
import type { SuiteContext } from './context.ts';

/** The command-line word that asks /init for a kernel report on demand. */
const FAULT_PARAM = 'daxh.fault=';
/** Where /init looks for the fault module (images/initramfs/init.sh). */
const FAULT_GUEST_PATH = '/daxh/daxh_fault.ko';

/** A host file placed at a fixed guest path before the guest's first instant. */
export interface GuestFile {
  src: string;
  dest: string;
}

export interface HarnessModules {
  /** The census module and its helpers for this kernel, or null when nothing asked for them. */
  census: CensusTools | null;
  /** Files the initrd must carry from boot on (the fault module when the command line asks for it). */
  bootFiles: GuestFile[];
}

/** Whether a kernel command line asks for the fault module. */
export function wantsFaults(cmdline: readonly string[]): boolean {
  return cmdline.some((w) => w.startsWith(FAULT_PARAM));
}

/**
 * Build our modules for this kernel before the guest boots, not from inside
 * a test: the census when it is on, and (from the same build) the fault
 * module when the command line asks for it.
 */
export async function prepareHarnessModules(
  kernel: KernelArtifact,
  o: { census: boolean; cmdline: readonly string[] },
  log: (m: string) => void,
): Promise<HarnessModules> {
  const faults = wantsFaults(o.cmdline);
  const census = o.census || faults ? await buildCensusTools(kernel, log) : null;
  const bootFiles = faults && census ? [{ src: census.faults, dest: FAULT_GUEST_PATH }] : [];
  return { census, bootFiles };
}

/** The suite context's afterUnmount hook: the census, when the plan has it on. */
export function censusHook(on: boolean, ctx: () => SuiteContext, log: (m: string) => void): SuiteContext['afterUnmount'] {
  return on ? (testLog, target) => censusAfterUnmount(ctx(), testLog, target, { log }) : undefined;
}
