// The fast half of test-long/working-tree.test.ts: on a real Linux tree (a
// `git clone --shared` of the Debian 6.1 source the kernel-build test
// imports), an uncommitted edit is planned as a dirty build of its own key in
// about a second, and the tree is left exactly as it was. No build, no boot.
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../harness/src/host/proc.ts';
import { planKernel } from '../../harness/src/kernel/index.ts';
import { cloneShared } from '../clone-cache-repo.ts';

t.test('a real tree with an edit: a dirty plan, the tree untouched', async (t) => {
  const debian = await planKernel({ source: 'debian:6.1' });
  const tree = await mkdtemp(join(tmpdir(), 'daxh-dirty-linux-'));
  t.teardown(() => rm(tree, { recursive: true, force: true }));
  await cloneShared(debian.source.repoDir, tree);
  const git = async (args: string[]) => (await run('git', ['-C', tree, ...args], { timeoutMs: 120_000 })).stdout;
  const dax = join(tree, 'fs', 'dax.c');
  await writeFile(dax, (await readFile(dax, 'utf8')) + '/* an edit not committed */\n');
  await writeFile(join(tree, 'scratch.txt'), 'never added\n');
  const before = { status: await git(['status', '--porcelain']), head: await git(['rev-parse', 'HEAD']), refs: await git(['show-ref']) };

  const exact = await planKernel({ source: tree, config: ['dax'] });
  const t0 = Date.now();
  const plan = await planKernel({ source: tree, config: ['dax'], workingTree: true });
  const ms = Date.now() - t0;
  t.comment(`planning a dirty build of ${tree}: ${ms} ms`);
  t.ok(ms < 30_000, `the snapshot of ~75k files is quick (${ms} ms)`);
  t.equal(plan.working?.base, debian.baseCommit, 'on the clone HEAD');
  t.equal(plan.working?.files, 1, 'fs/dax.c only: the never-added file is left out');
  t.match(plan.working?.describe ?? '', /^debian\//, 'described from the import tag');
  t.not(plan.key, exact.key, 'a key of its own');
  t.equal(exact.baseCommit, debian.baseCommit);
  const after = { status: await git(['status', '--porcelain']), head: await git(['rev-parse', 'HEAD']), refs: await git(['show-ref']) };
  t.same(after, before, "the user's tree, index and refs are as they were");
  await rm(exact.source.workRepo, { recursive: true, force: true });
});
