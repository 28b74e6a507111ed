// The RunCell the nightly uses until the run primitive lands: a cell plan
// mapped onto today's runWorkflow. Today's workflow boots one guest per call,
// so a repeat is another run; its tests are gathered into the first run's
// record (params.iteration) so the nightly sees one record per cell either way.
import { runWorkflow, resolveKernel, type RunOptions } from '../run.ts';
import { BuildError, PatchApplyError } from '../../kernel/index.ts';
import { defaultTopology } from '../../vm/topology.ts';
import { NDCTL_GUEST } from '../../suites/ndctl.ts';
import { saveRun } from '../../results/store.ts';
import type { PlanSummary, RunRecord, RunStatus } from '../../results/records.ts';
import type { CellPlan, PrepareKernel, RunCell } from './plan.ts';

export function planSummary(plan: CellPlan): PlanSummary {
  return {
    cellKey: plan.key,
    suite: plan.suite,
    tests: plan.tests ?? [],
    kernel: plan.kernel as unknown as Record<string, unknown>,
    image: plan.image,
    params: { ...plan.axes, seconds: plan.seconds, seed: plan.seed, ...(plan.fs.length ? { fs: plan.fs.join(',') } : {}) },
    repeat: plan.repeat,
  };
}

/** Worst first: the status a record of several runs carries. */
const RANK: RunStatus[] = ['interrupted', 'aborted', 'infra-error', 'fail', 'running', 'pass'];

export function gatherRepeats(runs: RunRecord[]): RunRecord {
  const first = runs[0];
  if (runs.length === 1) return first;
  const tag = (r: RunRecord, i: number) => r.tests.map((t) => ({ ...t, params: { ...t.params, iteration: String(i + 1) } }));
  return {
    ...first,
    status: RANK.find((s) => runs.some((r) => r.status === s)) ?? first.status,
    reason: runs.map((r) => r.reason).filter(Boolean).join('; '),
    endedAt: runs.at(-1)!.endedAt,
    tests: runs.flatMap(tag),
    crashes: runs.flatMap((r) => r.crashes),
  };
}

export function runCellToday(opts: { bootTimeoutMs?: number; census?: boolean } = {}): RunCell {
  return async (plan, hooks) => {
    const given = plan.topology ?? (plan.suite === 'ndctl' ? NDCTL_GUEST.topology : defaultTopology);
    const run: RunOptions = {
      kernel: { kind: 'artifact', artifact: hooks.kernel },
      image: plan.image,
      topology: { ...structuredClone(given), cpus: plan.cpusFixed ? given.cpus : hooks.cpus },
      accel: plan.accel,
      resultsRoot: hooks.resultsRoot,
      suite: plan.suite,
      ndctl: plan.ndctl,
      tests: plan.tests,
      filesystems: plan.fs.length ? plan.fs : ['ext4', 'xfs'],
      seconds: plan.seconds,
      seed: plan.seed,
      bootTimeoutMs: opts.bootTimeoutMs ?? 180_000,
      cmdlineExtra: plan.cmdlineExtra,
      census: opts.census,
      progress: hooks.progress,
    };
    const outs = [];
    for (let i = 0; i < plan.repeat; i++) {
      const out = await runWorkflow(run);
      outs.push(out);
      if (out.record.status === 'interrupted' || hooks.signal.aborted) break;
    }
    const record = { ...gatherRepeats(outs.map((o) => o.record)), plan: planSummary(plan) };
    await saveRun(outs[0].runDir, record);
    return { record, runDir: outs[0].runDir };
  };
}

/** The kernel pipeline for a cell's kernel: Debian's package, or a build of Debian's source or a git tree. */
export const prepareKernelToday: PrepareKernel = (spec, log) => {
  if (spec.kind === 'stock') return resolveKernel({ kind: 'stock', pkg: spec.pkg }, log);
  const source = spec.kind === 'debian' ? `debian:${spec.version}` : spec.tree;
  return resolveKernel({ kind: 'build', opts: { source, ref: spec.kind === 'git' ? spec.ref : undefined, series: spec.series, config: spec.config, configBase: spec.configBase } }, log);
};

/** A patch that does not apply or code that does not compile is the kernel's failure; anything else is the harness's. */
export function kernelFault(e: unknown): 'fail' | 'error' {
  return e instanceof BuildError || e instanceof PatchApplyError ? 'fail' : 'error';
}
