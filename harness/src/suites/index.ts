// The suites as the run primitive sees them: each says what it needs (image,
// topology, kernel words, modules, kernel fragments), checks its inputs
// before anything is downloaded, prepares its host-side artifacts before the
// guest boots, and then runs its tests against a SuiteContext. The run
// primitive never names a suite.
import { NDCTL_GUEST, NdctlInputError, prepareNdctl, runNdctlSuite, type NdctlBuild } from './ndctl.ts';
import { checkStressorTestNames } from './stressor-manifest.ts';
import { setupFsdax, runSmokeOn, smokeFilesystems, type SmokeFs } from './dax-smoke.ts';
import { TestLog, StepFailed, blankResult, judge, type SuiteContext } from './context.ts';
import { withNfitTest } from '../kernel/nfit-stock.ts';
import { defaultTopology } from '../vm/topology.ts';
import type { KernelArtifact, TestResult, Topology } from '../results/records.ts';
import type { MachineSpec } from '../vm/qemu-args.ts';
import { InputError } from '../host/errors.ts';

export type SuiteName = 'smoke' | 'stressors' | 'ndctl';
export const SUITES: SuiteName[] = ['smoke', 'stressors', 'ndctl'];

/** What a plan says about its suite. */
export interface SuiteInputs {
  tests?: string[];
  filesystems?: SmokeFs[];
  /** The user's ndctl tree (ndctl). */
  ndctl?: string;
  /** Harness limit for an ndctl test whose meson timeout is disabled. */
  hangMs?: number;
}

export interface SuiteNeeds {
  image: string;
  topology: Topology;
  /** Kernel command-line words. */
  cmdline: string[];
  /** Kernel modules the guest needs beyond the image's. */
  modules: string[];
  /** Config fragments for a kernel the pipeline builds for this suite (when the user chose none). */
  kernelFragments: string[] | null;
}

export class SuiteInputError extends InputError {}

/** A suite made ready for one kernel: what the guest must get at boot, and the test runner. */
export interface PreparedSuite {
  kernel: KernelArtifact;
  shares?: MachineSpec['shares'];
  run(ctx: SuiteContext, onResult: (r: TestResult) => Promise<void>): Promise<void>;
}

export interface Suite {
  name: SuiteName;
  needs(inputs: SuiteInputs): SuiteNeeds;
  /** Input checks that need no download and no build: bad input is exit 2 before any work. */
  check(inputs: SuiteInputs): Promise<void>;
  /** Host-side work that does not depend on the kernel (e.g. building ndctl); runs before the kernel is fetched. */
  prepareHost(inputs: SuiteInputs, log: (m: string) => void): Promise<unknown>;
  /** Kernel-dependent preparation (e.g. nfit_test for this kernel). */
  prepare(inputs: SuiteInputs, host: unknown, kernel: KernelArtifact, log: (m: string) => void): Promise<PreparedSuite>;
}

const smoke: Suite = {
  name: 'smoke',
  needs: () => ({ image: 'initramfs', topology: defaultTopology, cmdline: [], modules: [], kernelFragments: null }),
  async check(i) {
    if (i.tests?.length) throw new SuiteInputError('--test goes with --suite stressors or --suite ndctl; the smoke takes --fs');
    for (const f of i.filesystems ?? []) if (!smokeFilesystems.includes(f)) throw new SuiteInputError(`--fs "${f}" is not ext4 or xfs`);
  },
  prepareHost: async () => null,
  async prepare(i, _host, kernel) {
    return { kernel, run: (ctx, onResult) => runSmoke(ctx, i.filesystems?.length ? i.filesystems : smokeFilesystems, onResult) };
  },
};

const stressors: Suite = {
  name: 'stressors',
  needs: () => ({ image: 'initramfs', topology: defaultTopology, cmdline: [], modules: [], kernelFragments: null }),
  async check(i) {
    await checkStressorTestNames(i.tests);
  },
  prepareHost: async () => null,
  async prepare(i, _host, kernel) {
    const { runStressorSuite } = await import('./stressors.ts');
    return { kernel, run: (ctx, onResult) => runStressorSuite(ctx, { tests: i.tests, onResult }) };
  },
};

const ndctl: Suite = {
  name: 'ndctl',
  needs: () => ({
    image: 'rootfs',
    topology: NDCTL_GUEST.topology,
    cmdline: NDCTL_GUEST.cmdline,
    modules: NDCTL_GUEST.modules,
    kernelFragments: [...NDCTL_GUEST.kernelFragments],
  }),
  async check(i) {
    if (!i.ndctl) throw new NdctlInputError('--suite ndctl needs --ndctl PATH: the top of your ndctl git tree');
  },
  // The tree is built before anything boots (and before the kernel is
  // fetched): a broken tree is the user's input error, found early.
  async prepareHost(i, log) {
    const nb = await prepareNdctl(i.ndctl!, log);
    const names = nb.tests.map((t) => t.name);
    for (const w of i.tests ?? []) if (!names.includes(w)) throw new NdctlInputError(`--test ${w} is not in ndctl's dax suite: choose from ${names.join(', ')}`);
    return nb;
  },
  async prepare(i, host, kernel, log) {
    const nb = host as NdctlBuild;
    // nfit_test's wrapped drivers in place of the stock ones (a pipeline-built kernel carries them already).
    const k = await withNfitTest(kernel, log);
    return { kernel: k, shares: nb.shares, run: (ctx, onResult) => runNdctlSuite(ctx, nb, { tests: i.tests, onResult, hangMs: i.hangMs }) };
  },
};

export function suiteByName(name: string): Suite {
  const s = { smoke, stressors, ndctl }[name as SuiteName];
  if (!s) throw new SuiteInputError(`--suite "${name}" is not ${SUITES.join(', ')}`);
  return s;
}

async function runSmoke(ctx: SuiteContext, filesystems: SmokeFs[], onResult: (r: TestResult) => Promise<void>): Promise<void> {
  // The namespace setup is a test of its own: a kernel report while it runs
  // belongs to it, not to the first filesystem test after it.
  const setupLog = new TestLog(ctx, 'setup.fsdax');
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
  for (const fs of filesystems) {
    if (ctx.signal.aborted) break;
    const r = await runSmokeOn(ctx, fs, dev);
    await onResult(r);
    if (r.status === 'infra-error') break;
  }
}
