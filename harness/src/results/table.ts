// The human summary printed at the end of a run.
import type { RunRecord, TestResult } from './records.ts';
import { lineForTerminal as clean } from '../host/terminal.ts';
import { formatColumns } from '../host/table.ts';

/** `name [param/param]` as people read a test in progress lines and tables. */
export function label(t: TestResult): string {
  const p = Object.entries(t.params)
    .filter(([k]) => k !== 'dev')
    .map(([, v]) => v)
    .join('/');
  return p ? `${t.name} [${p}]` : t.name;
}

/** What a table row shows: the verdict when it differs from the raw status (XFAIL, XPASS), else the status. */
export function statusWord(t: TestResult): string {
  if (t.verdict === 'xfail') return `XFAIL(${t.status})`;
  if (t.verdict === 'xpass') return 'XPASS';
  return t.status.toUpperCase();
}

function rowReason(t: TestResult): string {
  if (t.verdict === 'xfail') return `expected: ${t.expected?.why ?? ''}${t.reason ? ` — ${t.reason}` : ''}`;
  if (t.verdict === 'xpass') return `expected ${t.expected?.statuses.join('|')} (${t.expected?.why ?? ''}) but passed: a fix, or a test that stopped testing?`;
  return t.reason;
}

export function formatTable(run: RunRecord): string {
  // Names, reasons and titles carry the guest's words: one clean line per cell, so no cell can forge a row.
  const rows = run.tests.map((t) => [label(t), statusWord(t), `${(t.durationMs / 1000).toFixed(1)}s`, rowReason(t)]);
  const lines = [formatColumns([['test', 'status', 'time', 'reason'], ...rows], { minWidths: [4, 6, 6] })];
  const counts = new Map<string, number>();
  for (const t of run.tests) {
    const k = t.verdict === 'xfail' || t.verdict === 'xpass' ? t.verdict : t.status;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(', ') || 'no tests ran';
  lines.push('');
  lines.push(`run ${run.id}: ${run.status.toUpperCase()}${run.reason ? ` — ${clean(run.reason)}` : ''} (${summary})`);
  if (run.crashes.length) for (const c of run.crashes) lines.push(`  crash: ${clean(c.title)}`);
  return lines.join('\n');
}
