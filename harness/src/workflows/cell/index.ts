// The run primitive: a typed plan in, a run record out. Every workflow (run,
// nightly, bisect, repro, shell) goes through here:
//
//   plan → check (no downloads) → prepare (kernel, suite needs, image,
//   modules, our kernel modules) → boot (the oracle live from QEMU's first
//   byte) → execute (the tests, repeated in one guest while it survives,
//   rebooted after a crash) → judge (outcome × known outcomes × crashes) →
//   record (run.json rewritten at every state change).
//
// prepareCell() does everything that needs no guest and can be shared (a
// nightly prepares a kernel once for many cells); executeCell() boots and
// runs; runCell() is both. One file per concern: plan.ts (the types and the
// plan's identity), prepare.ts, boot.ts, keep.ts (guests kept between
// cells), passes.ts, stall.ts (the stall gate), verdict.ts, record.ts (the
// run's book), execute.ts.
import { executeCell } from './execute.ts';
import { prepareCell } from './prepare.ts';
import type { CellEnv, CellPlan, RunOutcome } from './plan.ts';

export {
  RunInputError,
  resolveKernel,
  suiteKernelChoice,
  planSummary,
  type KernelChoice,
  type CellPlan,
  type CellEnv,
  type PassHook,
  type RunOutcome,
  type PreparedCell,
} from './plan.ts';
export { checkCell, prepareCell } from './prepare.ts';
export { executeCell } from './execute.ts';
export { guestKeyOf } from './keep.ts';
export { verdictOfRun } from './verdict.ts';
export { describePhase } from '../session.ts';

export async function runCell(plan: CellPlan, env: CellEnv): Promise<RunOutcome> {
  return executeCell(await prepareCell(plan, env), env);
}
