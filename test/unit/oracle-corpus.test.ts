// Walks every corpus entry beside the parser: each log must yield exactly the
// reports its .expected.json lists, with the listed fields equal. Every
// expected report states its title, alternative titles, type and corrupted flag;
// every log states where it came from.
import t from 'tap';
import { parseLog } from '../../harness/src/oracle/index.js';
import type { CrashReport } from '../../harness/src/results/records.js';
import { ORIGINS, formatSummary, loadCorpus, summarize } from '../../bench/oracle-corpus.ts';

// Expected objects list only the fields that matter; compare those, recursively
// (in arrays element by element, so a missing or extra element still differs).
function subset(actual: unknown, expected: unknown): unknown {
  if (Array.isArray(expected)) return Array.isArray(actual) ? actual.map((a, i) => (i < expected.length ? subset(a, expected[i]) : a)) : actual;
  if (expected === null || typeof expected !== 'object') return actual;
  const out: Record<string, unknown> = {};
  const a = (actual ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(expected)) out[k] = subset(a[k], (expected as Record<string, unknown>)[k]);
  return out;
}

const logs = loadCorpus();
t.ok(logs.length >= 80, `corpus has ${logs.length} logs`);

for (const log of logs) {
  const { name, expected: exp } = log;
  t.test(name, async (t) => {
    t.ok((ORIGINS as readonly string[]).includes(exp.origin), `origin "${exp.origin}" is one of ${ORIGINS.join(', ')}`);
    if (exp.origin === 'real') t.ok(exp.provenance?.source && exp.provenance.kernel && exp.provenance.captured, 'a real capture names its source, kernel and date');
    else t.notOk(/^Real capture/.test(exp.description), 'only a real capture is described as one');
    const got: CrashReport[] = parseLog(log.text);
    t.equal(got.length, exp.reports.length, `${exp.description}: report count (got ${got.map((r) => r.title).join(' / ')})`);
    exp.reports.forEach((e, i) => {
      for (const k of ['title', 'altTitles', 'type', 'corrupted']) t.ok(k in e, `report ${i} states ${k}`);
      const r = got[i];
      if (!r) return;
      // The CPUs a stall report carries are part of what it says.
      if (r.cpus) t.ok('cpus' in e, `report ${i} states the ${r.cpus.length} CPU backtraces it carries`);
      const { linesExclude, ...fields } = e as { linesExclude?: string[] } & Record<string, unknown>;
      t.same(subset(r, fields), fields, `report ${i}: ${String(e.title)}`);
      for (const x of linesExclude ?? []) t.notOk(r.lines.some((l) => l.includes(x)), `report ${i} leaves out "${x}"`);
      t.ok(r.dedupKey.length > 0 && r.matchKey.length > 0, 'has keys');
      t.ok(r.startLine <= r.endLine, 'line range ordered');
    });
  });
}

// Agreement as the yardstick counts it, with the corpus counts by origin and the
// clean logs' false reports: printed so that any figure quoted can be checked here
// (`npm run bench:parse` prints the same line).
t.test('corpus agreement', async (t) => {
  const s = summarize(logs);
  t.comment(formatSummary(s));
  t.equal(s.agree, s.logs, 'every corpus log agrees');
  t.equal(s.clean.reports, 0, 'no report on a clean log');
});
