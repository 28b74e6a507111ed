// The environment registry is the whole truth: docs/environment.md is what
// `npm run docs:env` writes from it, and no file under harness/src reads a
// variable it does not list, or reads one around it.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ENV_VARS, envValue, environmentDoc } from '../../harness/src/host/env.ts';
import { repoRoot } from '../../harness/src/host/paths.ts';

const src = join(repoRoot, 'harness', 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** What a source reads from the environment: `process.env.X` and `process.env['X']` not assigned to, and every DAX_HARNESS_* name it spells. */
export function envReads(text: string): { direct: string[]; named: string[] } {
  const code = text.replace(/^\s*(\/\/|\*).*$/gm, '');
  const direct = [...code.matchAll(/process\.env(?:\.([A-Za-z_]\w*)(?!\w)|\[\s*['"`]?([A-Za-z_]\w*)['"`]?\s*\])(?!\s*=[^=])/g)].map((m) => m[1] ?? m[2]!);
  const named = [...code.matchAll(/\bDAX_HARNESS_[A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0]);
  return { direct, named };
}

t.test('envReads finds reads, not writes or comments', async (t) => {
  t.same(envReads("const a = process.env.FOO;\nconst b = process.env['BAR'];").direct, ['FOO', 'BAR']);
  t.same(envReads("process.env.PATH = '/bin';\nif (process.env.X === 'y') {}").direct, ['X'], 'an assignment is no read; a comparison is');
  t.same(envReads('// process.env.NOPE\nconst n = "DAX_HARNESS_THING";').named, ['DAX_HARNESS_THING']);
  t.same(envReads('// DAX_HARNESS_IN_A_COMMENT').named, []);
});

t.test('docs/environment.md is what npm run docs:env writes', async (t) => {
  const doc = readFileSync(join(repoRoot, 'docs', 'environment.md'), 'utf8');
  t.equal(doc, environmentDoc(), 'stale: run npm run docs:env');
  for (const name of Object.keys(ENV_VARS)) t.match(doc, `| \`${name}\` |`, `${name} is documented`);
});

t.test('harness/src reads the environment only through the registry', async (t) => {
  const known = new Set(Object.keys(ENV_VARS));
  const files = tsFiles(src);
  t.ok(files.length > 50, 'the sources were found');
  for (const f of files) {
    const name = relative(repoRoot, f);
    const { direct, named } = envReads(readFileSync(f, 'utf8'));
    if (!f.endsWith(join('host', 'env.ts'))) t.same(direct, [], `${name}: read through envValue() of host/env.ts`);
    for (const v of [...direct, ...named]) t.ok(known.has(v), `${name}: ${v} is in the registry (harness/src/host/env.ts)`);
  }
});

t.test('envValue: unset and empty both mean the default', async (t) => {
  t.equal(envValue('DAX_HARNESS_CACHE', {}), undefined);
  t.equal(envValue('DAX_HARNESS_CACHE', { DAX_HARNESS_CACHE: '' }), undefined);
  t.equal(envValue('DAX_HARNESS_CACHE', { DAX_HARNESS_CACHE: '/c' }), '/c');
});
