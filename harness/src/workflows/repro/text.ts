// A repro's plan and outcome as people read them. Pure.
import type { ReproPlan, ReproSummary } from './plan.ts';
import { formatRate } from './stats.ts';
import { shellQuote } from './command.ts';

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function kernelLines(k: ReproPlan['kernel']): string[] {
  const out = [`kernel:    ${k.argv.length ? shellQuote(k.argv) : "Debian's stock kernel"} (${k.why})`];
  for (const n of k.pick?.notes ?? []) out.push(`           note: ${n}`);
  return out;
}

/** The plan before the loop (also all of --dry-run's output). */
export function formatPlan(p: ReproPlan, top = 8): string {
  const f = p.facts;
  const src = f.crash.source;
  const out: string[] = [];
  out.push(`reported:  ${f.title}`);
  if (src.subject || src.message > 0) out.push(`           from message ${src.message + 1}${src.subject ? `: ${src.subject}` : ''}${src.depth > 0 ? ` (quoted ${src.depth} deep)` : ''}`);
  out.push(`           match key ${f.matchKey}`);
  const facts = [
    f.kernelVersion ? `kernel ${f.kernelVersion.release}` : 'kernel version not given',
    f.comm ? `Comm ${f.comm}` : '',
    f.taint ? (f.taint.letters ? `tainted ${f.taint.letters}` : 'not tainted') : '',
    f.pageDump ? `page dump: refcount ${f.pageDump.refcount ?? '?'} order ${f.pageDump.order ?? '?'}${f.pageDump.aops ? ` ${f.pageDump.aops}` : ''}` : '',
  ].filter(Boolean);
  out.push(`           ${facts.join(', ')}`);
  if (f.syzbot?.title) out.push(`           syzbot: ${f.syzbot.title}${f.syzbot.dashboard ? ` ${f.syzbot.dashboard}` : ''}`);
  const target = [f.mode, f.fs, f.reflink ? 'reflink' : '', f.faultSize ? `${f.faultSize.toUpperCase()} faults` : ''].filter(Boolean).join(', ');
  if (target) out.push(`           runs on: ${target} (${f.evidence.join('; ')})`);
  if (f.tests.length) out.push(`           tests in the report: ${f.tests.map((t) => `${t.name}${t.how === 'comm' ? ' (its program crashed)' : ''}`).join(', ')}`);
  if (f.others.length) out.push(`           other crashes in it: ${f.others.map((o) => o.report.title).join('; ')} (--crash N picks another)`);
  out.push(...kernelLines(p.kernel));
  out.push(`tests to try (${p.candidates.length}, best first):`);
  for (const c of p.candidates.slice(0, top)) out.push(`  ${c.id.padEnd(28)} ${c.score.toFixed(1).padStart(5)}  ${c.reasons.join('; ')}`);
  if (p.candidates.length > top) out.push(`  ... and ${p.candidates.length - top} more`);
  for (const c of p.blocked.slice(0, 4)) out.push(`  (${c.id}: ${c.blocked})`);
  return out.join('\n') + '\n';
}

/** The outcome: verdict, rate, time to first reproduction, the two crashes side by side, what was tried, the commands. */
export function formatSummary(s: ReproSummary, o: { budget: string }): string {
  const out: string[] = [];
  out.push(`reported:  ${s.reported.title}${s.reported.kernel ? ` (kernel ${s.reported.kernel})` : ''}`);
  out.push(...kernelLines(s.kernel));
  if (s.found && s.reproduced) {
    out.push(`REPRODUCED in ${s.found.test} after ${duration(s.timeToFirstMs ?? 0)} (pass ${s.found.pass + 1} of ${s.passes}, ${duration(s.elapsedMs)} in all)`);
  } else if (s.found) {
    out.push(`STOPPED at another crash (--any-crash) in ${s.found.test} after ${duration(s.timeToFirstMs ?? 0)}: ${s.found.title}`);
  } else {
    const why = s.stop === 'no-tests' ? 'no test could run (see tried)' : s.stop === 'passes' ? 'the pass limit was reached' : `within the ${o.budget} budget`;
    out.push(`NOT REPRODUCED ${why}: ${s.passes} passes in ${duration(s.elapsedMs)}`);
  }
  if (s.rate && s.found) out.push(`  rate:    ${formatRate(s.rate)} of ${s.found.test}'s runs`);
  if (s.found) out.push(`  why the same: ${s.found.why.join('; ')}`);
  if (s.found?.runDir) out.push(`  console: ${s.found.runDir}/console.log`);
  if (s.comparison) {
    const c = s.comparison;
    const w = Math.max(9, ...c.rows.map((r) => (r.reported ?? '-').length));
    out.push('');
    out.push(`  ${'field'.padEnd(17)} ${'reported'.padEnd(w)}  reproduced`);
    for (const r of c.rows) {
      const mark = r.agree === null ? ' ' : r.agree ? '=' : '≠';
      out.push(`${mark} ${r.field.padEnd(17)} ${(r.reported ?? '-').padEnd(w)}  ${r.reproduced ?? '-'}`);
    }
    out.push(`  frames in both:      ${c.framesAgree.map((f) => (f.reported === f.reproduced ? f.reported : `${f.reported} ≈ ${f.reproduced}`)).join(', ') || '-'}`);
    if (c.framesOnlyReported.length) out.push(`  only in the report:  ${c.framesOnlyReported.join(', ')}`);
    if (c.framesOnlyReproduced.length) out.push(`  only reproduced:     ${c.framesOnlyReproduced.join(', ')}`);
  }
  if (s.met.length) {
    out.push('');
    out.push('other crashes met:');
    for (const m of s.met) out.push(`  ${m.count}× ${m.title} (${m.verdict}${m.test ? `, in ${m.test}` : ', outside a test'}): ${m.why.join('; ')}`);
  }
  out.push('');
  out.push('tried:');
  for (const t of s.tried.filter((x) => x.runs > 0 || x.dropped)) {
    const notes = `${t.hits ? `, ${t.hits} reproduced` : ''}${t.otherCrashes ? `, ${t.otherCrashes} with another crash` : ''}${t.dropped ? ` — given up: ${t.dropped}` : ''}`;
    out.push(`  ${t.id.padEnd(28)} ${String(t.runs).padStart(3)} run${t.runs === 1 ? '' : 's'}${notes}`);
    if (t.reasons.length) out.push(`  ${''.padEnd(28)}     (${t.reasons.join('; ')})`);
  }
  const untried = s.tried.filter((x) => x.runs === 0 && !x.dropped).length;
  if (untried) out.push(`  ${untried} more ranked lower, not reached`);
  for (const n of s.notTried) out.push(`  ${n.id}: not tried, ${n.why}`);
  if (s.commands) {
    out.push('');
    out.push('reproduce it:');
    out.push(`  ${shellQuote(s.commands.loop)}`);
    out.push(`  one run: ${shellQuote(s.commands.once)}`);
  }
  return out.join('\n') + '\n';
}
