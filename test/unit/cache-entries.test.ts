// The cache shared by harness processes: one builds each entry while the other
// waits and reuses it, damaged entries are found and rebuilt, and nothing a
// live process uses is deleted under it. Races use real node processes.
import t from 'tap';
import { spawn as nodeSpawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync, statSync, utimesSync, truncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCached, openCached, verifyEntry, writeFileAtomic, writeJsonAtomic, removeGarbage } from '../../harness/src/host/fsutil.ts';

const FSUTIL = join(import.meta.dirname, '..', '..', 'harness', 'src', 'host', 'fsutil.ts');

function nodeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** A harness-like process that asks for the given entries in order; each build takes holdMs. */
function asker(root: string, entries: string[], holdMs: number, logFile: string) {
  const code = `
    const { buildCached } = await import(${JSON.stringify(FSUTIL)});
    const { appendFileSync, readFileSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    for (const e of ${JSON.stringify(entries)}) {
      const dir = join(${JSON.stringify(root)}, e);
      await buildCached(dir, async (tmp) => {
        appendFileSync(${JSON.stringify(logFile)}, e + ' built by ' + process.pid + '\\n');
        await new Promise((r) => setTimeout(r, ${holdMs}));
        writeFileSync(join(tmp, 'data'), 'made by ' + process.pid + '\\n');
      });
      console.log(e + ' ' + readFileSync(join(dir, 'data'), 'utf8').trim());
    }`;
  const child = nodeSpawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: nodeEnv(), cwd: join(import.meta.dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (err += String(d)));
  return new Promise<{ code: number | null; out: string; err: string }>((r) => child.on('exit', (code) => r({ code, out, err })));
}

t.test('two processes on a cold cache: each entry built once, both use the same one', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-cache-'));
  const log = join(root, 'builds.log');
  writeFileSync(log, '');
  const [a, b] = await Promise.all([asker(root, ['kernel', 'image'], 800, log), asker(root, ['image', 'kernel'], 800, log)]);
  t.equal(a.code, 0, a.err);
  t.equal(b.code, 0, b.err);
  const builds = readFileSync(log, 'utf8').trim().split('\n').sort();
  t.equal(builds.length, 2, `one build per entry: ${builds.join(', ')}`);
  t.same(builds.map((l) => l.split(' ')[0]), ['image', 'kernel']);
  const seen = (out: string) => Object.fromEntries(out.trim().split('\n').map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
  t.same(seen(a.out), seen(b.out), 'both read the same entry');
  t.same(readdirSync(root).sort(), ['builds.log', 'image', 'kernel'], 'no temp dir, lock or trash left');
});

async function entry(root: string, name: string, files: Record<string, string>): Promise<string> {
  const dir = join(root, name);
  await buildCached(dir, async (tmp) => {
    for (const [f, text] of Object.entries(files)) writeFileSync(join(tmp, f), text);
  });
  return dir;
}

t.test('damaged entries are found and rebuilt, not read', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-cache-'));
  const big = 'x'.repeat(2 << 20);
  const damage: Array<[string, (dir: string) => void, RegExp]> = [
    ['missing marker', (d) => rmSync(join(d, '.complete')), /marker/],
    ['missing manifest', (d) => rmSync(join(d, '.manifest.json')), /manifest/],
    ['truncated file', (d) => truncateSync(join(d, 'big.bin'), 1000), /big\.bin is 1000 bytes/],
    ['missing file', (d) => rmSync(join(d, 'record.json')), /record\.json is missing/],
    ['small file rewritten, same size', (d) => writeFileSync(join(d, 'record.json'), '{"a":2}'), /record\.json changed/],
    ['big file overwritten in place', (d) => writeFileSync(join(d, 'big.bin'), 'y'.repeat(2 << 20)), /big\.bin changed/],
  ];
  for (const [name, hurt, why] of damage) {
    const dir = await entry(root, name.replace(/\W+/g, '-'), { 'record.json': '{"a":1}', 'big.bin': big });
    t.equal(await verifyEntry(dir), null, `${name}: whole before`);
    hurt(dir);
    t.match(await verifyEntry(dir), why, `${name}: found`);
    const logs: string[] = [];
    let rebuilt = false;
    await buildCached(dir, async (tmp) => {
      rebuilt = true;
      writeFileSync(join(tmp, 'record.json'), '{"a":1}');
      writeFileSync(join(tmp, 'big.bin'), big);
    }, { log: (m) => logs.push(m) });
    t.ok(rebuilt, `${name}: rebuilt`);
    t.equal(await verifyEntry(dir), null, `${name}: whole after`);
    t.equal(readFileSync(join(dir, 'record.json'), 'utf8'), '{"a":1}');
  }
  t.notOk(readdirSync(root).some((n) => /\.(tmp|trash)-|\.lock$/.test(n)), 'no leftovers');
});

t.test('a full verification catches an overwrite that kept size and mtime', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-cache-'));
  const dir = await entry(root, 'e', { 'record.json': '{"a":1}' });
  const f = join(dir, 'record.json');
  const st = statSync(f);
  writeFileSync(f, '{"a":2}');
  utimesSync(f, st.atime, st.mtime);
  t.match(await verifyEntry(dir, true), /record\.json changed/);
});

t.test("a git repository inside an entry is git's to change", async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-cache-'));
  const dir = join(root, 'src');
  await buildCached(dir, async (tmp) => {
    spawnSync('mkdir', ['-p', join(tmp, 'repo/.git/objects')]);
    writeFileSync(join(tmp, 'repo/Makefile'), 'all:\n');
    writeFileSync(join(tmp, 'repo/.git/objects/loose'), 'x');
  });
  rmSync(join(dir, 'repo/.git/objects/loose'));
  writeFileSync(join(dir, 'repo/.git/objects/pack'), 'gc packed it');
  t.equal(await verifyEntry(dir), null, 'a gc under .git is not damage');
  truncateSync(join(dir, 'repo/Makefile'), 0);
  t.match(await verifyEntry(dir), /repo\/Makefile is 0 bytes/, 'the tree itself is checked');
});

t.test('an entry made before manifests existed is adopted, not rebuilt', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-cache-'));
  const dir = join(root, 'old');
  spawnSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, 'kernel.json'), '{}');
  writeFileSync(join(dir, '.complete'), '2025-01-01T00:00:00.000Z\n');
  t.ok(await openCached(dir));
  t.ok(existsSync(join(dir, '.manifest.json')));
  t.equal(await verifyEntry(dir), null);
});

t.test('an entry in use is never deleted: a forced rebuild moves it aside until its user is gone', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-cache-'));
  const dir = await entry(root, 'img', { 'image.cpio': 'v1' });
  // Another process takes the entry into use and keeps running.
  const code = `
    const { openCached } = await import(${JSON.stringify(FSUTIL)});
    console.log(await openCached(${JSON.stringify(dir)}) ? 'using' : 'no');
    setTimeout(() => {}, 60000);`;
  const user = nodeSpawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: nodeEnv(), cwd: join(import.meta.dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => user.stdout.on('data', (d) => String(d).includes('using') && r()));
  await buildCached(dir, async (tmp) => writeFileSync(join(tmp, 'image.cpio'), 'v2'), { force: true });
  t.equal(readFileSync(join(dir, 'image.cpio'), 'utf8'), 'v2');
  const trash = readdirSync(root).filter((n) => n.startsWith('img.trash-'));
  t.equal(trash.length, 1, 'the old entry is kept while its user lives');
  t.equal(readFileSync(join(root, trash[0]!, 'image.cpio'), 'utf8'), 'v1');
  user.kill('SIGKILL');
  await new Promise((r) => user.on('exit', r));
  t.same(await removeGarbage(dir), trash, 'and removed once its user is dead');
});

t.test('a dead builder leaves a temp dir that the next build removes', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-cache-'));
  const dead = spawnSync('true').pid!;
  spawnSync('mkdir', ['-p', join(root, `k.tmp-${dead}-abcdef`)]);
  await entry(root, 'k', { a: '1' });
  t.same(readdirSync(root), ['k']);
});

t.test('atomic writes: no temp left, dead writers\' temps cleaned, private mode kept whatever the umask', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-atomic-'));
  const dead = spawnSync('true').pid!;
  writeFileSync(join(root, `.run.json.${dead}-0badf00d.tmp`), '{"half":');
  writeFileSync(join(root, `.run.json.${process.pid}-0000beef.tmp`), 'a live writer');
  await writeJsonAtomic(join(root, 'run.json'), { ok: true });
  t.same(readdirSync(root).sort(), [`.run.json.${process.pid}-0000beef.tmp`, 'run.json'], "the dead writer's temp is gone, the live one's kept");
  const old = process.umask(0);
  try {
    await writeFileAtomic(join(root, 'key.json'), 'secret', { mode: 0o600 });
  } finally {
    process.umask(old);
  }
  t.equal(statSync(join(root, 'key.json')).mode & 0o777, 0o600);
});
