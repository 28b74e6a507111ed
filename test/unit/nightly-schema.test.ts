// nightly/config.schema.json: the file editors complete from is the file the
// harness validates with, and it agrees with the code's own lists (ranges,
// suite names, tree keys), so an editor never accepts what a night refuses.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { Ajv } from 'ajv';
import { LIMITS } from '../../harness/src/host/limits.ts';
import { allSuites, suiteNames } from '../../harness/src/suites/index.ts';
import { configSchema, checkShape } from '../../harness/src/workflows/nightly/schema.ts';

const schema = await configSchema();
const example = new URL('../../nightly/example.yaml', import.meta.url);

t.test('every whole-number definition is a range of host/limits.ts, by the same name', async (t) => {
  const ints = Object.entries(schema.definitions as Record<string, { type?: string; minimum?: number; maximum?: number }>).filter(([, d]) => d.type === 'integer');
  t.ok(ints.length >= 8, `${ints.length} ranges`);
  for (const [name, d] of ints) t.same({ min: d.minimum, max: d.maximum }, LIMITS[name as keyof typeof LIMITS], name);
});

t.test("a suite entry offers the registry's suite names and tree keys", async (t) => {
  const entry = schema.definitions.suite.properties;
  t.same(entry.suite.examples, suiteNames());
  for (const s of allSuites()) if (s.tree) t.ok(entry[s.tree.option], `${s.tree.option}: PATH`);
});

t.test('an editor can use it: a valid draft-07 schema, named by the example, which it accepts', async (t) => {
  const ajv = new Ajv({ strict: false, allowUnionTypes: true });
  const validate = ajv.compile(schema);
  const text = await readFile(example, 'utf8');
  t.match(text.split('\n')[0], /^# yaml-language-server: \$schema=\.\/config\.schema\.json$/, 'the first line names the schema');
  t.ok(validate(parse(text)), JSON.stringify(validate.errors));
  t.notOk(validate({ kernels: [{ name: 'a', stock: true }], suites: [{ name: 'smoke' }], colour: 1 }), 'and refuses an unknown key');
});

t.test('checkShape: the first problem, as a key and one line', async (t) => {
  t.same(await checkShape({ kernels: [{ name: 'a', git: 'x', config: [] }], suites: [{ name: 's' }] }), { ok: false, key: 'kernels[0].config', message: 'must be a non-empty list' });
  t.same(await checkShape({ kernels: [{ name: 'a', stock: true, series: 's.mbox' }], suites: [{ name: 's' }] }), {
    ok: false,
    key: 'kernels[0].series',
    message: "only a built kernel (debian: or git:) takes a series or config; Debian's binary package is used as it is",
  });
  t.same(await checkShape({ kernels: [{ name: 'a', stock: true }], suites: [{ name: 's', repeat: 1001 }] }), { ok: false, key: 'suites[0].repeat', message: 'must be a whole number from 1 to 1000' });
  const ok = await checkShape({ kernels: [{ name: 'a', stock: true }], suites: [{ name: 's', modes: 'ext4,xfs' }] });
  t.ok(ok.ok, 'a comma-separated string is a list');
});
