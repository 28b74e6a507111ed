// Which O= directory the census module is built against for a pipeline-built
// kernel: only one that still holds exactly that build (the directory is
// shared by later builds of the same source and profile).
import t from 'tap';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { moduleBuildTree, HeadersError } from '../../harness/src/kernel/headers.ts';
import { sha256File } from '../../harness/src/host/fsutil.ts';
import type { KernelArtifact, KernelBuildRecord } from '../../harness/src/results/records.ts';

const cache = mkdtempSync(join(tmpdir(), 'daxh-bt-'));
process.env.DAX_HARNESS_CACHE = cache;

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8' }).trim();

const src = join(cache, 'worktree');
mkdirSync(src, { recursive: true });
git(src, 'init', '-q');
writeFileSync(join(src, 'Makefile'), 'all:\n');
git(src, 'add', 'Makefile');
git(src, 'commit', '-q', '-m', 'base');
const base = git(src, 'rev-parse', 'HEAD');

const configHash = 'ab'.repeat(32);
const odir = join(cache, 'kernel', 'build', `git-src-${configHash.slice(0, 12)}`);
mkdirSync(join(odir, 'include', 'config'), { recursive: true });
writeFileSync(join(odir, 'include', 'config', 'kernel.release'), '6.15.0-rc1+\n');
writeFileSync(join(odir, '.config'), 'CONFIG_FS_DAX=y\n');
writeFileSync(join(odir, 'Module.symvers'), '');
symlinkSync(src, join(odir, 'source'));

async function artifact(over: Partial<KernelBuildRecord> = {}, withDir = false): Promise<KernelArtifact> {
  const build = {
    source: 'test tree', baseCommit: base, commit: base, seriesHash: null, series: [], configFragments: [], configBase: 'tinyconfig',
    configHash, finalConfigHash: await sha256File(join(odir, '.config')), droppedOptions: [], compiler: 'gcc', ccache: false,
    ...(withDir ? { buildDir: odir } : {}),
    ...over,
  } as unknown as KernelBuildRecord;
  return { kind: 'built', release: '6.15.0-rc1+', label: 'test', bzImage: '/nonexistent', modulesRoot: null, systemMap: null, vmlinux: null, key: 'k', build };
}

t.test('the O= dir that still holds the build is used (found by name, or named by the record)', async (t) => {
  t.same(await moduleBuildTree(await artifact()), { kdir: odir, release: '6.15.0-rc1+', from: 'built-tree', packages: [] });
  t.equal((await moduleBuildTree(await artifact({}, true))).kdir, odir);
});

t.test('a build dir that moved on is refused with the fix', async (t) => {
  await t.rejects(moduleBuildTree(await artifact({ commit: 'f'.repeat(40) })), { name: 'HeadersError', message: /source is at .* built from ffffffffffff.*rebuild/ });
  await t.rejects(moduleBuildTree(await artifact({ finalConfigHash: '0'.repeat(64) })), { message: /\.config changed since/ });
  const other = await artifact();
  other.release = '6.14.0';
  await t.rejects(moduleBuildTree(other), { message: /release 6\.15\.0-rc1\+/ });
});

t.test('a bare --kernel PATH has no tree', async (t) => {
  const k = await artifact();
  k.kind = 'path';
  await t.rejects(moduleBuildTree(k), HeadersError);
});
