// Errors below the CLI name settings, not flags (issue 18): the message calls
// each by its bare key, the CLI spells it as its flag, a nightly cell as its
// config key.
import t from 'tap';
import { InfraError, InputError, setting, textOf, withSettings } from '../../harness/src/host/errors.ts';
import { errorText, messageOf } from '../../harness/src/cli/exit.ts';
import { FetchError, SourceError } from '../../harness/src/kernel/errors.ts';
import { resolveSource } from '../../harness/src/kernel/source.ts';
import { configKeyOf } from '../../harness/src/workflows/nightly/run-cell.ts';

const thrownAsync = async (f: () => Promise<unknown>): Promise<unknown> => {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
};

t.test('any input error may name settings; a plain one reads as it did', async (t) => {
  const e = new InputError(withSettings`${setting('ref')} v6.1 is not a commit`);
  t.equal(e.message, 'ref v6.1 is not a commit', 'below the CLI: the bare key');
  t.equal(messageOf(e), '--ref v6.1 is not a commit', 'the CLI: its flag');
  t.equal(errorText(e), '--ref v6.1 is not a commit');
  t.equal(messageOf(new InputError('plain --words stay')), 'plain --words stay');
  t.equal(messageOf(new InfraError(withSettings`pick another with ${setting('kernelPackage')}`)), 'pick another with --kernel-package', 'an infrastructure error too');
  t.equal(messageOf(new InputError(withSettings`${setting('noSuchKey')} x`)), 'noSuchKey x', 'a setting without a flag stays its key');
});

t.test('a kernel error keeps what and hint by key, and the CLI spells both', async (t) => {
  const e = await thrownAsync(() => resolveSource({ kind: 'debian', version: '6.1' } as never, 'v6.1'));
  t.ok(e instanceof SourceError);
  const s = e as SourceError;
  t.equal(s.what, 'ref does not apply to a Debian package source');
  t.equal(s.hint, 'drop ref, or pass a git tree with source PATH');
  t.equal(messageOf(s), '--ref does not apply to a Debian package source — drop --ref, or pass a git tree with --source PATH');
  t.equal(s.spelled(configKeyOf), 'ref does not apply to a Debian package source — drop ref, or pass a git tree with git PATH', 'a nightly cell: its config keys');
  const f = new FetchError('x holds no lib/modules/<release>', withSettings`pick another package with ${setting('kernelPackage')}`);
  t.equal(messageOf(f), 'x holds no lib/modules/<release> — pick another package with --kernel-package');
});

t.test('an error wrapped in another keeps its settings', async (t) => {
  const inner = new InputError(withSettings`${setting('source')} /x does not exist`);
  const outer = new InfraError(withSettings`bisect step failed: ${textOf(inner)}`);
  t.equal(messageOf(outer), 'bisect step failed: --source /x does not exist');
  t.same(textOf(new Error('plain')), ['plain']);
});

t.test('a nightly cell spells settings by its config keys', async (t) => {
  t.equal(configKeyOf('source'), 'git');
  t.equal(configKeyOf('kernelPackage'), 'package');
  t.equal(configKeyOf('test'), 'tests');
  t.equal(configKeyOf('fs'), 'modes');
  t.equal(configKeyOf('ref'), 'ref');
  t.equal(configKeyOf('nvdimmSize'), 'nvdimmSize');
});

t.test("a suite's input error: --test/--fs on the command line, tests/modes in a nightly cell", async (t) => {
  const { suiteByName } = await import('../../harness/src/suites/index.ts');
  const e = await suiteByName('smoke').check({ tests: ['pmd_pte_mix'] }).then(() => null, (x: unknown) => x);
  t.ok(e instanceof InputError);
  t.match(messageOf(e), /^--test pmd_pte_mix is not a test of the smoke: .* \(or --fs\), or the --suite whose test it is$/);
  t.match((e as InputError).spelled(configKeyOf), /^tests pmd_pte_mix is not a test of the smoke: .* \(or modes\), or the suite whose test it is$/);
});

t.test('workflow input errors name their settings; the CLI says --shard, --resume', async (t) => {
  const { parseShard } = await import('../../harness/src/workflows/nightly/config.ts');
  const { readSaved } = await import('../../harness/src/workflows/bisect/workflow.ts');
  const shard = (() => {
    try {
      parseShard('x');
    } catch (e) {
      return e;
    }
    return null;
  })();
  t.equal((shard as Error).message, 'shard "x" is not i/N: write e.g. shard 1/4');
  t.equal(messageOf(shard), '--shard "x" is not i/N: write e.g. --shard 1/4');
  const dir = await import('node:fs/promises').then((fs) => fs.mkdtemp(`${(process.env.TMPDIR ?? '/tmp').replace(/\/$/, '')}/settings-`));
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true })));
  const resume = await thrownAsync(() => readSaved(dir));
  t.equal(messageOf(resume), `--resume ${dir} holds no state.json: give the directory a bisection wrote (results/bisect-<id>)`);
  t.match((resume as Error).message, /^resume /);
});

t.test('a kernel config hint names allowDropped; the CLI says --allow-dropped', async (t) => {
  const { ConfigError } = await import('../../harness/src/kernel/errors.ts');
  const { ALLOW_DROPPED } = await import('../../harness/src/kernel/settings.ts');
  const e = new ConfigError('config options dropped by Kconfig: X', withSettings`fix the fragment, or pass ${ALLOW_DROPPED}`);
  t.equal(messageOf(e), 'config options dropped by Kconfig: X — fix the fragment, or pass --allow-dropped');
  t.equal(e.hint, 'fix the fragment, or pass allowDropped');
});
