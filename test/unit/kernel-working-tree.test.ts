// A user's tree as it is, on a small real git repository: the snapshot takes
// tracked edits and staged new files, leaves never-added files out, and leaves
// the user's working tree, index, refs and .git exactly as they were.
import t from 'tap';
import { createHash } from 'node:crypto';
import { chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const cache = await mkdtemp(join(tmpdir(), 'daxh-wt-cache-'));
process.env.DAX_HARNESS_CACHE = cache;
t.teardown(() => rm(cache, { recursive: true, force: true }));

const { dirtyLabel, snapshotWorkingTree } = await import('../../harness/src/kernel/working-tree.ts');
const { ensureWorktree, resolveSource, safeDirectoryArgs, treeTop } = await import('../../harness/src/kernel/source.ts');
const { planKernel } = await import('../../harness/src/kernel/index.ts');

const ident = ['-c', 'user.name=u', '-c', 'user.email=u@example.invalid'];
const g = (dir: string, args: string[]) => execFileSync('git', ['-C', dir, ...ident, ...args], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }).trim();

/** The smallest tree the pipeline takes for Linux, with a tag and one commit past it. */
async function kernelish(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'daxh-wt-tree-'));
  const files: Record<string, string> = {
    Makefile: 'VERSION = 6\n',
    Kbuild: '# kbuild\n',
    'arch/x86/Kconfig': 'config X86\n',
    'scripts/kconfig/merge_config.sh': '#!/bin/sh\n',
    'fs/dax.c': 'int dax(void) { return 0; }\n',
    'fs/ext4/inode.c': 'int ext4(void) { return 0; }\n',
  };
  for (const [f, text] of Object.entries(files)) {
    await mkdir(join(dir, f, '..'), { recursive: true });
    await writeFile(join(dir, f), text);
  }
  g(dir, ['init', '-q', '-b', 'main']);
  g(dir, ['add', '-A']);
  g(dir, ['commit', '-q', '-m', 'base']);
  g(dir, ['tag', 'v6.1-rc1']);
  await writeFile(join(dir, 'fs/ext4/inode.c'), 'int ext4(void) { return 1; }\n');
  g(dir, ['commit', '-q', '-am', 'ext4: one']);
  return dir;
}

/** Every path under .git with its bytes and mode: any write into it shows. */
async function fingerprint(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string) => {
    for (const e of (await readdir(d)).sort()) {
      const p = join(d, e);
      const st = await lstat(p);
      h.update(`${p} ${st.mode} ${st.uid}\n`);
      if (st.isDirectory()) await walk(p);
      else h.update(await readFile(p));
    }
  };
  await walk(join(dir, '.git'));
  return h.digest('hex');
}

async function edit(dir: string): Promise<void> {
  await writeFile(join(dir, 'fs/dax.c'), 'int dax(void) { return 42; }\n');
  await writeFile(join(dir, 'fs/dax-new.c'), 'int added;\n');
  g(dir, ['add', 'fs/dax-new.c']);
  await writeFile(join(dir, 'notes.txt'), 'never added\n');
}

t.test('dirty label reads like git describe --dirty', async (t) => {
  t.equal(dirtyLabel('v6.1-rc1-12-gabc123def456', 2), 'v6.1-rc1-12-gabc123def456-dirty (2 files changed)');
  t.equal(dirtyLabel('abc123def456', 1), 'abc123def456-dirty (1 file changed)');
});

t.test('safe.directory is named for the foreign tree only', async (t) => {
  t.same(safeDirectoryArgs('/src/linux/fs', ['/src/linux']), ['-c', 'safe.directory=/src/linux']);
  t.same(safeDirectoryArgs('/src/linux', ['/src/linux']), ['-c', 'safe.directory=/src/linux']);
  t.same(safeDirectoryArgs('/src/linux-next', ['/src/linux']), [], 'a sibling with the same prefix is not trusted');
  t.same(safeDirectoryArgs('/root/.cache/x', ['/src/linux']), []);
  const dir = await kernelish();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal(treeTop(join(dir, 'fs', 'ext4')), dir, 'found from a subdirectory, without git');
});

t.test('the working state: edits and staged files in, untracked out, the user untouched', async (t) => {
  const dir = await kernelish();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const src = await resolveSource({ kind: 'git', path: dir }, undefined);
  t.equal(await snapshotWorkingTree(src), null, 'a clean tree builds HEAD exactly');

  await edit(dir);
  const before = { fp: await fingerprint(dir), status: g(dir, ['status', '--porcelain']), refs: g(dir, ['show-ref']), head: g(dir, ['rev-parse', 'HEAD']) };
  const s = await snapshotWorkingTree(src);
  t.ok(s, 'dirty');
  if (!s) return;
  t.equal(s.base, before.head);
  t.equal(s.files, 2);
  t.match(s.describe, /^v6\.1-rc1-1-g[0-9a-f]{12}$/);
  t.match(s.diffHash, /^[0-9a-f]{64}$/);
  const mirror = src.workRepo;
  t.equal(g(mirror, ['show', `${s.commit}:fs/dax.c`]), 'int dax(void) { return 42; }', 'the uncommitted edit');
  t.equal(g(mirror, ['show', `${s.commit}:fs/dax-new.c`]), 'int added;', 'the staged new file');
  t.throws(() => execFileSync('git', ['-C', mirror, 'cat-file', '-e', `${s.commit}:notes.txt`], { stdio: 'ignore' }), 'the never-added file is left out');
  t.equal(g(mirror, ['rev-parse', `${s.commit}^`]), before.head, 'on HEAD');

  const after = { fp: await fingerprint(dir), status: g(dir, ['status', '--porcelain']), refs: g(dir, ['show-ref']), head: g(dir, ['rev-parse', 'HEAD']) };
  t.same(after, before, "the user's worktree, index, refs and .git are as they were");
  t.throws(() => execFileSync('git', ['-C', dir, 'cat-file', '-e', s.commit], { stdio: 'ignore' }), "the snapshot is not in the user's object store");

  const again = await snapshotWorkingTree(src);
  t.equal(again?.commit, s.commit, 'the same edits give the same commit (a cache hit)');
  await writeFile(join(dir, 'fs/dax.c'), 'int dax(void) { return 43; }\n');
  const other = await snapshotWorkingTree(src);
  t.not(other?.diffHash, s.diffHash, 'another edit, another diff hash');
  t.not(other?.commit, s.commit);

  // The cache's worktree checks the snapshot out from the harness's repository.
  const wt = await ensureWorktree(src, other!.commit);
  t.equal(await readFile(join(wt, 'fs/dax.c'), 'utf8'), 'int dax(void) { return 43; }\n');
  t.equal(await readFile(join(wt, 'fs/dax-new.c'), 'utf8'), 'int added;\n');
  await t.rejects(readFile(join(wt, 'notes.txt')), 'no never-added file in the build tree');
  await t.rejects(lstat(join(dir, '.git', 'worktrees')), "no worktree bookkeeping in the user's .git");
});

t.test('the plan builds the working state only when asked and without --ref', async (t) => {
  const dir = await kernelish();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await edit(dir);
  const head = g(dir, ['rev-parse', 'HEAD']);
  const exact = await planKernel({ source: dir });
  t.equal(exact.baseCommit, head, 'a library caller (bisect, nightly) gets the commit exactly');
  t.equal(exact.working, null);
  const asIs = await planKernel({ source: dir, workingTree: true });
  t.ok(asIs.working);
  t.equal(asIs.working?.base, head);
  t.equal(asIs.baseCommit, asIs.working?.commit);
  t.not(asIs.key, exact.key, 'its own cache key');
  t.equal((await planKernel({ source: dir, workingTree: true })).key, asIs.key, 'a stable one');
  const pinned = await planKernel({ source: dir, workingTree: true, ref: 'HEAD' });
  t.equal(pinned.working, null, '--ref keeps the exact commit');
  t.equal(pinned.key, exact.key);
});

t.test("another user's tree: trusted for its path only, nothing of root's left in it", { skip: process.geteuid?.() !== 0 ? 'needs root (the harness as root, the tree a developer\'s)' : false }, async (t) => {
  const dir = await kernelish();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await edit(dir);
  // A clean filter of the tree's own config tells whose rights it ran with.
  const spy = await mkdtemp(join(tmpdir(), 'daxh-wt-spy-'));
  t.teardown(() => rm(spy, { recursive: true, force: true }));
  g(dir, ['config', 'filter.who.clean', `sh -c 'id -u > ${spy}/uid; cat'`]);
  await writeFile(join(dir, '.git', 'info', 'attributes'), 'fs/dax.c filter=who\n');
  execFileSync('chown', ['-R', '65534:65534', dir, spy]);
  // git itself refuses it: the ownership check the harness answers for this path.
  t.throws(() => execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { stdio: 'pipe' }), /dubious ownership|not a git repository/);
  const src = await resolveSource({ kind: 'git', path: join(dir, 'fs') }, undefined);
  t.equal(src.repoDir, dir);
  const s = await snapshotWorkingTree(src);
  t.equal(s?.files, 2);
  t.equal((await readFile(join(spy, 'uid'), 'utf8')).trim(), '65534', "the tree's config ran as its owner, not as root");
  const plan = await planKernel({ source: dir, workingTree: true });
  t.equal(plan.working?.commit, s?.commit);
  await ensureWorktree(src, s!.commit);
  const rootOwned = execFileSync('find', [dir, '-uid', '0'], { encoding: 'utf8' }).trim();
  t.equal(rootOwned, '', 'no root-owned file in the tree or its .git');
  t.throws(() => execFileSync('git', ['config', '--global', '--get-all', 'safe.directory'], { stdio: 'pipe', env: { ...process.env, HOME: process.env.HOME ?? '/root' } }), 'no global safe.directory written');
  await chown(dir, 0, 0);
});

t.test('who asks for the working state: the CLI without --ref, never a nightly', async (t) => {
  const { kernelChoice: cliChoice } = await import('../../harness/src/cli/run-options.ts');
  const { kernelChoice: nightChoice } = await import('../../harness/src/workflows/nightly/run-cell.ts');
  const opts = (c: ReturnType<typeof cliChoice>) => (c.kind === 'build' ? c.opts : null);
  t.equal(opts(cliChoice({ source: '/src/linux' }))?.workingTree, true, '--source PATH');
  t.equal(opts(cliChoice({ source: '/src/linux', ref: 'v6.1' }))?.workingTree, false, '--ref REF is exact');
  t.equal(opts(cliChoice({ source: 'debian:6.1' }))?.workingTree, false, 'a Debian package has no working tree');
  const night = nightChoice({ kind: 'git', tree: '/src/linux' });
  t.equal(night.kind === 'build' ? night.opts.workingTree : 'not a build', undefined, 'a nightly builds the commit');
});

t.test("another user's tree its owner cannot reach: one line naming it, before any build", { skip: process.geteuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  const { SourceError } = await import('../../harness/src/kernel/errors.ts');
  const closed = await mkdtemp(join(tmpdir(), 'daxh-wt-closed-'));
  t.teardown(() => rm(closed, { recursive: true, force: true }));
  const dir = await kernelish();
  const inside = join(closed, 'linux');
  execFileSync('mv', [dir, inside]);
  await edit(inside);
  execFileSync('chown', ['-R', '65534:65534', inside]);
  const src = await resolveSource({ kind: 'git', path: inside }, undefined);
  const err = await snapshotWorkingTree(src).then(() => null, (e: unknown) => e);
  t.ok(err instanceof SourceError, 'an input error (exit 2)');
  t.match((err as Error).message, /belongs to uid 65534, who cannot read it where it is/);
});
