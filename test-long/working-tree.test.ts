// Long proof (npm run test:long): a developer's Linux tree with an edit not
// committed, given to `run` as --source PATH, boots a kernel that has the
// edit, and run.json names the dirty state; then the same tree owned by
// another user (the harness as root) with another edit. The tree is a
// `git clone --shared` of the Debian 6.1 source the kernel-build test
// imports, kept at a fixed path so its O= directory stays warm: the first
// run of this file is a cold build (~7 min here), later ones incremental.
import t from 'tap';
import { lstat, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../harness/src/host/proc.ts';
import { planKernel } from '../harness/src/kernel/index.ts';
import { kernelChoice } from '../harness/src/cli/run-options.ts';
import { runWorkflow } from '../harness/src/workflows/run.ts';
import { defaultTopology } from '../harness/src/vm/topology.ts';
import type { RunRecord } from '../harness/src/results/records.ts';
import { cloneShared } from '../test/clone-cache-repo.ts';

// Not under the cache: as root that is in root's 0700 home, where the other
// user of the second test could not reach the tree they own. A fixed path
// (in a root-owned directory) keeps the O= directory warm between runs.
const parent = '/var/tmp/dax-harness-test-trees';
const tree = join(parent, 'linux-working-tree');
const git = async (args: string[]) => (await run('git', ['-C', tree, '-c', 'safe.directory=' + tree, ...args], { timeoutMs: 600_000 })).stdout.trim();

/** A pristine clone at the Debian import commit: whatever a previous run left is reset. */
async function freshTree(): Promise<string> {
  const debian = await planKernel({ source: 'debian:6.1' });
  await mkdir(parent, { recursive: true, mode: 0o755 });
  const st = await lstat(parent);
  if (!st.isDirectory() || st.uid !== process.getuid!()) throw new Error(`${parent} is not a directory of ours: remove it and rerun`);
  if (!existsSync(join(tree, '.git'))) {
    await cloneShared(debian.source.repoDir, tree, 1800_000);
  }
  await run('chown', ['-R', `${process.getuid!()}:${process.getgid!()}`, tree], { timeoutMs: 600_000 });
  await git(['reset', '-q', '--hard', debian.baseCommit]);
  await git(['clean', '-q', '-fdx']);
  return debian.baseCommit;
}

/** An uncommitted edit of a built-in file the guest shows in sysfs. */
async function editDax(value: number): Promise<void> {
  const f = join(tree, 'fs', 'dax.c');
  const text = await readFile(f, 'utf8');
  const anchor = 'static int __init init_dax_wait_table(void)';
  t.ok(text.includes(anchor), 'fs/dax.c has the wait-table init to edit next to');
  await writeFile(f, text.replace(anchor, `/* /sys/module/kernel/parameters/dax_harness_dirty */\nstatic int dax_harness_dirty = ${value};\ncore_param(dax_harness_dirty, dax_harness_dirty, int, 0444);\n\n${anchor}`));
}

async function bootAndRead(say: (m: string) => void, label: string): Promise<{ value: string; record: RunRecord; lines: string[]; workingTree: boolean }> {
  const lines: string[] = [];
  let value = '';
  // The kernel options exactly as `run --source PATH --config dax` makes them.
  const kernel = kernelChoice({ source: tree, config: 'dax' });
  const { runDir } = await runWorkflow({
    kernel,
    image: 'initramfs',
    topology: defaultTopology,
    resultsRoot: await mkdtemp(join(tmpdir(), `daxh-${label}-results-`)),
    filesystems: ['ext4'],
    seconds: 0,
    seed: 7,
    bootTimeoutMs: 240_000,
    cmdlineExtra: [],
    progress: (phase, msg) => {
      lines.push(msg);
      say(`[${phase}] ${msg}`);
    },
    onReady: async (s) => {
      value = (await s.guest.exec(['cat', '/sys/module/kernel/parameters/dax_harness_dirty'], { timeoutMs: 30_000 })).stdout.trim();
    },
  });
  const onDisk = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8')) as RunRecord;
  return { value, record: onDisk, lines, workingTree: kernel.kind === 'build' && kernel.opts.workingTree === true };
}

t.test('an uncommitted edit is in the kernel that boots, and run.json says so', async (t) => {
  const base = await freshTree();
  await editDax(7);
  await writeFile(join(tree, 'never-added.txt'), 'left out\n');
  const { value, record, lines, workingTree } = await bootAndRead((m) => t.comment(m), 'dirty');
  t.ok(workingTree, '--source PATH without --ref builds the tree as it is');
  t.equal(record.status, 'pass', `run passed: ${record.reason}`);
  t.equal(value, '7', 'the edit of fs/dax.c is in the guest');
  const b = record.kernel?.build;
  t.equal(b?.dirty, true, 'run.json: dirty');
  t.equal(b?.baseCommit, base, 'run.json: the base commit');
  t.match(b?.workingTree?.describe ?? '', /-dirty \(1 file changed\)$/);
  t.match(b?.workingTree?.diffHash ?? '', /^[0-9a-f]{64}$/);
  t.match(record.kernel?.label ?? '', /-dirty \(1 file changed\)/);
  t.ok(lines.some((l) => /^(worktree|cached): .*-dirty \(1 file changed\)/.test(l)), 'the progress line names the dirty state');
  t.match(await git(['status', '--porcelain']), /^M fs\/dax\.c\n\?\? never-added\.txt$/, "the user's tree is as they left it");
});

t.test("the same tree owned by another user, the harness as root", { skip: process.geteuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  await freshTree();
  await editDax(8);
  await run('chown', ['-R', '65534:65534', tree], { timeoutMs: 600_000 });
  const { value, record } = await bootAndRead((m) => t.comment(m), 'foreign');
  t.equal(record.status, 'pass', `run passed: ${record.reason}`);
  t.equal(value, '8', "the other user's uncommitted edit is in the guest");
  t.equal(record.kernel?.build?.dirty, true);
  const rootOwned = (await run('find', [tree, '-uid', '0'], { timeoutMs: 600_000 })).stdout.trim();
  t.equal(rootOwned, '', "nothing root-owned in the other user's tree or its .git");
  await run('chown', ['-R', `${process.getuid!()}:${process.getgid!()}`, tree], { timeoutMs: 600_000 });
});
