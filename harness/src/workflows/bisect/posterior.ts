// How likely each step is to be the transition, given everything measured:
// the Bayesian counterpart of the engine's confidence. The engine's number is
// a worst-case bound (every kernel judged clean is assumed to carry the bug,
// at the rate's 95% lower bound), which is what its stopping rule needs; this
// is the probability a reader wants, and the calibration bench compares both.
//
// Model: exactly one patch c (1..k, uniform prior) brings the bug (or, for a
// fix bisection, removes it); every kernel with the bug shows it on each run
// independently at one unknown rate (uniform prior); a kernel without it never
// shows a matching crash. Integrating the rate out, the evidence's likelihood
// under c is B(H + 1, P_c + 1), where H counts every matching crash (all of
// them must sit on kernels with the bug, or c is ruled out) and P_c the clean
// runs of the kernels that would carry the bug if c were guilty.
import { context, matching, parseStepKey } from './engine.ts';
import type { BisectState, StepSpec } from './types.ts';

/** Does the kernel of this step show the bug when patch c is the one? */
function carriesBug(step: StepSpec, c: number, cause: boolean): boolean {
  const hasC = step.kind === 'prefix' ? c <= step.count : c !== step.patch;
  return cause ? hasC : !hasC;
}

/**
 * log B(H + 1, P + 1) up to a term that is the same for every c:
 * -log((P + 1)(P + 2)…(P + H + 1)).
 */
function logLikelihood(hits: number, passes: number): number {
  let l = 0;
  for (let j = 1; j <= hits + 1; j++) l -= Math.log(passes + j);
  return l;
}

/**
 * Probability of each patch 1..k (index 0 unused, always 0) being the one,
 * under the model above. All zeros when no single patch explains the evidence.
 */
export function culpritPosterior(state: BisectState): number[] {
  const s = state.settings;
  const cause = s.direction === 'cause';
  const key = context(state).key;
  // Evidence is kept per kernel; a kernel built by several steps (a no-op
  // patch) must carry the bug under c in all of them, or c changed nothing.
  const stepsOf = new Map<string, StepSpec[]>();
  for (const [k, b] of Object.entries(state.builds)) {
    if (!b.ok) continue;
    const h = b.imageHash ?? `step:${k}`;
    stepsOf.set(h, [...(stepsOf.get(h) ?? []), parseStepKey(k)]);
  }
  const logL: number[] = [-Infinity];
  for (let c = 1; c <= s.steps; c++) {
    let hits = 0;
    let passes = 0;
    let possible = true;
    for (const [h, ev] of Object.entries(state.evidence)) {
      const steps = stepsOf.get(h);
      if (!steps?.length) continue;
      const bug = carriesBug(steps[0]!, c, cause);
      const m = matching(ev, s.bad, key);
      if (steps.some((x) => carriesBug(x, c, cause) !== bug) || (!bug && m > 0)) {
        possible = false;
        break;
      }
      if (bug) {
        hits += m;
        passes += ev.passes;
      }
    }
    logL.push(possible ? logLikelihood(hits, passes) : -Infinity);
  }
  const top = Math.max(...logL);
  if (top === -Infinity) return logL.map(() => 0);
  const w = logL.map((l) => Math.exp(l - top));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}
