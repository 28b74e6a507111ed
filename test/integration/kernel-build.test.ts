// The kernel pipeline end to end on Debian's linux-source-6.1 with the dax
// profile and the fixture series: a cold build takes minutes here (cached in
// ~/.cache/dax-harness afterwards), everything after it seconds.
import t from 'tap';
import { mkdtemp, readFile, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWorkflow } from '../../harness/src/workflows/run.js';
import { defaultTopology } from '../../harness/src/vm/topology.js';
import { run } from '../../harness/src/host/proc.js';
import { repoRoot } from '../../harness/src/host/paths.js';
import { BuildError, ConfigError, planKernel, prepareKernel, PatchApplyError, type PrepareKernelOptions } from '../../harness/src/kernel/index.js';
import { cloneShared } from '../clone-cache-repo.ts';
import { git as harnessGit } from '../../harness/src/kernel/source.ts';

const fixtures = join(repoRoot, 'patches', 'fixtures');
const base: PrepareKernelOptions = {
  source: 'debian:6.1',
  series: join(fixtures, 'dax-fixture.mbox'),
  // The profile bisect and repro tests build too: one cold build serves them all.
  config: ['dax', 'debug-vm'],
  log: (l) => t.comment(l),
};

// No look-up of linux-source in the host's apt lists first: where they lack it
// the pipeline fetches package lists of its own, and a source it cannot get is
// a failure of this test, never a plan of 0 that CI would count as a pass.
// The harness's own git: as root it is the one that may work in the cache's trees (the sandbox account's).
const git = async (wt: string, args: string[]) => (await harnessGit(wt, args, { timeoutMs: 120_000 })).stdout.trim();

t.test('Debian 6.1 + fixture series + dax profile gives a complete artifact', async (t) => {
  const a = await prepareKernel(base);
  t.equal(a.kind, 'built');
  t.match(a.release, /^6\.1\.\d+/);
  for (const f of [a.bzImage, a.vmlinux!, a.systemMap!]) t.ok((await stat(f)).size > 0, `${f} exists`);
  const modDir = join(a.modulesRoot!, 'lib', 'modules', a.release);
  const dep = await readFile(join(modDir, 'modules.dep'), 'utf8');
  // The nvdimm stack is modular and nfit_test's wrapped copies win over it.
  t.match(dep, /^extra\/test\/nfit_test\.ko:/m);
  t.match(dep, /^extra\/libnvdimm\.ko:/m);
  t.notMatch(dep, /^kernel\/drivers\/nvdimm\/libnvdimm\.ko:/m);
  t.match(dep, /^kernel\/drivers\/nvdimm\/nd_pmem\.ko:|^extra\/nd_pmem\.ko:/m);
  t.match(dep, /hwpoison-inject\.ko:/);
  const override = await readFile(join(a.modulesRoot!, 'etc', 'depmod.d', 'nfit_test.conf'), 'utf8');
  t.match(override, /^override nfit \* extra$/m);
  t.match(override, /^override libnvdimm \* extra$/m);

  const b = a.build!;
  t.equal(b.series.length, 2);
  t.not(b.commit, b.baseCommit, 'the series made commits on top of the base');
  t.match(b.compiler, /gcc/);
  t.same(b.droppedOptions, []);
  t.ok(b.log && (await stat(b.log)).size > 0);
  t.comment(`build: ${(b.makeMs / 1000).toFixed(1)} s make, incremental=${b.incremental}`);

  // The fixture's effect is in the kernel that boots: its printk format and its parameter.
  const vmlinux = await readFile(a.vmlinux!);
  t.ok(vmlinux.includes('dax-harness fixture: fs/dax wait table ready'), 'fixture printk string in vmlinux');
  const map = await readFile(a.systemMap!, 'utf8');
  t.match(map, /\bdax_harness_fixture\b/);
  const cfg = await readFile(join(a.modulesRoot!, '..', 'config'), 'utf8');
  t.match(cfg, /^CONFIG_LIBNVDIMM=m$/m);
  t.match(cfg, /^CONFIG_X86_MCE=y$/m);
});

t.test("the built kernel boots in the spine's guest, passes the DAX smoke and shows the fixture", async (t) => {
  // Forced (incremental) so the shared O= directory holds exactly this build:
  // the spine's census builds its module against it.
  const artifact = await prepareKernel({ ...base, force: true });
  let marker = '';
  const { record, runDir } = await runWorkflow({
    kernel: { kind: 'artifact', artifact },
    image: 'initramfs',
    topology: defaultTopology,
    resultsRoot: await mkdtemp(join(tmpdir(), 'daxh-kernel-results-')),
    filesystems: ['ext4', 'xfs'],
    seconds: 0,
    seed: 7,
    bootTimeoutMs: 240_000,
    cmdlineExtra: [],
    progress: (phase, msg) => t.comment(`[${phase}] ${msg}`),
    onReady: async (s) => {
      marker = (await s.guest.exec(['cat', '/sys/module/kernel/parameters/dax_harness_fixture'], { timeoutMs: 30_000 })).stdout.trim();
    },
  });
  t.equal(record.status, 'pass', `run passed: ${record.reason}`);
  t.equal(record.kernel?.kind, 'built');
  t.equal(record.kernel?.key, artifact.key);
  t.equal(marker, '2', 'patch 2/2: /sys/module/kernel/parameters/dax_harness_fixture');
  const console = await readFile(join(runDir, 'console.log'), 'utf8');
  t.match(console, /dax-harness fixture: fs\/dax wait table ready \(4096 entries\), marker 2/, 'patch 1/2 (and 2/2) in the boot log');
  t.notMatch(console, /Call Trace|WARNING:/);
});

t.test('asking twice builds once', async (t) => {
  const t0 = Date.now();
  const first = await prepareKernel(base);
  const again = await prepareKernel(base);
  t.equal(again.key, first.key);
  t.equal(again.build!.builtAt, first.build!.builtAt);
  t.ok(Date.now() - t0 < 60_000, `cached answers are quick (${Date.now() - t0} ms for two)`);
});

t.test('a non-applying patch names patch, file and hunk, and leaves a clean tree', async (t) => {
  const plan = await planKernel({ ...base, series: join(fixtures, 'does-not-apply.mbox') });
  const err = await prepareKernel({ ...base, series: join(fixtures, 'does-not-apply.mbox') }).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof PatchApplyError, 'PatchApplyError');
  const e = err as PatchApplyError;
  t.match(e.patch, { number: 2, total: 2, subject: /grow the wait table/ });
  t.equal(e.file, 'fs/dax.c');
  t.match(e.hunk, /@@ -\d+,\d+ \+\d+,\d+ @@/);
  t.match(e.message, /patch 2\/2 "dax: grow the wait table.*" does not apply \(file fs\/dax\.c, hunk #1 @@/);
  t.equal(await git(plan.worktree, ['status', '--porcelain']), '', 'no leftovers');
  t.equal(await git(plan.worktree, ['rev-parse', 'HEAD']), plan.baseCommit, 'patch 1 was rolled back too');
  t.notOk(await stat(join(plan.artifactDir, '.complete')).catch(() => null), 'no artifact marked good');
});

t.test('touching fs/dax.c rebuilds incrementally', async (t) => {
  const plan = await planKernel(base);
  const before = await prepareKernel(base);
  // Bump fs/dax.c as an editor would, then ask for the same kernel again.
  const now = new Date();
  await utimes(join(plan.worktree, 'fs', 'dax.c'), now, now);
  const t0 = Date.now();
  const after = await prepareKernel({ ...base, force: true });
  const wall = Date.now() - t0;
  t.equal(after.key, before.key);
  t.ok(after.build!.incremental, 'reused the O= directory');
  t.comment(`touch fs/dax.c → rebuild: ${(wall / 1000).toFixed(1)} s wall, ${(after.build!.makeMs / 1000).toFixed(1)} s in make`);
  t.ok(wall < 180_000, 'an incremental rebuild is a small fraction of a cold one');
  const log = await readFile(after.build!.log, 'utf8');
  t.match(log, /CC\s+fs\/dax\.o/, 'fs/dax.o was recompiled');
  t.notMatch(log, /CC\s+mm\/memory\.o/, 'unrelated objects were not');
});

t.test('a compiler error is a BuildError with the first error line and the log', async (t) => {
  const opts = { ...base, series: join(fixtures, 'breaks-build.patch') };
  const plan = await planKernel(opts);
  const err = await prepareKernel(opts).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof BuildError, 'BuildError');
  const e = err as BuildError;
  t.match(e.what, /the kernel failed to build: .*fs\/dax\.c:\d+:\d+: error: .*DAX_WAIT_TABLE_ENTRIES_NO_SUCH_THING/);
  t.match(e.hint, /see \/.*\.log/);
  t.ok((await stat(String(e.details.log))).size > 0, 'log kept');
  t.notOk(await stat(join(plan.artifactDir, '.complete')).catch(() => null), 'no artifact marked good');
});

t.test("a user's git tree: cache worktree, checkout untouched, git range as series", async (t) => {
  const debian = await planKernel({ source: 'debian:6.1' });
  const user = await mkdtemp(join(tmpdir(), 'daxh-user-linux-'));
  const g = (args: string[]) => git(user, ['-c', 'user.name=u', '-c', 'user.email=u@example.invalid', ...args]);
  await cloneShared(debian.source.repoDir, user);
  await g(['checkout', '-q', '-b', 'fixture']);
  const dir = join(fixtures, 'dax-fixture');
  await g(['am', '-q', join(dir, '0001-dax-announce-the-wait-table-at-boot-dax-harness-fixt.patch'), join(dir, '0002-dax-add-a-read-only-fixture-marker-parameter-dax-har.patch')]);
  await g(['checkout', '-q', '-']);
  await run('touch', [join(user, 'my-notes.txt')], { timeoutMs: 10_000 });
  const before = { head: await g(['rev-parse', 'HEAD']), branch: await g(['rev-parse', 'fixture']), status: await g(['status', '--porcelain']) };

  const plan = await planKernel({ source: user, series: `${debian.baseCommit}..fixture`, config: ['dax'] });
  t.equal(plan.source.spec.kind, 'git');
  t.equal(plan.baseCommit, debian.baseCommit, 'a range A..B applies on A');
  t.same(plan.series!.patches.map((p) => p.number), [1, 2]);
  t.match(plan.series!.patches[1]!.title, /read-only fixture marker/);
  t.match(plan.worktree, /\/kernel\/worktrees\//);

  const { ensureWorktree } = await import('../../harness/src/kernel/source.js');
  const { applySeries } = await import('../../harness/src/kernel/series.js');
  try {
    const wt = await ensureWorktree(plan.source, plan.baseCommit);
    await applySeries(wt, plan.series!);
    t.match(await git(wt, ['log', '--format=%s', '-1']), /read-only fixture marker/);
    const after = { head: await g(['rev-parse', 'HEAD']), branch: await g(['rev-parse', 'fixture']), status: await g(['status', '--porcelain']) };
    t.same(after, before, "the user's checkout, branches and untracked files are untouched");
  } finally {
    const { rm } = await import('node:fs/promises');
    await rm(plan.worktree, { recursive: true, force: true });
    await rm(user, { recursive: true, force: true });
  }
});

t.test('a typo and an unmet dependency in a fragment are named; nothing is built', async (t) => {
  const { writeFile, rm } = await import('node:fs/promises');
  const dir = await mkdtemp(join(tmpdir(), 'daxh-frag-'));
  const frag = join(dir, 'typo.config');
  await writeFile(frag, '# CONFIG_TRANSPARENT_HUGEPAGE is not set\n# CONFIG_LIBNVDIMM is not set\nCONFIG_FS_DAXX=y\n');
  const opts = { ...base, config: ['dax', frag] };
  const plan = await planKernel(opts);
  try {
    const err = await prepareKernel(opts).then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof ConfigError, 'ConfigError');
    const what = (err as ConfigError).what;
    t.match(what, /CONFIG_FS_DAXX=y \(.*typo\.config\): no such Kconfig symbol in this tree/);
    t.match(what, /CONFIG_DEV_DAX=m \(dax\): got n/, 'an option whose dependency another fragment switched off');
    t.match(what, /CONFIG_LIBNVDIMM=n \(.*typo\.config\): got m/, 'an option something else selects');
    t.notOk(await stat(join(plan.artifactDir, '.complete')).catch(() => null), 'no artifact');
  } finally {
    await rm(plan.buildDir, { recursive: true, force: true });
  }
});
