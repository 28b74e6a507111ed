// The loop that runs a bisection over an injected environment: ask the pure
// engine what to do, do it, record the answer, save the state. Saving after
// every action is what makes an interrupted bisection resumable.
import { applyBuild, applyTest, decide, knownRange, stepLabel, parseStepKey } from './engine.ts';
import { bisectStatus } from '../../host/eta.ts';
import type { BisectEnv, BisectEvent, BisectOutcome, BisectState } from './types.ts';

export interface DriverHooks {
  /** Persist the state (atomically); called after every action. */
  save?: (state: BisectState) => Promise<void> | void;
  /** One line per action, with the running confidence and where the search stands (step k of about n). */
  progress?: (line: string, event: BisectEvent, state: BisectState) => void;
  /** 'patch' for a series, 'commit' for a git range (labels only). */
  unit?: 'patch' | 'commit';
}

export function formatEvent(e: BisectEvent, state: BisectState, unit: 'patch' | 'commit' = 'patch'): string {
  const k = state.settings.steps;
  const label = stepLabel(parseStepKey(e.step), k, unit);
  const rate = e.rate > 0 ? `rate ≥ ${e.rate.toFixed(2)}` : 'rate unknown';
  return `[${String(e.seq).padStart(3)}] ${e.step} (${label}) ${e.action}: ${e.detail} → ${e.verdict} · ${rate} · confidence ${e.confidence.toFixed(3)}`;
}

export async function runBisection(state: BisectState, env: BisectEnv, hooks: DriverHooks = {}): Promise<BisectOutcome> {
  for (;;) {
    const a = decide(state);
    if (a.kind === 'done') return a.outcome;
    if (a.kind === 'build') applyBuild(state, a.step, await env.build(a.step));
    else applyTest(state, a.step, await env.test(a.step, a.runs, a.stop));
    await hooks.save?.(state);
    const e = state.log[state.log.length - 1]!;
    const steps = new Set(state.log.map((x) => x.step)).size;
    const where = bisectStatus({ step: steps, ...knownRange(state), unit: hooks.unit ?? 'patch' });
    hooks.progress?.(`${formatEvent(e, state, hooks.unit)} · ${where}`, e, state);
  }
}
