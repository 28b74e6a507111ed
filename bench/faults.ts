// The fault matrix as a table: each fault injected into a real `dax-harness
// run`, what should happen, what did, processes the harness left, result
// files lost or half-written. `--all` adds the slow cases (kernel builds,
// the rootfs guest, two harnesses on a cold cache); `--case NAME` runs one.
//   npm run bench:faults [-- --all] [-- --case "SIGKILL of the harness"]
import { parseArgs } from 'node:util';
import { CASES, runCase, runTwoAtOnce, common, type Observed } from '../test/faults/matrix.ts';

const { values } = parseArgs({ options: { all: { type: 'boolean', default: false }, case: { type: 'string', multiple: true } } });
const chosen = CASES.filter((c) => (values.case?.length ? values.case.includes(c.name) : values.all || c.quick));

const rows: string[][] = [];
const seen = (o: Observed) => `${o.signal ?? `exit ${o.exit}`}, ${o.record?.status ?? 'no run'}${o.record?.reason ? `: ${o.record.reason.slice(0, 60)}` : ''}`;
for (const c of chosen) {
  if (c.name === 'two runs at once on a cold cache') {
    const both = await runTwoAtOnce();
    const bad = both.flatMap((o, i) => [...(o.exit === 0 ? [] : [`run ${i + 1} exit ${o.exit}`]), ...common(o)]);
    rows.push([c.name, c.expected, both.map(seen).join(' / '), String(both.reduce((n, o) => n + o.leftovers.length, 0)), String(both.reduce((n, o) => n + o.halfWritten.length, 0)), bad.length ? `NO: ${bad.join('; ')}` : 'yes', `${Math.max(...both.map((o) => o.ms)) / 1000}`]);
    continue;
  }
  process.stderr.write(`running: ${c.name}\n`);
  const o = await runCase(c, 3 * 3600 * 1000);
  const bad = c.check(o);
  rows.push([c.name, c.expected, seen(o), String(o.leftovers.length), String(o.halfWritten.length), bad.length ? `NO: ${bad.join('; ')}` : 'yes', (o.ms / 1000).toFixed(0)]);
}
const head = ['fault', 'expected', 'seen', 'leftover procs', 'files half-written', 'as expected', 's'];
const width = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[i].length))));
const fmt = (r: string[]) => r.map((x, i) => (x.length > width[i] ? `${x.slice(0, width[i] - 1)}…` : x.padEnd(width[i]))).join(' | ');
console.log(fmt(head));
console.log(width.map((w) => '-'.repeat(w)).join('-|-'));
for (const r of rows) console.log(fmt(r));
const failed = rows.filter((r) => r[5] !== 'yes');
console.log(`\n${rows.length - failed.length} of ${rows.length} faults ended as expected`);
for (const r of failed) console.log(`  ${r[0]}: ${r[5]}`);
process.exitCode = failed.length ? 1 : 0;
