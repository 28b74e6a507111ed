// Walks every corpus entry beside the parser: each log must yield exactly the
// reports its .expected.json lists, with the listed fields equal. Every
// expected report states its title, alternative titles, type and corrupted flag.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLog } from '../../harness/src/oracle/index.js';
import type { CrashReport } from '../../harness/src/results/records.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');

interface Expected {
  description: string;
  reports: Array<Record<string, unknown>>;
}

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

const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
t.ok(logs.length >= 80, `corpus has ${logs.length} logs`);

// Agreement as the yardstick counts it: a log agrees when it yields the expected
// number of reports and each has the expected title, alternative titles and
// corrupted flag. Printed so that the figure quoted anywhere can be checked here.
let agree = 0;
const disagree: string[] = [];
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

for (const f of logs) {
  const name = f.replace(/\.log$/, '');
  t.test(name, async (t) => {
    const exp = JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as Expected;
    const got: CrashReport[] = parseLog(readFileSync(join(dir, f), 'utf8'));
    const agrees =
      got.length === exp.reports.length &&
      exp.reports.every((e, i) => same(got[i]!.title, e.title) && same(got[i]!.altTitles, e.altTitles) && same(got[i]!.corrupted, e.corrupted));
    if (agrees) agree++;
    else disagree.push(name);
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

t.test('corpus agreement', async (t) => {
  t.comment(`corpus agreement: ${agree}/${logs.length} logs (title, alternative titles, corrupted flag)${disagree.length ? `; differ: ${disagree.join(', ')}` : ''}`);
  t.equal(agree, logs.length, 'every corpus log agrees');
});
