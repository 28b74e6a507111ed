// A user's tree as it is: the tracked files with their uncommitted edits and
// the new files already staged, turned into a commit the cache's worktree can
// check out. The user's working tree, index and refs are only read: the
// snapshot is made with a copy of their index, and every object it writes
// goes to the harness's own repository (source.ts ensureWorkRepo).
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from '../host/proc.js';
import { SourceError } from './errors.js';
import { sha256, exists } from '../host/fsutil.js';
import { ensureWorkRepo, git, isForeignTree, type ResolvedSource } from './source.js';
import { withSettings } from '../host/errors.ts';
import { REF } from './settings.ts';

export interface WorkingState {
  /** The tree's HEAD: what the edits are on. */
  base: string;
  /** The snapshot commit (parent: base). Fixed identity and dates: the same edits give the same commit, so a rebuild is a cache hit. */
  commit: string;
  /** Files that differ from base. */
  files: number;
  /** sha256 of the binary diff base → snapshot: names the edits whatever the commit id. */
  diffHash: string;
  /** `git describe --tags --always` of base, e.g. "v6.1-rc1-12-gabc123def456". */
  describe: string;
}

/** What the progress line and the artifact label say, as `git describe --dirty` would. */
export function dirtyLabel(describe: string, files: number): string {
  return `${describe}-dirty (${files} file${files === 1 ? '' : 's'} changed)`;
}

/**
 * What git reads besides the working tree: the repository (a linked
 * worktree's lives elsewhere) and the object stores it borrows from.
 */
async function objectDirs(tree: string): Promise<string[]> {
  const common = (await git(tree, ['rev-parse', '--path-format=absolute', '--git-common-dir'])).stdout.trim();
  const out = [common];
  let stores = [join(common, 'objects')];
  // git follows alternates five deep; so do we.
  for (let depth = 0; depth < 5 && stores.length; depth++) {
    const next: string[] = [];
    for (const o of stores) {
      const text = await readFile(join(o, 'info', 'alternates'), 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        const alt = line.trim();
        if (!alt || alt.startsWith('#')) continue;
        const abs = resolve(o, alt);
        if (!out.includes(abs)) {
          out.push(abs);
          next.push(abs);
        }
      }
    }
    stores = next;
  }
  return out;
}

const FIXED_DATES = { GIT_AUTHOR_DATE: '2000-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2000-01-01T00:00:00Z' };

/**
 * The working state of a user's git tree as a commit in the harness's
 * repository, or null when it equals HEAD (or the tree is bare): then the
 * build is of HEAD exactly, with the cache keys it always had. Untracked
 * files that were never `git add`ed are left out, as `git stash` would.
 */
export async function snapshotWorkingTree(src: ResolvedSource): Promise<WorkingState | null> {
  if (src.spec.kind !== 'git') return null;
  const tree = src.repoDir;
  if ((await git(tree, ['rev-parse', '--is-bare-repository'])).stdout.trim() === 'true') return null;
  const base = src.commit;
  const repo = await ensureWorkRepo(src);
  const userIndex = (await git(tree, ['rev-parse', '--path-format=absolute', '--git-path', 'index'])).stdout.trim();
  const owner = process.geteuid?.() === 0 && isForeignTree(tree) ? await stat(tree) : null;
  const snapTree = owner ? await stageAsOwner(tree, base, userIndex, repo, owner) : await stageSandboxed(tree, base, userIndex, repo);
  const baseTree = (await git(repo, ['rev-parse', `${base}^{tree}`])).stdout.trim();
  if (snapTree === baseTree) return null;
  const msg = `dax-harness: uncommitted changes on ${base.slice(0, 12)}`;
  const commit = (await git(repo, ['commit-tree', snapTree, '-p', base, '-m', msg], { env: FIXED_DATES })).stdout.trim();
  // Diffs run in our repository: its config, not the tree's, decides their form.
  const names = (await git(repo, ['diff-tree', '-r', '--no-renames', '--name-only', base, commit])).stdout.split('\n').filter(Boolean);
  const diff = (await git(repo, ['diff-tree', '-r', '-p', '--binary', '--full-index', '--no-renames', base, commit])).stdout;
  const describe = (await git(tree, ['describe', '--tags', '--always', '--abbrev=12', base])).stdout.trim();
  return { base, commit, files: names.length, diffHash: sha256(diff), describe };
}

/** The commands that read the working tree: a copy of the user's index brought up to date, then written as a tree. */
function stagingCommands(base: string, haveIndex: boolean): string[][] {
  return [
    ...(haveIndex ? [] : [['read-tree', base]]),
    // fsmonitor off: a hook of the tree's would answer for files we must read.
    ['-c', 'core.fsmonitor=false', 'add', '--update', '--', '.'],
    ['write-tree'],
  ];
}

/**
 * Our own or a readable tree: git runs sandboxed (no network, no
 * capabilities), writing only our repository, so the tree's config (clean
 * filters) cannot write into the user's .git nor anywhere else.
 */
async function stageSandboxed(tree: string, base: string, userIndex: string, repo: string): Promise<string> {
  const tmp = await mkdtemp(join(repo, 'snapshot-'));
  try {
    const index = join(tmp, 'index');
    const haveIndex = await exists(userIndex);
    if (haveIndex) await copyFile(userIndex, index);
    // Objects land in our repository, which reads the tree's through alternates.
    const env = { GIT_INDEX_FILE: index, GIT_OBJECT_DIRECTORY: join(repo, 'objects') };
    const sandbox = { writable: [repo], readable: [tree, ...(await objectDirs(tree))], keepUid: true };
    let out = '';
    for (const args of stagingCommands(base, haveIndex)) out = (await git(tree, args, { env, sandbox, timeoutMs: 1800_000 })).stdout;
    return out.trim();
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * A tree another user owns, the harness as root: git reads it as that user,
 * so the tree's config runs with its owner's rights, never root's, and a home
 * closed to others is still readable. The new objects are written to a
 * directory of that user's, then copied into our repository.
 */
async function stageAsOwner(tree: string, base: string, userIndex: string, repo: string, owner: { uid: number; gid: number }): Promise<string> {
  const tmp = await mkdtemp(join(tmpdir(), 'daxh-snapshot-'));
  try {
    const index = join(tmp, 'index');
    const objects = join(tmp, 'objects');
    const haveIndex = await exists(userIndex);
    if (haveIndex) await copyFile(userIndex, index);
    await mkdir(join(objects, 'info'), { recursive: true });
    const common = (await git(tree, ['rev-parse', '--path-format=absolute', '--git-common-dir'])).stdout.trim();
    await writeFile(join(objects, 'info', 'alternates'), `${join(common, 'objects')}\n`);
    await run('chown', ['-R', `${owner.uid}:${owner.gid}`, tmp], { timeoutMs: 60_000 });
    const env = { GIT_INDEX_FILE: index, GIT_OBJECT_DIRECTORY: objects, HOME: '/nonexistent', XDG_CONFIG_HOME: '/nonexistent', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
    let out = '';
    for (const args of stagingCommands(base, haveIndex)) {
      const argv = [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--clear-groups', '--', 'git', '-C', tree, ...args];
      const r = await run('setpriv', argv, { env, timeoutMs: 1800_000, reject: false });
      if (r.exitCode !== 0 && /Permission denied/.test(r.stderr)) {
        throw new SourceError(`${tree} belongs to uid ${owner.uid}, who cannot read it where it is`, withSettings`give the tree where its owner can reach it, or build a commit of it with ${REF} REF`);
      }
      if (r.exitCode !== 0) throw new SourceError(`git ${args.join(' ')} as uid ${owner.uid} in ${tree} failed: ${r.stderr.trim().split('\n').pop()}`, withSettings`check the tree with \`git status\` as its owner, or build a commit of it with ${REF} REF`);
      out = r.stdout;
    }
    // Loose objects are named by their content: copying one that is there already changes nothing.
    await cp(objects, join(repo, 'objects'), { recursive: true, force: false, filter: (from) => !from.includes(`${objects}/info`) });
    return out.trim();
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
