// The tree's own .config: used for a tree built as it is (--source PATH),
// never for a commit built exactly, and part of the build key and O= name.
import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const cache = await mkdtemp(join(tmpdir(), 'daxh-tc-cache-'));
process.env.DAX_HARNESS_CACHE = cache;
t.teardown(() => rm(cache, { recursive: true, force: true }));

const { describeProfile, loadProfile, treeProfile, useTreeConfig } = await import('../../harness/src/kernel/config.ts');
const { planKernel } = await import('../../harness/src/kernel/index.ts');

t.test('when the tree config is the base', async (t) => {
  const yes = { workingTree: true, treeHasConfig: true };
  t.equal(useTreeConfig(yes), true);
  t.equal(useTreeConfig({ ...yes, treeHasConfig: false }), false, 'no .config: fragments as before');
  t.equal(useTreeConfig({ ...yes, workingTree: false }), false, 'a commit built exactly (bisect, nightly)');
  t.equal(useTreeConfig({ ...yes, ref: 'v6.1' }), false, '--ref');
  t.equal(useTreeConfig({ ...yes, configBase: 'defconfig' }), false, '--config-base chosen');
});

t.test('the profile hash covers the .config text', async (t) => {
  const p = await loadProfile(['dax']);
  const a = treeProfile(p, '/src/.config', 'CONFIG_A=y\n');
  t.not(a.hash, p.hash);
  t.equal(treeProfile(p, '/elsewhere/.config', 'CONFIG_A=y\n').hash, a.hash, 'the same text: the same build wherever the tree is');
  t.not(treeProfile(p, '/src/.config', 'CONFIG_A=m\n').hash, a.hash, 'an edited .config: another build');
  t.not(treeProfile(await loadProfile(['dax', 'lockdep']), '/src/.config', 'CONFIG_A=y\n').hash, a.hash, 'fragments still count');
  t.equal(describeProfile(a), "/src/.config (the tree's own) + qemu-q35 + dax");
  t.equal(describeProfile(p), 'tinyconfig + qemu-q35 + dax');
});

t.test('planKernel: the key and O= follow the tree .config only for the tree as it is', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daxh-tc-tree-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const g = (args: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=u', '-c', 'user.email=u@example.invalid', ...args], { encoding: 'utf8' });
  await writeFile(join(dir, 'Makefile'), 'VERSION = 6\n');
  await writeFile(join(dir, 'Kbuild'), '# kbuild\n');
  // What the pipeline checks a Linux tree by.
  for (const f of ['arch/x86/Kconfig', 'scripts/kconfig/merge_config.sh', 'fs/dax.c']) {
    await mkdir(join(dir, f, '..'), { recursive: true });
    await writeFile(join(dir, f), '#\n');
  }
  await writeFile(join(dir, '.gitignore'), '.config\n');
  g(['init', '-q', '-b', 'main']);
  g(['add', '-A']);
  g(['commit', '-q', '-m', 'base']);

  const none = await planKernel({ source: dir, workingTree: true });
  t.equal(none.profile.tree, undefined, 'no .config yet');
  await writeFile(join(dir, '.config'), 'CONFIG_MINE=y\n');
  const own = await planKernel({ source: dir, workingTree: true });
  t.equal(own.profile.tree?.path, join(dir, '.config'));
  t.not(own.key, none.key, 'its own build key');
  t.not(own.buildDir, none.buildDir, 'its own O= directory');
  await writeFile(join(dir, '.config'), 'CONFIG_MINE=m\n');
  const edited = await planKernel({ source: dir, workingTree: true });
  t.not(edited.key, own.key, 'an edited .config is another build');
  t.not(edited.buildDir, own.buildDir);

  const exact = await planKernel({ source: dir });
  t.equal(exact.profile.tree, undefined, 'a commit built exactly ignores it');
  t.equal(exact.key, none.key);
  t.match(exact.notes.join('\n'), /\.config is not used/, 'and says so');
  const pinned = await planKernel({ source: dir, workingTree: true, ref: 'HEAD' });
  t.equal(pinned.profile.tree, undefined);
  t.match(pinned.notes.join('\n'), /--ref builds a commit exactly/);
  const based = await planKernel({ source: dir, workingTree: true, configBase: 'defconfig' });
  t.equal(based.profile.tree, undefined);
  t.match(based.notes.join('\n'), /--config-base defconfig/);
});
