// `dax-harness cache`: entries with sizes and ages; prune by age and by
// count per kind; never an entry being built or in use.
import t from 'tap';
import { spawn as nodeSpawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, utimesSync, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEASE_STALE_MS, sealEntry } from '../../harness/src/host/fsutil.ts';
import { listCache, pruneCache, pruneCandidates } from '../../harness/src/host/cache.ts';
import { durationOption, LIMITS } from '../../harness/src/host/limits.ts';
import { claimRun } from '../../harness/src/results/store.ts';
import { cacheCommand } from '../../harness/src/cli/cache.ts';

const FSUTIL = join(import.meta.dirname, '..', '..', 'harness', 'src', 'host', 'fsutil.ts');
const DAY = 86400_000;

/** A sealed entry last used `days` ago (made directly: no lease of this process on it). */
async function entry(root: string, name: string, days: number, bytes = 10000): Promise<string> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'data'), 'x'.repeat(bytes));
  await sealEntry(dir);
  const when = new Date(Date.now() - days * DAY);
  utimesSync(join(dir, '.complete'), when, when);
  return dir;
}

async function cache() {
  const root = mkdtempSync(join(tmpdir(), 'daxh-cachecmd-'));
  process.env.DAX_HARNESS_CACHE = root;
  await entry(root, 'images/initramfs-aaa', 40);
  await entry(root, 'images/initramfs-bbb', 20);
  await entry(root, 'images/initramfs-ccc', 1);
  await entry(root, 'kernels/debian/linux-image-6.1_1', 60, 50000);
  await entry(root, 'kernel/artifacts/k1', 30);
  mkdirSync(join(root, 'kernel/build/git-linux-1234'), { recursive: true });
  return root;
}

function leaser(dir: string) {
  const code = `
    const { openCached } = await import(${JSON.stringify(FSUTIL)});
    console.log(await openCached(${JSON.stringify(dir)}) ? 'using' : 'no');
    setInterval(() => {}, 1000);`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = nodeSpawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((r) => child.stdout.on('data', (d) => String(d).includes('using') && r()));
  return { child, ready };
}

t.test('list: every entry with its kind, size and last use, newest first', async (t) => {
  const root = await cache();
  const l = await listCache(root);
  t.same(l.map((e) => e.name), ['kernel/build/git-linux-1234', 'images/initramfs-ccc', 'images/initramfs-bbb', 'kernel/artifacts/k1', 'images/initramfs-aaa', 'kernels/debian/linux-image-6.1_1']);
  t.same(new Set(l.map((e) => e.kind)), new Set(['images', 'kernels/debian', 'kernel/artifacts', 'kernel/build']));
  const k = l.find((e) => e.kind === 'kernels/debian')!;
  t.ok(k.bytes >= 50000, `size on disk counted (${k.bytes})`);
  t.ok(Math.abs(Date.now() - k.lastUsedMs - 60 * DAY) < 60_000, 'age from the last use');
  t.ok(l.every((e) => e.busy === null));
});

t.test('the criteria: older-than, keep-last per kind, both', async (t) => {
  const root = await cache();
  const l = (await listCache(root)).filter((e) => e.kind !== 'kernel/build');
  const names = (o: Parameters<typeof pruneCandidates>[1]) => pruneCandidates(l, o).map((e) => e.name).sort();
  t.same(names({ olderThanMs: 25 * DAY }), ['images/initramfs-aaa', 'kernel/artifacts/k1', 'kernels/debian/linux-image-6.1_1']);
  t.same(names({ keepLast: 1 }), ['images/initramfs-aaa', 'images/initramfs-bbb']);
  t.same(names({ keepLast: 1, olderThanMs: 25 * DAY }), ['images/initramfs-aaa']);
  // --older-than takes the one duration grammar of every command.
  t.equal(durationOption('2w', '--older-than', LIMITS.ageMs), 14 * DAY);
  t.equal(durationOption('1h30m', '--older-than', LIMITS.ageMs), 90 * 60_000);
  t.throws(() => durationOption('soon', '--older-than', LIMITS.ageMs), /--older-than "soon" is not a duration/);
});

t.test('prune never removes an entry in use or being built; leftovers of dead builds go', async (t) => {
  const root = await cache();
  const used = leaser(join(root, 'images/initramfs-aaa'));
  await used.ready;
  // Its lease made it recently used; age it again so the criteria pick it.
  const old = new Date(Date.now() - 40 * DAY);
  utimesSync(join(root, 'images/initramfs-aaa/.use'), old, old);
  // A live builder holds the lock of the kernel artifact.
  const builder = nodeSpawn('sleep', ['30'], { stdio: 'ignore' });
  const builderPid = builder.pid!;
  const gone = Promise.all([new Promise((r) => used.child.on('exit', r)), new Promise((r) => builder.on('exit', r))]);
  // Its lease as a builder on this host writes it; the heartbeat is fresh, so only the pid decides once it dies.
  mkdirSync(join(root, 'kernel/artifacts/k1.lock'));
  const ns = readlinkSync('/proc/self/ns/pid');
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  writeFileSync(join(root, 'kernel/artifacts/k1.lock/g000000000001'), JSON.stringify({ pid: builderPid, host: (await import('node:os')).hostname(), bootId: boot, pidNs: ns, since: new Date().toISOString() }));
  const dead = spawnSync('true').pid!;
  mkdirSync(join(root, `images/initramfs-zzz.tmp-${dead}-abcdef`));
  try {
    const r = await pruneCache({ olderThanMs: 10 * DAY }, root);
    t.same(r.removed.map((e) => e.name).sort(), ['images/initramfs-bbb', 'kernels/debian/linux-image-6.1_1']);
    t.same(r.skipped.map((s) => [s.entry.name, s.why.replace(/\d+/g, 'N')]).sort(), [
      ['images/initramfs-aaa', 'in use (pid N)'],
      ['kernel/artifacts/k1', 'building (pid N)'],
    ]);
    t.same(r.garbage, [`images/initramfs-zzz.tmp-${dead}-abcdef`]);
    t.ok(existsSync(join(root, 'images/initramfs-aaa/data')), 'the used entry is whole');
    t.ok(existsSync(join(root, 'kernel/artifacts/k1/data')), 'the locked entry is whole');
    t.notOk(readdirSync(join(root, 'images')).some((n) => n.includes('.trash-')), 'no trash left');
  } finally {
    used.child.kill('SIGKILL');
    builder.kill('SIGKILL');
  }
  await gone;
  const after = await pruneCache({ olderThanMs: 10 * DAY }, root);
  t.same(after.removed.map((e) => e.name).sort(), ['images/initramfs-aaa', 'kernel/artifacts/k1'], 'once the user and the builder are gone they can go (the stale lock is broken)');
});

t.test("another host's lease keeps its entry while it beats and expires when it stops", async (t) => {
  const root = await cache();
  const use = join(root, 'images/initramfs-aaa/.use');
  mkdirSync(use);
  writeFileSync(join(use, '4242@ci-runner-7'), '');
  const old = new Date(Date.now() - 40 * DAY);
  utimesSync(use, old, old);
  const first = await pruneCache({ olderThanMs: 10 * DAY, dryRun: true }, root);
  t.match(first.skipped.map((s) => [s.entry.name, s.why]), [['images/initramfs-aaa', 'in use (pid 4242)']], 'fresh heartbeat: in use');
  const gone = new Date(Date.now() - LEASE_STALE_MS - 60_000);
  utimesSync(join(use, '4242@ci-runner-7'), gone, gone);
  const r = await pruneCache({ olderThanMs: 10 * DAY }, root);
  t.ok(r.removed.some((e) => e.name === 'images/initramfs-aaa'), 'a lease that stopped beating no longer holds it');
});

async function cli(argv: string[]) {
  let out = '';
  let err = '';
  const wo = process.stdout.write.bind(process.stdout);
  const we = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => ((out += String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((err += String(c)), true)) as typeof process.stderr.write;
  try {
    return { code: await cacheCommand(argv), out, err };
  } finally {
    process.stdout.write = wo;
    process.stderr.write = we;
  }
}

t.test('the command: list, prune --keep-last --dry-run, usage errors', async (t) => {
  const root = await cache();
  const l = await cli([]);
  t.equal(l.code, 0);
  t.match(l.out, /SIZE\s+LAST USED\s+ENTRY/);
  t.match(l.out, /60d\s+kernels\/debian\/linux-image-6\.1_1/);
  t.match(l.out, new RegExp(`in 6 entries under ${root}`));
  const dry = await cli(['prune', '--keep-last', '1', '--dry-run']);
  t.equal(dry.code, 0);
  t.match(dry.out, /would remove images\/initramfs-aaa/);
  t.ok(existsSync(join(root, 'images/initramfs-aaa')), 'dry run removes nothing');
  const real = await cli(['prune', '--keep-last', '1']);
  t.match(real.out, /removed 2 entries/);
  t.notOk(existsSync(join(root, 'images/initramfs-aaa')));
  t.equal((await cli(['prune'])).code, 2);
  t.match((await cli(['prune', '--older-than', 'soon'])).err, /^dax-harness cache: --older-than "soon" is not a duration/);
  t.equal((await cli(['prune', '--keep-last', 'x'])).code, 2);
  t.equal((await cli(['frob'])).code, 2);
});

t.test("prune finds a killed run's work directory (NVDIMM files) and removes it; a live run's stays", async (t) => {
  const root = await cache();
  // A run that was SIGKILLed: it claimed and leased its work directory as cell/ does, then died.
  const victim = nodeSpawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
    const { claimRun } = await import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'harness', 'src', 'results', 'store.ts'))});
    const { writeFileSync, truncateSync, mkdirSync } = await import('node:fs');
    const c = await claimRun(${JSON.stringify(join(root, 'results'))}, { workRoot: ${JSON.stringify(join(root, 'work'))}, makeId: () => 'dead-run' });
    mkdirSync(c.workDir + '/1');
    writeFileSync(c.workDir + '/1/nvdimm0.img', Buffer.alloc(256 * 1024, 7));
    truncateSync(c.workDir + '/1/nvdimm0.img', 2 ** 30);
    console.log('claimed');
    setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => victim.stdout.on('data', (d) => String(d).includes('claimed') && r()));
  const live = await claimRun(join(root, 'results'), { workRoot: join(root, 'work'), makeId: () => 'live-run' });
  // From before leases: judged by age.
  mkdirSync(join(root, 'work/old-unleased/1'), { recursive: true });
  const old = new Date(Date.now() - 8 * 3600_000);
  utimesSync(join(root, 'work/old-unleased'), old, old);
  mkdirSync(join(root, 'work/new-unleased'));
  t.same((await pruneCache({ keepLast: 100, dryRun: true }, root)).orphans.map((o) => o.name), ['work/old-unleased'], 'the victim is not an orphan while it lives');
  victim.kill('SIGKILL');
  await new Promise((r) => victim.on('exit', r));
  const dry = await cli(['prune', '--keep-last', '100', '--dry-run']);
  t.match(dry.out, /would remove orphaned run work directory work\/dead-run \(2\d\dK\): its harness \(\d+@\S+\) is gone/);
  t.ok(existsSync(join(root, 'work/dead-run/1/nvdimm0.img')), 'dry run removes nothing');
  const real = await cli(['prune', '--keep-last', '100']);
  t.match(real.out, /removed orphaned run work directory work\/dead-run \(2\d\dK\)/);
  t.match(real.out, /removed orphaned run work directory work\/old-unleased \([\d.]+K\): unowned for 8 h/);
  t.match(real.out, /removed 2 orphaned work directories, 2\d\dK/, 'the bytes on disk, not the sparse size');
  t.same(readdirSync(join(root, 'work')).sort(), ['live-run', 'new-unleased'], "the live run's and a just-made one stay");
  t.ok(existsSync(live.workDir!));
});

t.test("a user's tree's mirror is listed by its last checkout, and goes with its worktree", async (t) => {
  const root = await cache();
  const id = 'git-linux-0badc0de';
  const mirror = join(root, 'kernel/mirrors', id);
  const wt = join(root, 'kernel/worktrees', id);
  const g = (...a: string[]) => spawnSync('git', a, { encoding: 'utf8' });
  const src = mkdtempSync(join(tmpdir(), 'daxh-cachecmd-src-'));
  g('-C', src, 'init', '-q');
  writeFileSync(join(src, 'f'), 'x');
  g('-C', src, '-c', 'user.name=t', '-c', 'user.email=t@t', 'add', 'f');
  g('-C', src, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'one');
  g('clone', '-q', '--bare', src, mirror);
  t.equal(g('-C', mirror, 'worktree', 'add', '-q', '--detach', wt, 'HEAD').status, 0);
  // The mirror's top was made long ago; the checkout just now.
  const old = new Date(Date.now() - 90 * DAY);
  utimesSync(mirror, old, old);
  const m = (await listCache(root)).find((e) => e.kind === 'kernel/mirrors');
  t.equal(m?.name, `kernel/mirrors/${id}`, 'listed');
  t.ok(Date.now() - m!.lastUsedMs < 3600_000, 'used when its worktree last checked out, not when it was made');
  t.ok(m!.bytes > 0);
  // Left alone for three months; the worktree's own directory stays recent.
  for (const d of [mirror, join(mirror, 'objects'), join(mirror, 'worktrees'), ...readdirSync(join(mirror, 'worktrees')).map((w) => join(mirror, 'worktrees', w))]) utimesSync(d, old, old);
  const r = await pruneCache({ olderThanMs: 30 * DAY }, root);
  t.notOk(r.removed.some((e) => e.kind === 'kernel/worktrees'), 'the worktree is not chosen by its own age');
  t.ok(r.removed.some((e) => e.name === `kernel/mirrors/${id}`), 'pruned');
  t.notOk(existsSync(mirror));
  t.notOk(existsSync(wt), 'and its worktree with it, not left pointing at nothing');
});
