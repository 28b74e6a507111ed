// The suite registry: --test words → one suite's test ids (the ids run
// prints, and the spellings accepted before), the suite checks of run and
// shell, and a toy suite (test/toy-suite/) that becomes selectable by run's
// options, bisect's and repro's --test and a nightly config from one registry
// line. No guest.
import t from 'tap';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSuiteOptions, registerSuite, reproCatalogue, selectTests, suiteByName, suiteNames } from '../../harness/src/suites/index.ts';
import { resolveTestNames } from '../../harness/src/workflows/repro/candidates.ts';
import { parseTests } from '../../harness/src/workflows/bisect/input.ts';
import { cellPlanFor } from '../../harness/src/workflows/bisect/environment.ts';
import { expandMatrix, parseNightConfig } from '../../harness/src/workflows/nightly/config.ts';
import type { KernelArtifact } from '../../harness/src/results/records.ts';
import { isInputError } from '../../harness/src/host/errors.ts';
import { toy } from '../toy-suite/index.ts';
import { cliSays } from '../cli-says.ts';
import { messageOf } from '../../harness/src/cli/exit.ts';


const ids = async (words: string[]) => {
  const s = await selectTests(words);
  return [s.suite.name, s.ids];
};

t.test('the ids run prints select their suite; the old spellings still do', async (t) => {
  t.same(await ids(['dax-smoke.xfs']), ['smoke', ['dax-smoke.xfs']], 'the name run prints');
  t.same(await ids(['smoke:xfs']), ['smoke', ['dax-smoke.xfs']], 'SUITE:FS, as bisect took it');
  t.same(await ids(['smoke']), ['smoke', ['dax-smoke.ext4', 'dax-smoke.xfs']], 'the bare suite: both filesystems');
  t.same(await ids(['pmd_pte_mix.ext4', 'stressors:vma_ops']), ['stressors', ['pmd_pte_mix.ext4', 'vma_ops']]);
  t.same(await ids(['dax-ext4.sh']), ['ndctl', ['dax-ext4.sh']], "ndctl's meson name, as run prints it");
  t.same(await ids(['ndctl:anything-in-the-tree']), ['ndctl', ['anything-in-the-tree']], "the tree decides ndctl's names later");
});

t.test('bad --test words: input errors that list every suite', async (t) => {
  const err = await selectTests(['nosuch']).catch((e: Error) => e);
  t.ok(isInputError(err));
  for (const n of suiteNames()) t.match((err as Error).message, new RegExp(`${n}: `), `lists ${n}'s tests`);
  t.match((err as Error).message, /dax-smoke\.xfs/);
  await t.rejects(selectTests(['ltp:mmap1']), /the suite before ':' must be smoke, stressors or ndctl/);
  await t.rejects(selectTests(['smoke:btrfs']), /the smoke runs on ext4 or xfs/);
  await t.rejects(selectTests(['dax-smoke.xfs', 'pmd_pte_mix']), /tests of smoke and stressors: one guest runs tests of one suite/);
  await t.rejects(selectTests([]), /--test is required/);
});

t.test("bisect takes the name run prints, and its plan runs the smoke's filesystem", async (t) => {
  const tests = await parseTests(['dax-smoke.xfs'], undefined);
  t.same(tests, { suite: 'smoke', tests: ['dax-smoke.xfs'], given: ['dax-smoke.xfs'] });
  const artifact = { key: 'k' } as KernelArtifact;
  const plan = { tests, ndctl: null, seconds: 0 } as unknown as Parameters<typeof cellPlanFor>[0];
  t.same(cellPlanFor(plan, artifact, 1).filesystems, ['xfs']);
  // A state.json from before held the smoke's bare filesystems.
  t.same(cellPlanFor({ ...plan, tests: { suite: 'smoke', tests: ['ext4'], given: ['smoke:ext4'] } } as typeof plan, artifact, 1).filesystems, ['ext4']);
});

t.test('run and shell check --suite, the tree option and --fs against the registry', async (t) => {
  await t.resolves(suiteByName('smoke').check({ tests: ['dax-smoke.xfs'] }), 'run --test dax-smoke.xfs');
  const notSmoke = await suiteByName('smoke').check({ tests: ['pmd_pte_mix'] }).then(() => null, (e: unknown) => e);
  t.match(messageOf(notSmoke), /^--test pmd_pte_mix is not a test of the smoke: .*\(or --fs\), or the --suite whose test it is/, 'the CLI: its flags');
  t.match((notSmoke as Error).message, /^test pmd_pte_mix is not a test of the smoke: .*\(or fs\), or the suite whose test it is/, 'below it: the settings');
  t.equal(checkSuiteOptions({ suite: 'ndctl', tree: '/x', fs: ['xfs'] }), 'ndctl');
  t.match(cliSays(() => checkSuiteOptions({ suite: 'ltp' })), /^--suite "ltp" is not smoke, stressors or ndctl/);
  t.match(cliSays(() => checkSuiteOptions({ suite: 'smoke', tree: '/x' })), /^--ndctl goes with --suite ndctl/);
  t.match(cliSays(() => checkSuiteOptions({ suite: 'smoke', fs: ['btrfs'] })), /^--fs "btrfs" is not ext4 or xfs/);
});

t.test('a toy suite is one folder and one registry line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'toy-suite-'));
  await mkdir(join(dir, 'x'));
  const night = { kernels: [{ name: 'stock', stock: true }], suites: [{ name: 'toy', modes: ['right'], tests: ['echo'] }] };
  const parse = () => parseNightConfig(night, join(dir, 'n.yaml'), 'h', 'n.yaml');
  // Before it is registered, every door refuses it.
  t.match(cliSays(() => checkSuiteOptions({ suite: 'toy' })), /^--suite "toy" is not/);
  await t.rejects(parseTests(['toy:echo.left'], undefined), /the suite before ':' must be/);
  await t.rejects(parse(), /suites\[0\]\.suite: "toy" is not/);

  const unregister = registerSuite(toy); // the one line
  t.teardown(unregister);
  t.equal(checkSuiteOptions({ suite: 'toy' }), 'toy', 'run --suite toy');
  t.equal(suiteByName('toy'), toy);
  t.same(await parseTests(['echo.left', 'toy:sleep.right'], undefined), { suite: 'toy', tests: ['echo.left', 'sleep.right'], given: ['echo.left', 'toy:sleep.right'] }, 'bisect --test');
  t.same((await parseTests(['toy'], undefined)).tests, ['echo.left', 'echo.right', 'sleep.left', 'sleep.right'], 'the bare suite name: its tests');
  const other = await parseTests(['echo.left'], '/some/tree').then(() => null, (e: unknown) => e);
  t.match(messageOf(other), /^--ndctl goes with --test ndctl:NAME/, "another suite's option is refused");
  const err = await selectTests(['nosuch']).catch((e: Error) => e.message);
  t.match(err, /toy: echo\.left, echo\.right/, 'unknown words list the toy suite too');
  const cells = await expandMatrix(await parse());
  t.same(cells.map((c) => [c.key, c.suite, c.tests, c.image]), [['stock.toy.right.default', 'toy', ['echo.right'], 'initramfs']], 'nightly config');
  const catalogue = await reproCatalogue();
  t.same(await resolveTestNames(['toy:echo.left', 'sleep.right'], catalogue), ['echo.left', 'sleep.right'], 'repro --test');
  const bad = { ...night, suites: [{ name: 'toy', modes: ['up'] }] };
  await t.rejects(parseNightConfig(bad, join(dir, 'n.yaml'), 'h', 'n.yaml'), /suites\[0\]\.modes\[0\]: "up" is not a toy mode/);

  unregister();
  t.throws(() => checkSuiteOptions({ suite: 'toy' }), /is not smoke, stressors or ndctl/, 'gone again once unregistered');
});
