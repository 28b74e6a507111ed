// Before a guest: check the plan (no downloads: bad input is exit 2 before any
// work), then make everything the boot needs. Shared between cells: a
// nightly prepares a kernel once for many.
import { ensurePackages, harnessNeeds } from '../../host/apt.ts';
import { SettingError } from '../../host/errors.ts';
import { logCaps } from '../../host/capped-file.ts';
import { prepareStockKernel, kernelFromPath } from '../../kernel/stock.ts';
import { checkKernelInputs } from '../../kernel/index.ts';
import { buildImage, loadAnyRecipe } from '../../image/index.ts';
import { buildModulesCpio } from '../../image/modules.ts';
import { buildExtrasCpio } from '../../image/extras.ts';
import { chooseAccel } from '../../vm/accel.ts';
import { validateTopology } from '../../vm/topology.ts';
import { portIsFree } from '../../vm/ports.ts';
import type { Topology } from '../../results/records.ts';
import { DEFAULT_SUITE, suiteByName, type Suite } from '../../suites/index.ts';
import { prepareHarnessModules } from '../../suites/harness-modules.ts';
import { BUILTIN_KNOWN, loadKnown, type KnownEntry } from '../../suites/known.ts';
import { assembleInitrd } from '../session.ts';
import { inputsOf, planSummary, resolveKernel, suiteKernelChoice, type CellEnv, type CellPlan, type PreparedCell } from './plan.ts';

export interface CheckedCell {
  suite: Suite;
  image: string;
  topology: Topology;
  cmdlineExtra: string[];
  known: KnownEntry[];
}

/** Everything that can be judged without downloading or building: bad input is exit 2 before any work. */
export async function checkCell(plan: CellPlan): Promise<CheckedCell> {
  const suite = suiteByName(plan.suite ?? DEFAULT_SUITE);
  const needs = suite.needs(inputsOf(plan));
  const topology = plan.topology ?? needs.topology;
  const cmdlineExtra = [...needs.cmdline, ...(plan.cmdlineExtra ?? [])];
  validateTopology(topology, { cmdline: cmdlineExtra });
  const image = plan.image ?? needs.image;
  await loadAnyRecipe(image);
  await suite.check(inputsOf(plan));
  await checkNumbers(plan);
  if (plan.kernel.kind === 'path') await kernelFromPath(plan.kernel.bzImage, plan.kernel.modules);
  if (plan.kernel.kind === 'build') await checkKernelInputs(plan.kernel.opts);
  const known = await loadKnown([BUILTIN_KNOWN, ...(plan.known ?? [])]);
  // A bad $DAX_HARNESS_*_LOG_MIB is the user's to fix, before anything is built.
  logCaps();
  return { suite, image, topology, cmdlineExtra, known };
}

/** The plan's ssh port and repeat count, named as settings: the CLI says them by its flags. */
async function checkNumbers(plan: CellPlan): Promise<void> {
  const port = plan.sshPort;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
    throw new SettingError('sshPort', 'the ssh port', port, 'is not a port number: use 1024-65535');
  if (port !== undefined && !(await portIsFree(port)))
    throw new SettingError('sshPort', 'the ssh port', port, 'is taken on 127.0.0.1: pick another or leave it out to get a free one');
  if (plan.repeat !== undefined && (!Number.isInteger(plan.repeat) || plan.repeat < 1))
    throw new SettingError('repeat', 'the repeat count', plan.repeat, 'is not a whole number of 1 or more');
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
  const own = await prepareHarnessModules(kernel, { census: plan.census !== false, cmdline: cmdlineExtra }, prep);
  const { image, recipe } = await buildImage(imageName, prep);
  const modules = await buildModulesCpio(kernel, [...recipe.modules, ...needs.modules], prep);
  const extras = own.bootFiles.length ? [await buildExtrasCpio(own.bootFiles)] : [];
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
  return { plan, suite, prepared, kernel, image, modules, extras, accel, topology, cmdlineExtra, census: own.census, known, summary };
}
