// The nightly's cells on the run primitive (workflows/cell/): a matrix cell
// becomes a CellPlan whose kernel is the artifact the night prepared once,
// prepareCell makes the rest (suite needs, image, modules, accelerator), and
// executeCell boots one guest that runs the cell's passes. Signals are the
// night's: a cell stops through hooks.signal and its run ends 'interrupted'.
import { checkCell, executeCell, prepareCell, resolveKernel, type CellPlan, type KernelChoice } from '../cell/index.ts';
import { BuildError, PatchApplyError, checkKernelInputs } from '../../kernel/index.ts';
import { InputError } from '../../host/errors.ts';
import { suiteByName } from '../../suites/index.ts';
import type { Session } from '../session.ts';
import type { KernelArtifact } from '../../results/records.ts';
import { NightlyInputError } from './index.ts';
import type { CellHooks, CheckCell, KernelSpec, MatrixCell, PrepareKernel, RunCell } from './plan.ts';

/** The kernel pipeline's choice for a cell's kernel spec. */
export function kernelChoice(spec: KernelSpec): KernelChoice {
  if (spec.kind === 'stock') return { kind: 'stock', pkg: spec.pkg };
  const source = spec.kind === 'debian' ? `debian:${spec.version}` : spec.tree;
  return { kind: 'build', opts: { source, ref: spec.kind === 'git' ? spec.ref : undefined, series: spec.series, config: spec.config, configBase: spec.configBase } };
}

/** The primitive's plan for a cell: the night's kernel, and the guest's share of the host's cores. */
export function cellPlan(cell: MatrixCell, kernel: KernelChoice, cpus: number, bootTimeoutMs?: number): CellPlan {
  const inputs = { tests: cell.tests, filesystems: cell.fs.length ? cell.fs : undefined, ndctl: cell.ndctl };
  const given = cell.topology ?? suiteByName(cell.suite).needs(inputs).topology;
  return {
    cellKey: cell.key,
    kernel,
    suite: cell.suite,
    ...inputs,
    image: cell.image,
    topology: { ...structuredClone(given), cpus: cell.cpusFixed ? given.cpus : cpus },
    cmdlineExtra: [...cell.cmdlineExtra],
    seconds: cell.seconds,
    seed: cell.seed,
    repeat: cell.repeat,
    known: cell.known,
    accel: cell.accel,
    bootTimeoutMs,
  };
}

export interface RunCellOptions {
  bootTimeoutMs?: number;
  /** Test hook: runs once per boot when the guest is ready, before the tests (e.g. to make the kernel report). */
  onReady?: (cell: MatrixCell, session: Session, kernel: KernelArtifact) => void | Promise<void>;
}

/** A cell through prepareCell (the kernel already prepared) and executeCell (one guest, `repeat` passes). */
export function primitiveRunCell(opts: RunCellOptions = {}): RunCell {
  return async (cell: MatrixCell, hooks: CellHooks) => {
    const plan = cellPlan(cell, { kind: 'artifact', artifact: hooks.kernel }, hooks.cpus, opts.bootTimeoutMs);
    const prepared = await prepareCell(plan, { progress: hooks.progress });
    const onReady = opts.onReady;
    return executeCell(prepared, {
      resultsRoot: hooks.resultsRoot,
      progress: hooks.progress,
      signal: hooks.signal,
      handleSignals: false,
      guests: hooks.guests,
      ...(onReady ? { onReady: (s: Session) => onReady(cell, s, prepared.kernel) } : {}),
    });
  };
}

/**
 * A setting an input error names, as a nightly config gives it: the key in
 * the config (nightly/config.schema.json) where it differs from the plan's
 * name, else the name itself (ref, series, suite, ndctl, seconds, cpus ...).
 */
const CONFIG_KEYS: Readonly<Record<string, string>> = {
  source: 'git',
  kernelPackage: 'package',
  test: 'tests',
  fs: 'modes',
};
export const configKeyOf = (key: string): string => CONFIG_KEYS[key] ?? key;

/** Bad input in a cell (its suite, image, tests, known-outcome files, kernel inputs), before any download. */
export const checkCellInputs: CheckCell = async (cell) => {
  try {
    const choice = kernelChoice(cell.kernel);
    if (choice.kind === 'build') await checkKernelInputs(choice.opts);
    await checkCell(cellPlan(cell, choice, 1));
  } catch (e) {
    // Every input error (the run's, a suite's, a known-outcome list's) is an InputError.
    if (e instanceof InputError) throw new NightlyInputError(`cell ${cell.key}: ${e.spelled(configKeyOf)}`);
    throw e;
  }
};

/** The kernel pipeline for a cell's kernel: Debian's package, or a build of Debian's source or a git tree (with `jobs` make jobs). */
export function prepareKernelWith(o: { jobs?: number }): PrepareKernel {
  return (spec, log) => {
    const choice = kernelChoice(spec);
    return resolveKernel(choice.kind === 'build' && o.jobs !== undefined ? { ...choice, opts: { ...choice.opts, jobs: o.jobs } } : choice, log);
  };
}

export const prepareKernelOnce: PrepareKernel = prepareKernelWith({});

/** A patch that does not apply or code that does not compile is the kernel's failure; anything else is the harness's. */
export function kernelFault(e: unknown): 'fail' | 'error' {
  return e instanceof BuildError || e instanceof PatchApplyError ? 'fail' : 'error';
}
