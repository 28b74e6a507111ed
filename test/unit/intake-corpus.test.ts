// Walks the intake corpus: each input form people send a crash in must give
// exactly the crashes its .expected.json lists, from the listed message and
// quote depth, with the listed fields equal.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readReport } from '../../harness/src/workflows/repro/report.js';
import { parseLogCommand } from '../../harness/src/cli/parse-log.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus/intake');

interface Expected {
  description: string;
  form: string;
  messages: number;
  syzbot?: Record<string, unknown>;
  crashes: Array<{ message: number; depth: number; title: string } & Record<string, unknown>>;
}

const inputs = readdirSync(dir).filter((f) => !f.endsWith('.expected.json')).sort();
t.ok(inputs.length >= 14, `corpus has ${inputs.length} inputs`);

for (const f of inputs) {
  const name = f.replace(/\.[^.]+$/, '');
  t.test(name, async (t) => {
    const exp = JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as Expected;
    const text = readFileSync(join(dir, f), 'utf8');
    const got = await readReport(text);
    t.equal(got.form, exp.form, `${exp.description}: form`);
    t.equal(got.messages.length, exp.messages, 'message count');
    t.equal(got.crashes.length, exp.crashes.length, `crash count (got ${got.crashes.map((c) => `${c.source.message}:${c.report.title}`).join(' / ')})`);
    exp.crashes.forEach((e, i) => {
      const c = got.crashes[i];
      if (!c) return;
      const { message, depth, source, ...fields } = e as typeof e & { source?: Record<string, unknown> };
      t.equal(c.source.message, message, `crash ${i} from message ${message}`);
      t.equal(c.source.depth, depth, `crash ${i} quote depth ${depth}`);
      if (source) t.has(c.source, source, `crash ${i} source`);
      t.has(c.report, fields, `crash ${i}: ${e.title}`);
      t.ok(c.report.startLine <= c.report.endLine, 'line range ordered');
    });
    if (exp.syzbot) t.has(got.messages[0]?.syzbot, exp.syzbot, 'syzbot facts');
  });
}

t.test('parse-log reads every form the same way', async (t) => {
  for (const f of inputs) {
    const exp = JSON.parse(readFileSync(join(dir, `${f.replace(/\.[^.]+$/, '')}.expected.json`), 'utf8')) as Expected;
    let out = '';
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await parseLogCommand(['--json', join(dir, f)]);
    } finally {
      process.stdout.write = write;
    }
    const got = JSON.parse(out) as Array<{ title: string; source?: { message: number } }>;
    t.equal(code, 1, `${f}: exit 1 (reports found)`);
    t.same(
      got.map((r) => [r.source?.message ?? 0, r.title]),
      exp.crashes.map((c) => [c.message, c.title]),
      `${f}: titles and messages`,
    );
  }
});
