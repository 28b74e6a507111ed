// Kernel sources: a user's git tree at a ref, or a Debian linux-source
// package. Either way the pipeline works in a git worktree under the cache, so
// the user's checkout is never touched and series apply with `git am`.
import { sandboxEnabled, sandboxUser, type SandboxSpec } from '../host/sandbox.ts';
import { mkdir, readFile, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { run } from '../host/proc.js';
import { aptAvailable, aptDownload, unpackDeb } from '../host/apt.js';
import { defaultSources, downloadEntry, findPackage, type DebEntry } from '../host/debian-archive.js';
import { cacheDir, isWithin } from '../host/paths.js';
import { buildCached, exists, sha256 } from '../host/fsutil.js';
import { FetchError, SourceError } from './errors.js';
import { withLock } from './lock.js';
import { envValue } from '../host/env.ts';
import { withSettings } from '../host/errors.ts';
import { REF, SOURCE } from './settings.ts';

export type SourceSpec =
  | { kind: 'git'; path: string }
  | { kind: 'debian'; version: string };

export interface ResolvedSource {
  spec: SourceSpec;
  /** The git repository that holds the commit (the user's, or the imported package). */
  repoDir: string;
  /** Short stable name for cache directories (worktree, build dirs). */
  id: string;
  /** Human label, e.g. "linux-source-6.1 6.1.192-2" or "/src/linux". */
  label: string;
  /** The commit to build (before any series). */
  commit: string;
  /** The ref as the user gave it, or the package version. */
  ref: string;
  /**
   * The repository the cache's worktree belongs to, where `git am` and the
   * working-state snapshot write their objects. A user's tree gets a bare
   * repository of the harness's own that borrows the tree's objects
   * (alternates), so nothing is ever written into the user's .git.
   */
  workRepo: string;
}

export type Log = (line: string) => void;

const GIT_ID = ['-c', 'user.name=dax-harness', '-c', 'user.email=dax-harness@localhost'];

/**
 * Trees the user named that another user owns. git refuses those ("dubious
 * ownership") unless told the exact path is safe; that is said per command,
 * for that path only, never in any config file.
 */
const foreignTrees = new Set<string>();

/** `-c safe.directory=TOP` when repo lies in a tree another user owns. */
export function safeDirectoryArgs(repo: string, trees: Iterable<string> = foreignTrees): string[] {
  const r = resolve(repo);
  for (const top of trees) if (isWithin(r, top)) return ['-c', `safe.directory=${top}`];
  return [];
}

/**
 * The top of the git tree holding path (the directory with .git in it, or a
 * bare repository itself), found without git: git's own discovery is what
 * refuses a tree another user owns.
 */
export function treeTop(path: string): string | null {
  for (let d = resolve(path); ; d = dirname(d)) {
    const dotgit = statSync(join(d, '.git'), { throwIfNoEntry: false });
    if (dotgit) return d;
    const bare = ['HEAD', 'objects', 'refs'].every((f) => statSync(join(d, f), { throwIfNoEntry: false }));
    if (bare) return d;
    if (d === dirname(d)) return null;
  }
}

/** Is repo inside a tree another user owns (one the user named)? */
export function isForeignTree(repo: string): boolean {
  return safeDirectoryArgs(repo).length > 0;
}

/** Remember a tree whose top or .git another user owns, so git() vouches for it. */
function trustIfForeign(top: string): void {
  const me = process.geteuid?.();
  if (me === undefined) return;
  const owners = [top, join(top, '.git')].map((p) => statSync(p, { throwIfNoEntry: false })?.uid).filter((u) => u !== undefined);
  if (owners.some((u) => u !== me)) foreignTrees.add(top);
}

/**
 * As root, the harness's own kernel repositories (imports, mirrors,
 * worktrees) belong to the sandbox account, which applies series to them:
 * root's git vouches for such a tree by its path, for that one command. No
 * other process writes there: builds and guests run as that account too,
 * but in sandboxes where the repositories are not writable.
 */
export function cacheTreeArgs(repo: string, root: string = cacheDir('kernel'), dropping: boolean = sandboxEnabled() && sandboxUser() !== null): string[] {
  if (!dropping) return [];
  const r = resolve(repo);
  if (!isWithin(r, resolve(root))) return [];
  const top = treeTop(r);
  if (!top || !isWithin(top, resolve(root))) return [];
  // git compares the path it found with getcwd(), which resolves links.
  let real = top;
  try {
    real = realpathSync(top);
  } catch {
    /* not there yet: the path as given */
  }
  return ['-c', `safe.directory=${real}`];
}

/** Everything git is told about whose trees it may trust, for one command in repo. */
export function trustArgs(repo: string): string[] {
  const foreign = safeDirectoryArgs(repo);
  return foreign.length > 0 ? foreign : cacheTreeArgs(repo);
}

export function git(repo: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string>; reject?: boolean; sandbox?: SandboxSpec } = {}) {
  return run('git', ['-C', repo, ...trustArgs(repo), ...GIT_ID, ...args], {
    timeoutMs: opts.timeoutMs ?? 600_000,
    env: { GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...opts.env },
    reject: opts.reject,
    sandbox: opts.sandbox,
  });
}

/**
 * The sandbox git works in when it takes in a series: the worktree and the
 * repository's object store writable, nothing else, no network. As root it
 * runs as the sandbox account, which is handed both (see cacheTreeArgs).
 */
export async function gitSandbox(worktree: string, readable: string[] = []): Promise<SandboxSpec> {
  const common = (await git(worktree, ['rev-parse', '--path-format=absolute', '--git-common-dir'])).stdout.trim();
  // A mirror of a user's tree borrows that tree's objects, which may borrow
  // further (a `clone --shared` of another tree): git must read every store.
  const alternates = await alternateStores(join(common, 'objects'));
  return { writable: [worktree, common], readable: [...readable, ...alternates] };
}

/**
 * Every object store `objects` borrows from, through chains of
 * objects/info/alternates (relative entries are relative to the store that
 * names them), each once, however the chain loops.
 */
export async function alternateStores(objects: string): Promise<string[]> {
  const seen = new Set<string>([resolve(objects)]);
  const out: string[] = [];
  const queue = [resolve(objects)];
  // git itself stops at a depth of 5; the bound is only against a loop.
  for (let depth = 0; queue.length > 0 && depth < 16; depth++) {
    const next: string[] = [];
    for (const store of queue) {
      const text = await readFile(join(store, 'info', 'alternates'), 'utf8').catch(() => '');
      for (const raw of text.split('\n')) {
        const l = raw.trim();
        if (l === '' || l.startsWith('#')) continue;
        const p = resolve(store, l);
        if (seen.has(p)) continue;
        seen.add(p);
        out.push(p);
        next.push(p);
      }
    }
    queue.splice(0, queue.length, ...next);
  }
  return out;
}

/** "debian:6.1" (or just "6.1") names a package; anything else is a path to a git tree. */
export function parseSourceSpec(text: string): SourceSpec {
  const m = /^(?:debian:)?(\d+\.\d+)$/.exec(text.trim());
  if (m) return { kind: 'debian', version: m[1]! };
  if (text.startsWith('debian:')) {
    throw new SourceError(`"${text}" is not a Debian kernel version`, 'use debian:MAJOR.MINOR, e.g. debian:6.1');
  }
  return { kind: 'git', path: resolve(text) };
}

export async function resolveSource(spec: SourceSpec, ref: string | undefined, log: Log = () => {}): Promise<ResolvedSource> {
  if (spec.kind === 'debian') {
    if (ref) {
      throw new SourceError(withSettings`${REF} does not apply to a Debian package source`, withSettings`drop ${REF}, or pass a git tree with ${SOURCE} PATH`);
    }
    return resolveDebian(spec.version, log);
  }
  return resolveGitTree(spec.path, ref ?? 'HEAD');
}

async function resolveGitTree(path: string, ref: string): Promise<ResolvedSource> {
  if (!(await exists(path))) throw new SourceError(`${path} does not exist`, withSettings`pass the path of a Linux git tree with ${SOURCE}`);
  const found = treeTop(path);
  if (found) trustIfForeign(await realpath(found));
  const top = await git(path, ['rev-parse', '--show-toplevel'], { reject: false });
  const gitDir = await git(path, ['rev-parse', '--git-common-dir'], { reject: false });
  if (top.exitCode !== 0 && gitDir.exitCode !== 0) {
    throw new SourceError(`${path} is not a git repository`, 'pass a Linux git tree (git clone of a kernel), or debian:6.1');
  }
  // A bare repository has no top level; git commands work from the path itself.
  const repoDir = top.exitCode === 0 ? top.stdout.trim() : await realpath(path);
  const commit = await resolveCommit(repoDir, ref);
  await assertKernelTree(repoDir, commit, path);
  const real = await realpath(repoDir);
  const id = `git-${basename(real).replace(/[^A-Za-z0-9._-]/g, '_')}-${sha256(real).slice(0, 8)}`;
  return {
    spec: { kind: 'git', path: real },
    repoDir: real,
    id,
    label: real,
    commit,
    ref,
    workRepo: cacheDir('kernel', 'mirrors', id),
  };
}

/**
 * The harness's own bare repository for a user's tree: it reads the tree's
 * objects through alternates and keeps everything the harness writes (series
 * commits, working-state snapshots, worktree bookkeeping), so a tree owned by
 * someone else never gets a root-owned file in its .git.
 */
export async function ensureWorkRepo(src: ResolvedSource): Promise<string> {
  if (src.workRepo === src.repoDir) return src.workRepo;
  const objects = (await git(src.repoDir, ['rev-parse', '--path-format=absolute', '--git-common-dir'])).stdout.trim() + '/objects';
  const alternates = join(src.workRepo, 'objects', 'info', 'alternates');
  if ((await readFile(alternates, 'utf8').catch(() => '')) === `${objects}\n`) return src.workRepo;
  await withLock(cacheDir('kernel', 'locks', `mirror-${src.id}`), async () => {
    if (!(await exists(join(src.workRepo, 'HEAD')))) {
      await mkdir(src.workRepo, { recursive: true });
      await run('git', ['init', '-q', '--bare', src.workRepo], { timeoutMs: 60_000, env: { LC_ALL: 'C' } });
    }
    await mkdir(dirname(alternates), { recursive: true });
    await writeFile(alternates, `${objects}\n`);
  });
  return src.workRepo;
}

export async function resolveCommit(repoDir: string, ref: string): Promise<string> {
  // The ref is the user's word: never let it be read as an option.
  const r = await git(repoDir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], { reject: false });
  if (r.exitCode !== 0) {
    throw new SourceError(`ref "${ref}" does not exist in ${repoDir}`, 'check the name with `git log`/`git branch -a`, or fetch it first');
  }
  return r.stdout.trim();
}

/** The files any Linux tree of the last decade has at its top and in the DAX paths. */
async function assertKernelTree(repoDir: string, commit: string, shown: string): Promise<void> {
  for (const f of ['Makefile', 'Kbuild', 'arch/x86/Kconfig', 'scripts/kconfig/merge_config.sh', 'fs/dax.c']) {
    const r = await git(repoDir, ['cat-file', '-e', `${commit}:${f}`], { reject: false });
    if (r.exitCode !== 0) {
      throw new SourceError(`${shown} at ${commit.slice(0, 12)} is not a Linux kernel tree (no ${f})`, 'pass a Linux git tree, or debian:6.1');
    }
  }
}

// ---------------------------------------------------------------- Debian ---

/**
 * The host's own apt setup is used when it already knows the package (6.1 on
 * bookworm); other versions come from suites listed in a sources file the
 * harness keeps in its cache, so the host's apt configuration never changes.
 */
const EXTRA_SUITES = ['bookworm-backports', 'unstable'];

function aptDir(): string {
  return cacheDir('apt');
}

function ownAptOptions(): string[] {
  const d = aptDir();
  return [
    '-o', `Dir::Etc::SourceList=${join(d, 'sources.list')}`,
    '-o', `Dir::Etc::SourceParts=${join(d, 'sources.list.d')}`,
    '-o', `Dir::State::Lists=${join(d, 'lists')}`,
    '-o', `Dir::Cache=${join(d, 'cache')}`,
    '-o', 'Debug::NoLocking=1',
  ];
}

/** The Debian mirror the host already uses, so the harness does not pick one of its own. */
async function hostMirror(): Promise<string> {
  const mirror = envValue('DAX_HARNESS_DEBIAN_MIRROR');
  if (mirror) return mirror;
  const texts: string[] = [];
  for (const f of ['/etc/apt/sources.list']) texts.push(await readFile(f, 'utf8').catch(() => ''));
  const dir = '/etc/apt/sources.list.d';
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (f.endsWith('.list') || f.endsWith('.sources')) texts.push(await readFile(join(dir, f), 'utf8').catch(() => ''));
  }
  for (const t of texts) {
    for (const line of t.split('\n')) {
      const m = /^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+\/debian)\/?\s*(?:\s|$)/.exec(line);
      if (m) return m[1]!;
    }
  }
  throw new FetchError('no Debian mirror found in the host apt sources', 'set DAX_HARNESS_DEBIAN_MIRROR to a Debian mirror URL');
}

function ensureOwnAptLists(log: Log): Promise<void> {
  return withLock(cacheDir('kernel', 'locks', 'apt-lists'), () => updateOwnAptLists(log));
}

async function updateOwnAptLists(log: Log): Promise<void> {
  const d = aptDir();
  const lists = join(d, 'lists');
  const fresh = await stat(join(lists, '.updated')).then((s) => Date.now() - s.mtimeMs < 24 * 3600_000).catch(() => false);
  if (fresh) return;
  await mkdir(join(lists, 'partial'), { recursive: true });
  await mkdir(join(d, 'cache', 'archives', 'partial'), { recursive: true });
  await mkdir(join(d, 'sources.list.d'), { recursive: true });
  const mirror = await hostMirror();
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  const signed = (await exists(keyring)) ? ` [signed-by=${keyring}]` : '';
  await writeFile(join(d, 'sources.list'), EXTRA_SUITES.map((s) => `deb${signed} ${mirror} ${s} main\n`).join(''));
  log(`apt: updating the harness's own package lists (${EXTRA_SUITES.join(', ')})`);
  const r = await run('apt-get', [...ownAptOptions(), 'update'], { timeoutMs: 900_000, reject: false });
  if (r.exitCode !== 0) {
    throw new FetchError('apt-get update of the harness package lists failed', `check network access to the Debian mirror: ${lastLine(r.stderr || r.stdout)}`);
  }
  await writeFile(join(lists, '.updated'), new Date().toISOString());
}

function lastLine(s: string): string {
  return s.trim().split('\n').pop() ?? '';
}

async function aptVersion(pkg: string, own: boolean): Promise<string | null> {
  const r = await run('apt-cache', [...(own ? ownAptOptions() : []), 'show', '--no-all-versions', pkg], { timeoutMs: 120_000, reject: false });
  if (r.exitCode !== 0) return null;
  const m = /^Version:\s*(\S+)/m.exec(r.stdout);
  return m ? m[1]! : null;
}

async function resolveDebian(version: string, log: Log): Promise<ResolvedSource> {
  const pkg = `linux-source-${version}`;
  let own = false;
  let archived: DebEntry | null = null;
  let pkgVersion: string | null;
  if (!aptAvailable()) {
    // No apt: the same two tiers read from Debian's archive over HTTP.
    const mirror = defaultSources()[0]!.mirror;
    archived = (await findPackage(pkg, undefined, defaultSources(), log)) ?? (await findPackage(pkg, undefined, EXTRA_SUITES.map((suite) => ({ mirror, suite })), log));
    pkgVersion = archived?.version ?? null;
  } else {
    pkgVersion = await aptVersion(pkg, false);
    if (!pkgVersion) {
      await ensureOwnAptLists(log);
      own = true;
      pkgVersion = await aptVersion(pkg, true);
    }
  }
  if (!pkgVersion) {
    throw new SourceError(`Debian has no package ${pkg} in bookworm, ${EXTRA_SUITES.join(' or ')}`, withSettings`pick another version (e.g. debian:6.1) or pass a git tree with ${SOURCE} PATH`);
  }
  const id = `debian-${pkg}_${pkgVersion}`.replace(/[^A-Za-z0-9._-]/g, '_');
  const entry = cacheDir('kernel', 'sources', id);
  const repoDir = join(entry, 'repo');
  // Two harness processes asking for a new package at once import it once.
  await withLock(cacheDir('kernel', 'locks', `source-${id}`), () =>
    buildCached(entry, async (tmp) => {
      const deb = await downloadDeb(pkg, pkgVersion!, own, log, archived);
      await importDebianSource(deb, pkg, pkgVersion!, join(tmp, 'repo'), log);
      // The .deb is kept only until its import is whole (a retry then skips the download).
      await rm(deb, { force: true });
    }),
  );
  const commit = await resolveCommit(repoDir, 'HEAD');
  return { spec: { kind: 'debian', version }, repoDir, id, label: `${pkg} ${pkgVersion}`, commit, ref: pkgVersion, workRepo: repoDir };
}

async function downloadDeb(pkg: string, version: string, own: boolean, log: Log, entry: DebEntry | null): Promise<string> {
  const dir = cacheDir('kernel', 'debs');
  await mkdir(dir, { recursive: true });
  const have = (await readdir(dir)).find((f) => f.startsWith(`${pkg}_${version.replace(/:/g, '%3a')}_`) && f.endsWith('.deb'));
  if (have) return join(dir, have);
  log(`${entry ? 'debian archive' : 'apt'}: downloading ${pkg} ${version} (not installed on the host)`);
  // apt-get download writes into the current directory: a private temp dir,
  // renamed into place, so an interrupted download is never taken as whole.
  const tmp = join(dir, `.dl-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    const dl = entry
      ? await downloadEntry(entry, tmp).then((deb) => ({ debs: [deb], error: '' }), (e: Error) => ({ debs: [] as string[], error: e.message }))
      : await aptDownload([`${pkg}=${version}`], tmp, { timeoutMs: 1800_000, aptOptions: own ? ownAptOptions() : [] });
    if (dl.error) throw new FetchError(`downloading ${pkg} failed`, `check network access to the Debian mirror: ${dl.error}`);
    const got = dl.debs[0];
    if (!got) throw new FetchError(`apt-get download ${pkg} produced no .deb`, 'retry; if it persists, run the apt-get command by hand');
    await rename(got, join(dir, basename(got)));
    return join(dir, basename(got));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Debian's tarball .gitignore ends with a section that ignores everything
 * but debian/ (`/*` then `!/debian/`), so `git add -A` would add nothing.
 * Cut from the first such blanket pattern (and the comment block above it).
 */
export function cutDebianGitignoreTail(text: string): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.trim() === '/*' || l.trim() === '*');
  if (at < 0) return text;
  let cut = at;
  while (cut > 0 && (lines[cut - 1]!.startsWith('#') || lines[cut - 1]!.startsWith('!'))) cut--;
  return lines.slice(0, cut).join('\n').replace(/\n*$/, '\n');
}

async function importDebianSource(deb: string, pkg: string, version: string, repoDir: string, log: Log): Promise<void> {
  const work = `${repoDir}.unpack`;
  await mkdir(work, { recursive: true });
  log(`unpacking ${basename(deb)}`);
  await unpackDeb(deb, work, 900_000);
  const srcDir = join(work, 'usr', 'src');
  const tarball = (await readdir(srcDir)).find((f) => /^linux-source-.*\.tar\.(xz|bz2|gz|zst)$/.test(f));
  if (!tarball) throw new FetchError(`${basename(deb)} holds no linux-source tarball`, withSettings`report this package version; use another with ${SOURCE} debian:X.Y`);
  await run('tar', ['-xf', join(srcDir, tarball), '-C', work], { timeoutMs: 1800_000 });
  const top = tarball.replace(/\.tar\.\w+$/, '');
  const { rename } = await import('node:fs/promises');
  await rename(join(work, top), repoDir);
  await rm(work, { recursive: true, force: true });

  const gi = join(repoDir, '.gitignore');
  if (await exists(gi)) await writeFile(gi, cutDebianGitignoreTail(await readFile(gi, 'utf8')));

  log(`importing ${pkg} ${version} into git (once)`);
  // Fixed identity and dates make the import commit depend only on the
  // tarball, so the same package gives the same commit (and cache keys) everywhere.
  const env = { GIT_AUTHOR_DATE: '2000-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2000-01-01T00:00:00Z' };
  await git(repoDir, ['init', '-q', '-b', 'debian'], { env });
  await git(repoDir, ['add', '-A'], { timeoutMs: 1800_000, env });
  const count = await git(repoDir, ['ls-files', '--cached', '--', 'fs/dax.c', 'Makefile']);
  if (count.stdout.trim().split('\n').filter(Boolean).length < 2) {
    throw new FetchError(`importing ${pkg}: git added nothing (the package .gitignore still ignores the tree)`, withSettings`report this package version; use another with ${SOURCE} debian:X.Y`);
  }
  await git(repoDir, ['commit', '-q', '--no-verify', '-m', `${pkg} ${version} (Debian source package)`], { timeoutMs: 1800_000, env });
  await git(repoDir, ['tag', `debian/${version.replace(/[:~]/g, '_')}`], { env });
}

// -------------------------------------------------------------- worktree ---

/**
 * One worktree per source repository, reused across commits and series: a
 * checkout only rewrites files that differ, which keeps the O= build
 * incremental. It is ours, so it is forced clean before every use.
 */
export function worktreePath(src: ResolvedSource): string {
  return cacheDir('kernel', 'worktrees', src.id);
}

export async function ensureWorktree(src: ResolvedSource, commit: string): Promise<string> {
  const wt = worktreePath(src);
  const repo = await ensureWorkRepo(src);
  // A worktree made before the harness kept its own repository belongs to the
  // user's; it is made again from ours (a one-time full rebuild).
  const commonOf = async (dir: string) => {
    const r = await git(dir, ['rev-parse', '--path-format=absolute', '--git-common-dir'], { reject: false });
    return r.exitCode === 0 ? resolve(r.stdout.trim()) : null;
  };
  const ok = (await exists(join(wt, '.git'))) && (await commonOf(wt)) === (await commonOf(repo));
  if (!ok) {
    await rm(wt, { recursive: true, force: true });
    await git(repo, ['worktree', 'prune']);
    await mkdir(cacheDir('kernel', 'worktrees'), { recursive: true });
    await git(repo, ['worktree', 'add', '--detach', '-f', wt, commit], { timeoutMs: 1800_000 });
  }
  // A failed or interrupted run may have left a `git am` session behind.
  await git(wt, ['am', '--abort'], { reject: false });
  await git(wt, ['checkout', '-q', '--detach', '-f', commit], { timeoutMs: 1800_000 });
  await git(wt, ['reset', '-q', '--hard', commit], { timeoutMs: 1800_000 });
  await git(wt, ['clean', '-q', '-fdx'], { timeoutMs: 1800_000 });
  return wt;
}
