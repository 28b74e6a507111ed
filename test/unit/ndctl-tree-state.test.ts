import t from 'tap';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeState } from '../../harness/src/suites/ndctl/ndctl.ts';

// The ndctl build directory is keyed by this: two runs share a build only
// when the tree is the same, whatever else moves in the repository around it.
t.test('treeState: the subtree content, not the commit', async (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'daxh-tree-'));
  const git = (...a: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { encoding: 'utf8' });
  git('init', '-q');
  mkdirSync(join(repo, 'ndctl'));
  writeFileSync(join(repo, 'ndctl', 'meson.build'), "project('ndctl', 'c')\n");
  writeFileSync(join(repo, 'other.txt'), 'a\n');
  git('add', '-A');
  git('commit', '-qm', 'one');
  const src = join(repo, 'ndctl');
  const first = await treeState(src);
  writeFileSync(join(repo, 'other.txt'), 'b\n');
  t.equal(await treeState(src), first, 'an uncommitted edit outside the tree does not change it');
  git('commit', '-qam', 'two');
  t.equal(await treeState(src), first, 'nor does a commit outside it');
  writeFileSync(join(src, 'meson.build'), "project('ndctl', 'c', version: '2')\n");
  const edited = await treeState(src);
  t.not(edited, first, 'an uncommitted edit inside it does');
  writeFileSync(join(src, 'new.c'), 'int x;\n');
  t.not(await treeState(src), edited, 'so does a new untracked file');
  const plain = mkdtempSync(join(tmpdir(), 'daxh-plain-'));
  writeFileSync(join(plain, 'meson.build'), 'x');
  t.match(await treeState(plain), /^mtime:\d/, 'a tree outside git is keyed by its newest mtime');
});
