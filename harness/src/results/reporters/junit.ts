// JUnit XML for CI systems: one testsuite per cell, one testcase per test;
// expected failures are skipped with the reason, harness errors are <error>.
// A test with a bug report (a bisected culprit, a mail ready to send) carries
// it as testcase properties (dax-harness.report, .culprit, .mail) and as a
// line of its system-out, which every JUnit reader shows.
import { reportLine, reportsOn, type NightReport } from '../report.ts';

export function xmlEscape(s: string): string {
  // XML 1.0 cannot carry most control characters at all, escaped or not.
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

export function formatJunit(r: NightReport): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const all = r.cells.flatMap((c) => c.tests.filter((t) => t.cls !== 'gone'));
  const failures = all.filter((t) => t.verdicts.includes('fail')).length;
  const errors = all.filter((t) => t.cls === 'error').length;
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  out.push(`<testsuites name="dax-harness night ${xmlEscape(r.night.id)}" tests="${all.length}" failures="${failures}" errors="${errors}" time="${secs(all.reduce((a, t) => a + t.durationMs, 0))}">`);
  for (const c of r.cells) {
    const tests = c.tests.filter((t) => t.cls !== 'gone');
    const f = tests.filter((t) => t.verdicts.includes('fail')).length;
    const e = tests.filter((t) => t.cls === 'error').length + (c.status === 'not-run' || c.status === 'infra-error' ? 1 : 0);
    const sk = tests.filter((t) => t.cls === 'skip' || t.cls === 'xfail').length;
    out.push(`  <testsuite name="${xmlEscape(c.key)}" tests="${tests.length + (c.status === 'not-run' ? 1 : 0)}" failures="${f}" errors="${e}" skipped="${sk}">`);
    out.push(`    <properties><property name="kernel" value="${xmlEscape(c.axes.kernel)}"/><property name="suite" value="${xmlEscape(c.axes.suite)}"/><property name="mode" value="${xmlEscape(c.axes.mode)}"/><property name="topology" value="${xmlEscape(c.axes.topology)}"/></properties>`);
    if (c.status === 'not-run') out.push(`    <testcase classname="${xmlEscape(c.key)}" name="(cell)"><error message="${xmlEscape(c.reason)}"/></testcase>`);
    for (const t of tests) {
      const head = `    <testcase classname="${xmlEscape(c.key)}" name="${xmlEscape(t.key)}" time="${secs(t.durationMs)}"`;
      const body: string[] = [];
      const bugs = reportsOn(r, c.key, t.key);
      const props = bugs.flatMap((b) => [
        ['dax-harness.report', b.id],
        ...(b.culprit ? [['dax-harness.culprit', `${b.culprit.commit ? `${b.culprit.commit.slice(0, 12)} ` : ''}${b.culprit.subject}`]] : []),
        ...(b.eml ? [['dax-harness.mail', b.eml]] : []),
      ]);
      if (props.length) body.push(`<properties>${props.map(([n, v]) => `<property name="${n}" value="${xmlEscape(v!)}"/>`).join('')}</properties>`);
      if (t.verdicts.includes('fail')) body.push(`<failure type="${t.cls}" message="${xmlEscape(`${t.detail}${t.reason ? `: ${t.reason}` : ''}`)}">${xmlEscape(t.crashes.length ? `crashes: ${t.crashes.join('\n')}` : t.reason)}</failure>`);
      else if (t.cls === 'error') body.push(`<error message="${xmlEscape(t.reason || t.detail)}"/>`);
      else if (t.cls === 'xfail') body.push(`<skipped message="${xmlEscape(`expected failure: ${t.expectedWhy ?? t.reason}`)}"/>`);
      else if (t.cls === 'skip') body.push(`<skipped message="${xmlEscape(t.reason || 'skipped')}"/>`);
      const sysout = [...(t.log ? [`log: ${t.log}`] : []), ...bugs.map(reportLine)];
      if (sysout.length) body.push(`<system-out>${xmlEscape(sysout.join('\n'))}</system-out>`);
      out.push(body.length ? `${head}>${body.join('')}</testcase>` : `${head}/>`);
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
