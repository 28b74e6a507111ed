// The terminal summary of a night: what needs a person first (regressions,
// new failures and crashes), then flakes and the rest, then the counts.
import { reportLine, type NightReport, type ReportTest } from '../report.ts';
import { lineForTerminal as clean } from '../../host/terminal.ts';

function line(t: ReportTest): string {
  // Test names, reasons and titles are the guest's words: one clean line each.
  return `  ${t.cellKey}  ${clean(t.key)}: ${t.detail}${t.reason && t.attempts.failed ? ` — ${clean(t.reason)}` : ''}`;
}

export function formatNightSummary(r: NightReport): string {
  const out: string[] = [];
  const n = r.night;
  out.push(`night ${n.id}: ${n.status.toUpperCase()}, ${r.cells.length} cells${n.baseline ? `, baseline ${n.baseline}` : ''}`);
  const section = (title: string, tests: ReportTest[]) => {
    if (!tests.length) return;
    out.push('', `${title} (${tests.length}):`);
    for (const t of tests) out.push(line(t));
  };
  section('REGRESSIONS', r.tests.filter((t) => t.cls === 'regression'));
  const newCrashes = r.crashes.filter((c) => c.isNew);
  if (newCrashes.length) {
    out.push('', `NEW CRASH SIGNATURES (${newCrashes.length}):`);
    for (const c of newCrashes) out.push(`  ${clean(c.title)}  [${c.where.map((w) => w.cellKey).filter((v, i, a) => a.indexOf(v) === i).join(', ')}]`);
  }
  if (r.reports.length) {
    out.push('', `BUG REPORTS (${r.reports.length}):`);
    for (const b of r.reports) out.push(`  ${clean(reportLine(b))}`);
  }
  section('new tests failing', r.tests.filter((t) => t.cls === 'new' && t.attempts.failed));
  section('flaky', r.tests.filter((t) => t.cls === 'flaky'));
  section('still failing', r.tests.filter((t) => t.cls === 'still-failing'));
  section('harness errors', r.tests.filter((t) => t.cls === 'error'));
  section('no longer run', r.tests.filter((t) => t.cls === 'gone'));
  section('fixed', r.tests.filter((t) => t.cls === 'fixed'));
  section('unexpected passes', r.tests.filter((t) => t.cls === 'xpass'));
  const known = r.crashes.filter((c) => !c.isNew);
  if (known.length) {
    out.push('', `known crash signatures (${known.length}):`);
    for (const c of known) out.push(`  ${clean(c.title)}  (seen ${c.count}× on ${c.nights} nights, first ${c.firstSeen}, last ${c.lastSeen})`);
  }
  const broken = r.cells.filter((c) => c.status === 'not-run' || c.status === 'infra-error');
  if (broken.length) {
    out.push('', `cells the harness could not judge (${broken.length}):`);
    for (const c of broken) out.push(`  ${c.key}: ${c.status} — ${clean(c.reason)}`);
  }
  const counts = Object.entries(r.counts)
    .filter(([, v]) => v)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  out.push('', `${r.tests.length} tests: ${counts || 'none ran'}`);
  return out.join('\n') + '\n';
}
