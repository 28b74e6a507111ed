import t from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BASE_FRAGMENT,
  describeDropped,
  loadProfile,
  mergeFragments,
  parseConfig,
  renderConfig,
  verifyConfig,
  type Fragment,
} from '../../harness/src/kernel/config.js';
import { ConfigError } from '../../harness/src/kernel/errors.js';

const frag = (name: string, text: string): Fragment => ({ name, text, options: parseConfig(text, name) });

t.test('parseConfig reads values, "is not set" and skips comments', async (t) => {
  const m = parseConfig('# a comment\nCONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_S="hello world"\nCONFIG_N=0x10\n\n');
  t.same([...m], [['CONFIG_A', 'y'], ['CONFIG_B', 'm'], ['CONFIG_C', null], ['CONFIG_S', '"hello world"'], ['CONFIG_N', '0x10']]);
  t.same([...parseConfig('CONFIG_A=y\r\nCONFIG_B=n\r\n')], [['CONFIG_A', 'y'], ['CONFIG_B', 'n']]);
});

t.test('a malformed fragment line is an error naming file and line', async (t) => {
  t.throws(() => parseConfig('CONFIG_A=y\nFS_DAX=y\n', 'dax.config'), ConfigError);
  t.throws(() => parseConfig('CONFIG_A=y\nFS_DAX=y\n', 'dax.config'), { message: /dax\.config:2: "FS_DAX=y"/ });
  // A real .config may hold other lines; only fragments are strict.
  t.same([...parseConfig('junk\nCONFIG_A=y\n', '.config', false)], [['CONFIG_A', 'y']]);
});

t.test('merge like merge_config.sh: later wins, redefinitions move to the end', async (t) => {
  const base = parseConfig('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\n', '.config', false);
  const { merged, requested, overrides } = mergeFragments(base, [frag('one', 'CONFIG_B=m\nCONFIG_D=y\n'), frag('two', 'CONFIG_B=y\n# CONFIG_C is not set\n')]);
  t.equal(renderConfig(merged), 'CONFIG_A=y\nCONFIG_D=y\nCONFIG_B=y\n# CONFIG_C is not set\n');
  t.same(requested.get('CONFIG_B'), { value: 'y', from: 'two' });
  t.same(overrides, ['CONFIG_B: m (one) overridden by y (two)']);
  // Overriding the base .config is what fragments are for: not reported.
  t.notOk(overrides.some((o) => o.startsWith('CONFIG_C')));
});

t.test('verification names every option Kconfig dropped', async (t) => {
  const { requested } = mergeFragments(new Map(), [
    frag('dax', 'CONFIG_FS_DAX=y\nCONFIG_DEV_DAX=m\nCONFIG_TYPO=y\n# CONFIG_SLOB is not set\n# CONFIG_KASAN is not set\nCONFIG_STR="x"\n'),
  ]);
  const final = parseConfig('CONFIG_FS_DAX=y\nCONFIG_DEV_DAX=y\nCONFIG_KASAN=y\nCONFIG_STR="x"\n', '.config', false);
  const dropped = verifyConfig(requested, final);
  t.same(dropped.map((d) => d.name), ['CONFIG_DEV_DAX', 'CONFIG_TYPO', 'CONFIG_KASAN']);
  t.equal(describeDropped(dropped[0]!), 'CONFIG_DEV_DAX=m (dax): got y');
  t.equal(describeDropped({ ...dropped[1]!, known: false }), 'CONFIG_TYPO=y (dax): no such Kconfig symbol in this tree');
  t.equal(describeDropped(dropped[2]!), 'CONFIG_KASAN=n (dax): got y');
});

t.test('shipped profiles: base first, fragments parse strictly', async (t) => {
  const p = await loadProfile(['dax', 'debug-vm', 'lockdep', 'kasan']);
  t.same(p.fragments.map((f) => f.name), [BASE_FRAGMENT, 'dax', 'debug-vm', 'lockdep', 'kasan']);
  t.equal(p.base, 'tinyconfig');
  const again = await loadProfile(['dax', 'debug-vm', 'lockdep', 'kasan']);
  t.equal(again.hash, p.hash);
  t.not((await loadProfile(['dax'])).hash, p.hash);
  t.not((await loadProfile(['dax'], 'defconfig')).hash, (await loadProfile(['dax'])).hash);
});

t.test('dax.config keeps what nfit_test needs', async (t) => {
  const dax = (await loadProfile(['dax'])).fragments.find((f) => f.name === 'dax')!.options;
  for (const m of ['LIBNVDIMM', 'BLK_DEV_PMEM', 'ND_BTT', 'ND_PFN', 'ACPI_NFIT', 'DEV_DAX', 'DEV_DAX_PMEM']) {
    t.equal(dax.get(`CONFIG_${m}`), 'm', `${m} must be a module for nfit_test`);
  }
  for (const y of ['X86_MCE', 'DEBUG_FS', 'ZONE_DEVICE', 'FS_DAX', 'TRANSPARENT_HUGEPAGE', 'MEMORY_FAILURE']) {
    t.equal(dax.get(`CONFIG_${y}`), 'y', y);
  }
  t.equal(dax.get('CONFIG_HWPOISON_INJECT'), 'm');
});

t.test('an unknown fragment name lists the shipped ones', async (t) => {
  await t.rejects(loadProfile(['dxa']), { message: /no config fragment "dxa"/ });
  await t.rejects(loadProfile(['dxa']), ConfigError);
  try {
    await loadProfile(['dxa']);
  } catch (e) {
    t.match((e as ConfigError).hint, /dax.*debug-vm|debug-vm.*dax/);
  }
});

t.test('a fragment given as a path is read from there', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dax-frag-'));
  const f = join(dir, 'mine.config');
  await writeFile(f, 'CONFIG_DEBUG_VM=y\n');
  const p = await loadProfile(['dax', f]);
  t.equal(p.fragments.at(-1)!.options.get('CONFIG_DEBUG_VM'), 'y');
});
