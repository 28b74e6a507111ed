// TAP version 14: one line per test; an expected failure is a TODO (TAP's own
// word for it), a skip a SKIP, the class and reason in a YAML block.
import type { NightReport } from '../report.ts';

const clean = (s: string) => s.replace(/#/g, '\\#').replace(/[\r\n]+/g, ' ');
const yamlStr = (s: string) => JSON.stringify(s);

export function formatTap(r: NightReport): string {
  const tests = r.cells.flatMap((c) => c.tests.filter((t) => t.cls !== 'gone').map((t) => ({ c, t })));
  const notRun = r.cells.filter((c) => c.status === 'not-run');
  const out = ['TAP version 14', `# dax-harness night ${r.night.id}`, `1..${tests.length + notRun.length}`];
  let n = 0;
  for (const c of notRun) out.push(`not ok ${++n} - ${clean(c.key)} # harness: ${clean(c.reason)}`);
  for (const { c, t } of tests) {
    const desc = `${clean(c.key)} ${clean(t.key)}`;
    const bad = t.verdicts.includes('fail') || t.cls === 'error';
    let directive = '';
    if (t.cls === 'xfail') directive = ` # TODO expected failure: ${clean(t.expectedWhy ?? t.reason)}`;
    else if (t.cls === 'skip') directive = ` # SKIP ${clean(t.reason || 'skipped')}`;
    out.push(`${bad || t.cls === 'xfail' ? 'not ok' : 'ok'} ${++n} - ${desc}${directive}`);
    if (bad) {
      out.push('  ---', `  class: ${t.cls}`, `  detail: ${yamlStr(t.detail)}`, `  reason: ${yamlStr(t.reason)}`);
      if (t.crashes.length) out.push('  crashes:', ...t.crashes.map((x) => `    - ${yamlStr(x)}`));
      if (t.log) out.push(`  log: ${yamlStr(t.log)}`);
      out.push('  ...');
    }
  }
  return out.join('\n') + '\n';
}
