// A mailed series is untrusted input: `git am` takes it in inside the sandbox,
// and, when the harness is root, as the sandbox account rather than uid 0
// (seen from a hook of the repository, which runs as whoever runs git am).
// Root's own git then still works in the tree that account now owns, by the
// cache's path only.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cache = mkdtempSync(join(tmpdir(), 'daxh-series-sbx-'));
process.env.DAX_HARNESS_CACHE = cache;
const { applySeries, revertCommits, revertSeriesPatches, seriesPatchRevs } = await import('../../harness/src/kernel/series.ts');
const { cacheTreeArgs, git } = await import('../../harness/src/kernel/source.ts');
const { sandboxEnabled, sandboxUser } = await import('../../harness/src/host/sandbox.ts');
const { PatchApplyError } = await import('../../harness/src/kernel/errors.ts');

const root = process.geteuid?.() === 0;
const who = sandboxEnabled() ? sandboxUser() : null;

/** A repository in the harness's kernel cache, as ensureWorktree makes them, with one commit. */
function repoInCache(name: string): { repo: string; g: (...a: string[]) => string } {
  const repo = join(cache, 'kernel', 'worktrees', name);
  mkdirSync(repo, { recursive: true });
  // The test's own git is not the harness's: it trusts whatever the account running git am left.
  const g = (...args: string[]) => execFileSync('git', ['-c', 'safe.directory=*', '-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();
  g('init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'f'), 'a\nb\nc\n');
  g('add', 'f');
  g('commit', '-q', '-m', 'base');
  return { repo, g };
}

t.test('a series is applied by the sandbox account; root git still works in the tree', async (t) => {
  const { repo, g } = repoInCache('am');
  // The patch: change b, made in the tree, mailed, then the tree put back.
  writeFileSync(join(repo, 'f'), 'a\nB\nc\n');
  g('commit', '-q', '-am', 'change b');
  const mail = g('format-patch', '-1', '--stdout') + '\n';
  g('reset', '-q', '--hard', 'HEAD~1');
  const hook = join(repo, '.git', 'hooks', 'applypatch-msg');
  writeFileSync(hook, '#!/bin/sh\nid -u > "$(git rev-parse --git-dir)/am-uid"\n');
  chmodSync(hook, 0o755);
  const series = {
    patches: [{ number: 1, total: 1, version: 1, title: 'change b', from: 't <t@t>', date: null, messageId: null, origin: 'x#1', mail }],
    version: 1, cover: null, baseCommit: null, prerequisites: [], rangeBase: null, hash: 'h'.repeat(64), notes: [], source: 'x.mbox',
  };
  await applySeries(repo, series as never);
  t.equal(readFileSync(join(repo, 'f'), 'utf8'), 'a\nB\nc\n', 'the patch is applied');
  const amUid = Number(readFileSync(join(repo, '.git', 'am-uid'), 'utf8'));
  if (root && who) {
    t.equal(amUid, who.uid, `git am ran as the sandbox account (${who.name}), not root`);
    t.not(amUid, 0);
    t.equal(statSync(join(repo, '.git')).uid, who.uid, 'which owns the repository now');
    t.same(cacheTreeArgs(join(repo, 'sub')), ['-c', `safe.directory=${repo}`], 'root vouches for it by its top');
  } else {
    t.equal(amUid, process.geteuid?.(), 'not root: git am runs as the caller (there is no one to drop to)');
  }
  const log = await git(repo, ['log', '-1', '--format=%s']);
  t.equal(log.stdout.trim(), 'change b', "the harness's own git reads the tree");
  t.same(cacheTreeArgs(join(tmpdir(), 'elsewhere')), [], 'and vouches for nothing outside the cache');
});

t.test('revertCommits: git revert on top; a conflict is a PatchApplyError and the tree is put back', async (t) => {
  const { repo, g } = repoInCache('revert');
  writeFileSync(join(repo, 'f'), 'a\nB\nc\n');
  g('commit', '-q', '-am', 'change b');
  const changeB = g('rev-parse', 'HEAD');
  writeFileSync(join(repo, 'g'), 'new\n');
  g('add', 'g');
  g('commit', '-q', '-m', 'add g');
  await revertCommits(repo, [changeB]);
  t.equal(readFileSync(join(repo, 'f'), 'utf8'), 'a\nb\nc\n', 'the change is undone');
  t.equal(readFileSync(join(repo, 'g'), 'utf8'), 'new\n', 'later commits stay');
  t.match(g('log', '-1', '--format=%s'), /^Revert "change b"/);
  if (root && who) t.equal(statSync(join(repo, '.git', 'objects')).uid, who.uid, 'reverted by the sandbox account');

  writeFileSync(join(repo, 'f'), 'a\nX\nc\n');
  g('commit', '-q', '-am', 'rewrite b again');
  const head = g('rev-parse', 'HEAD');
  const err = await revertCommits(repo, [changeB]).catch((e) => e);
  t.ok(err instanceof PatchApplyError, 'a revert that conflicts does not apply');
  t.match(err.what, /Revert "change b".*does not apply \(file f\)/);
  t.equal(g('rev-parse', 'HEAD'), head, 'the tree is back where it was');
  t.equal(g('status', '--porcelain'), '', 'and clean');
});

t.test('revertSeriesPatches: a patch of the applied series reverted by its number; a conflict does not apply', async (t) => {
  t.same(seriesPatchRevs({ patches: [{ number: 1 }, { number: 2 }, { number: 3 }] as never }, [3, 1]), ['HEAD~0', 'HEAD~2']);
  t.throws(() => seriesPatchRevs({ patches: [{ number: 1 }] as never }, [2]), /patch 2 is not in the series/);
  const { repo, g } = repoInCache('revert-patch');
  // Patch 1 changes b, patch 2 adds g, patch 3 rewrites b again (the culprit's lines).
  const commit = (file: string, text: string, msg: string) => {
    writeFileSync(join(repo, file), text);
    g('add', file);
    g('commit', '-q', '-m', msg);
  };
  commit('f', 'a\nB\nc\n', 'change b');
  commit('g', 'new\n', 'add g');
  const series = { patches: [{ number: 1 }, { number: 2 }] };
  await revertSeriesPatches(repo, series as never, [1]);
  t.equal(readFileSync(join(repo, 'f'), 'utf8'), 'a\nb\nc\n', 'patch 1 is undone');
  t.equal(readFileSync(join(repo, 'g'), 'utf8'), 'new\n', 'patch 2 stays');
  g('reset', '-q', '--hard', 'HEAD~1');
  commit('f', 'a\nX\nc\n', 'rewrite b');
  const head = g('rev-parse', 'HEAD');
  const err = await revertSeriesPatches(repo, { patches: [{ number: 1 }, { number: 2 }, { number: 3 }] } as never, [1]).catch((e) => e);
  t.ok(err instanceof PatchApplyError, 'patch 3 sits on patch 1\'s lines: its revert conflicts');
  t.match(err.what, /Revert "change b"/);
  t.equal(g('rev-parse', 'HEAD'), head, 'the tree is back where it was');
});

t.test('alternateStores follows a chain of borrowed object stores, relative entries and loops included', async (t) => {
  const { alternateStores } = await import('../../harness/src/kernel/source.ts');
  const d = mkdtempSync(join(tmpdir(), 'daxh-alt-'));
  const store = (n: string) => {
    mkdirSync(join(d, n, 'info'), { recursive: true });
    return join(d, n);
  };
  const [a, b, c] = [store('a'), store('b'), store('c')];
  // a → b (absolute), b → c (relative to b), c → a (a loop back) and a comment.
  writeFileSync(join(a, 'info', 'alternates'), `${b}\n`);
  writeFileSync(join(b, 'info', 'alternates'), '# borrowed\n../c\n');
  writeFileSync(join(c, 'info', 'alternates'), `${a}\n`);
  t.same(await alternateStores(a), [b, c], 'both stores a borrows from, each once, the start left out');
  t.same(await alternateStores(c), [a, b], 'from the other end of the loop');
  t.same(await alternateStores(join(d, 'none')), [], 'a store that borrows nothing');
});
