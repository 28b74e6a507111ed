// bisect.json and the human summary, both built from the state alone, so a
// resumed or finished bisection reports the same way.
import type { BisectCrashRef, BisectPatchRef, BisectRecord, BisectStepRecord } from '../../results/records.ts';
import { context, matching, parseStepKey, stepLabel, verdictOf, evidenceFor, crashingEnd, type Context } from './engine.ts';
import type { BisectOutcome, BisectState, StepSpec } from './types.ts';

export interface ReportMeta {
  id: string;
  input: BisectRecord['input'];
  /** Patch (or commit) 1..k, in order: index 0 is patch 1. */
  patches: BisectPatchRef[];
  unit: 'patch' | 'commit';
  startedAt: string;
  endedAt: string | null;
}

const KIND_ORDER: Record<StepSpec['kind'], number> = { prefix: 0, without: 1, revert: 2 };

function stepOrder(a: StepSpec, b: StepSpec): number {
  if (a.kind !== b.kind) return KIND_ORDER[a.kind] - KIND_ORDER[b.kind];
  return a.kind === 'prefix' ? a.count - (b as typeof a).count : a.patch - (b as typeof a).patch;
}

function matchingCrash(state: BisectState, ctx: Context, key: string): BisectCrashRef | null {
  const ev = evidenceFor(state, key);
  if (!ev) return null;
  const entries = Object.entries(ev.crashes).filter(([k]) => state.settings.bad !== 'match' || k === ctx.key);
  if (!entries.length) return null;
  const [k, c] = entries.reduce((a, b) => (b[1].count > a[1].count ? b : a));
  return { title: c.title, matchKey: k, ref: c.ref ?? null };
}

export function buildRecord(state: BisectState, outcome: BisectOutcome, meta: ReportMeta): BisectRecord {
  const s = state.settings;
  const ctx = context(state);
  const patch = (n: number | null) => (n !== null && n >= 1 ? (meta.patches[n - 1] ?? null) : null);
  const keys = Object.keys(state.builds).sort((a, b) => stepOrder(parseStepKey(a), parseStepKey(b)));
  const steps: BisectStepRecord[] = keys.map((key) => {
    const spec = parseStepKey(key);
    const b = state.builds[key]!;
    const ev = evidenceFor(state, key);
    const v = verdictOf(state, ctx, key);
    const twins = b.ok ? keys.filter((k) => k !== key && state.builds[k]!.ok && state.builds[k]!.imageHash === b.imageHash && b.imageHash !== null) : [];
    const parent = spec.kind === 'prefix' && spec.count > 0 ? `p${spec.count - 1}` : null;
    const m = matching(ev, s.bad, ctx.key);
    return {
      step: key,
      label: stepLabel(spec, s.steps, meta.unit),
      patch: patch(spec.kind === 'prefix' ? spec.count : spec.patch),
      build: {
        ok: b.ok,
        failure: b.failure ?? null,
        reason: b.reason,
        imageHash: b.imageHash,
        sameKernelAs: parent && twins.includes(parent) ? parent : (twins[0] ?? null),
        noop: parent !== null && twins.includes(parent),
      },
      verdict: v.verdict,
      why: v.why,
      runs: ev?.runs ?? 0,
      passes: ev?.passes ?? 0,
      matching: m,
      rate: ev && m + ev.passes > 0 ? m / (m + ev.passes) : null,
      crashes: Object.entries(ev?.crashes ?? {}).map(([k, c]) => ({
        title: c.title,
        matchKey: k,
        ref: c.ref ?? null,
        count: c.count,
        matching: s.bad !== 'match' || k === ctx.key,
      })),
      failures: { ...(ev?.failures ?? {}) },
      bootFailures: { ...(ev?.bootFailures ?? {}) },
      infra: ev?.infra ?? 0,
      boots: ev?.boots ?? 0,
    };
  });
  const endKey = `p${crashingEnd(s)}`;
  // For a fix the named step is clean: its parent holds the crash to show.
  const crashStep = outcome.culprit === null ? null : s.direction === 'cause' ? `p${outcome.culprit}` : `p${outcome.culprit - 1}`;
  const badEnd = matchingCrash(state, ctx, endKey);
  return {
    schema: 1,
    id: meta.id,
    status: outcome.status,
    reason: outcome.reason,
    direction: s.direction,
    input: meta.input,
    bad: { meaning: s.bad, matchKey: ctx.key, title: badEnd?.title ?? null },
    culprit: patch(outcome.culprit),
    candidates: outcome.candidates.map((n) => patch(n)).filter((p): p is BisectPatchRef => p !== null),
    confidence: outcome.confidence,
    confident: outcome.confident,
    targetConfidence: s.targetConfidence,
    rate: { ...ctx.rate, level: s.rateLevel },
    crashes: { badEnd, culprit: crashStep ? matchingCrash(state, ctx, crashStep) : null },
    verification: outcome.verification,
    steps,
    used: { ...state.used },
    log: state.log.map((e) => ({ ...e })),
    startedAt: meta.startedAt,
    endedAt: meta.endedAt,
  };
}

function refLine(p: BisectPatchRef, unit: string, total: number): string {
  const id = p.commit ? ` ${p.commit.slice(0, 12)}` : '';
  return `${unit} ${p.number}/${total}${id} "${p.subject}"`;
}

/** The summary a person reads first: what was found, how sure, on what evidence, at what cost. */
export function summaryText(r: BisectRecord): string {
  const unit = r.input.kind === 'range' ? 'commit' : 'patch';
  const k = r.input.patches;
  const what = r.direction === 'cause' ? 'first bad' : 'first good (the fix)';
  const out: string[] = [];
  if (r.culprit) {
    const not = r.status === 'unverifiable' ? "NOT verified (the tree's shape)" : 'NOT confirmed';
    out.push(`${r.confident ? what : `${what}, ${not}`}: ${refLine(r.culprit, unit, k)}`);
    out.push(`  author      ${r.culprit.author}`);
    if (r.culprit.link) out.push(`  link        ${r.culprit.link}`);
  } else if (r.status === 'range') {
    out.push(`inconclusive: the ${what} ${unit} is one of ${r.candidates.length}:`);
    for (const c of r.candidates) out.push(`  ${refLine(c, unit, k)}`);
  } else out.push(`no ${unit} named (${r.status})`);
  out.push(`  why         ${r.reason}`);
  out.push(`  confidence  ${r.confidence.toFixed(3)} (target ${r.targetConfidence}; the probability that no clean verdict was a missed bug)`);
  if (r.verification) {
    const v = r.verification;
    const line = (name: string, c: typeof v.parent) =>
      `  ${name.padEnd(11)} ${c.step ?? '-'}: expected ${c.expected}, got ${c.verdict} ${c.ok ? 'ok' : 'MISMATCH'}`;
    out.push(line('culprit', v.culprit), line('parent', v.parent));
    if (v.attempts?.length) {
      // The fallback chain, in the order tried: which check verified it, or why none could.
      out.push(`  verified by  ${v.by ?? 'none'}`);
      for (const a of v.attempts) out.push(`${line(a.check, a)} (${a.why})`);
    } else out.push(line('leave-out', v.leaveOut));
  }
  const bad = r.bad.meaning === 'match' ? `crash with match key "${r.bad.matchKey ?? '?'}"` : r.bad.meaning;
  out.push(`  bad means   ${bad}`);
  if (r.crashes.badEnd) out.push(`  crash       bad end: ${r.crashes.badEnd.title}${r.crashes.badEnd.ref ? ` (${r.crashes.badEnd.ref})` : ''}`);
  if (r.crashes.culprit) out.push(`              ${r.direction === 'cause' ? 'culprit' : 'before fix'}: ${r.crashes.culprit.title}${r.crashes.culprit.ref ? ` (${r.crashes.culprit.ref})` : ''}`);
  if (r.rate.trials) {
    out.push(`  rate        ${r.rate.hits}/${r.rate.trials} runs crashed (${r.rate.estimate.toFixed(2)}); ≥ ${r.rate.lower.toFixed(2)} at ${Math.round(r.rate.level * 100)}% confidence`);
  }
  out.push('  steps');
  for (const st of r.steps) {
    const build = !st.build?.ok ? st.why : st.build.noop ? `no-op (same kernel as ${st.build.sameKernelAs})` : '';
    const ev = st.runs || st.boots ? `${st.runs} runs, ${st.matching} matching, ${st.passes} clean${st.infra ? `, ${st.infra} infra` : ''}` : '';
    const noise = st.crashes.filter((c) => !c.matching).map((c) => `${c.count}× ${c.title}`);
    const notes = [build, ev, noise.length ? `other: ${noise.join(', ')}` : ''].filter(Boolean).join('; ');
    out.push(`    ${st.step.padEnd(5)} ${st.label.padEnd(28)} ${st.verdict.padEnd(8)} ${notes}`);
  }
  out.push(`  used        ${r.used.builds} builds, ${r.used.boots} boots, ${r.used.runs} runs`);
  return out.join('\n');
}
