// `dax-harness build` on bad input: one line on stderr, non-zero exit, and
// nothing built. None of these cases reaches make.
import t from 'tap';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { run } from '../../harness/src/host/proc.js';
import { buildCommand } from '../../harness/src/cli/build.js';

// A cold cache of our own: no input case may put anything in it (no apt-get download, no unpack).
const cache = await mkdtemp(join(tmpdir(), 'dax-cli-cache-'));
process.env.DAX_HARNESS_CACHE = cache;

async function cli(argv: string[]): Promise<{ code: number; err: string; out: string }> {
  let err = '';
  let out = '';
  const we = process.stderr.write.bind(process.stderr);
  const wo = process.stdout.write.bind(process.stdout);
  process.stderr.write = ((c: string | Uint8Array) => ((err += String(c)), true)) as typeof process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => ((out += String(c)), true)) as typeof process.stdout.write;
  try {
    const code = await buildCommand(argv);
    return { code, err, out };
  } finally {
    process.stderr.write = we;
    process.stdout.write = wo;
  }
}

const lastLine = (s: string) => s.trim().split('\n').pop() ?? '';

async function gitRepo(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dax-cli-'));
  for (const [f, text] of Object.entries(files)) {
    await mkdir(join(dir, f, '..'), { recursive: true });
    await writeFile(join(dir, f), text);
  }
  const g = (args: string[]) => run('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { timeoutMs: 60_000 });
  await g(['init', '-q']);
  await g(['add', '-A']);
  await g(['commit', '-q', '-m', 'init']);
  return dir;
}

const kernelish = {
  Makefile: 'all:\n',
  Kbuild: '',
  'arch/x86/Kconfig': '',
  'scripts/kconfig/merge_config.sh': '',
  'fs/dax.c': 'int x;\n',
};

t.test('--help is the manual', async (t) => {
  const r = await cli(['--help']);
  t.equal(r.code, 0);
  t.match(r.out, /usage: dax-harness build/);
  t.match(r.out, /--series FILE\.mbox/);
});

t.test('unknown option: usage error, one line', async (t) => {
  const r = await cli(['--bogus']);
  t.equal(r.code, 2);
  t.equal(r.err.trim().split('\n').length, 1);
  t.match(r.err, /^dax-harness build: unknown option '--bogus'.*dax-harness build --help/);
});

t.test('not a git repository', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dax-cli-'));
  const r = await cli(['--source', dir]);
  t.equal(r.code, 2);
  t.match(lastLine(r.err), /^dax-harness build: .* is not a git repository — /);
});

t.test('a git tree that is not a kernel', async (t) => {
  const dir = await gitRepo({ 'README.md': 'hello\n' });
  const r = await cli(['--source', dir]);
  t.equal(r.code, 2);
  t.match(lastLine(r.err), /is not a Linux kernel tree \(no Makefile\) — /);
});

t.test('a ref that does not exist', async (t) => {
  const dir = await gitRepo(kernelish);
  const r = await cli(['--source', dir, '--ref', 'v9.99-nope']);
  t.equal(r.code, 2);
  t.match(lastLine(r.err), /^dax-harness build: ref "v9\.99-nope" does not exist in .* — /);
});

t.test('an mbox with no patches', async (t) => {
  const dir = await gitRepo(kernelish);
  const mbox = join(dir, '..', `cover-only-${process.pid}.mbox`);
  await writeFile(mbox, 'From x Mon Sep 17 00:00:00 2001\nFrom: a <a@b>\nSubject: [PATCH 0/2] cover\n\nJust words.\n');
  const r = await cli(['--source', dir, '--series', mbox, '--json']);
  t.equal(r.code, 2);
  t.match(lastLine(r.err), /holds no patches .* — pass an mbox/);
  t.match(JSON.parse(r.out), { error: { type: 'SeriesError' } });
});

t.test('a fragment name with a typo', async (t) => {
  const dir = await gitRepo(kernelish);
  const r = await cli(['--source', dir, '--config', 'dax,debgu-vm']);
  t.equal(r.code, 2);
  t.match(lastLine(r.err), /no config fragment "debgu-vm" — choose from: .*debug-vm/);
});

t.test('a series that does not exist, on the default Debian source: found before any download', async (t) => {
  const r = await cli(['--series', '/nope.mbox']);
  t.equal(r.code, 2);
  t.match(lastLine(r.err), /^dax-harness build: series \/nope\.mbox does not exist — /);
});

t.test('a ref given as an option is still only a ref', async (t) => {
  const dir = await gitRepo(kernelish);
  const r = await cli(['--source', dir, '--ref=--output=/tmp/dax-cli-pwned']);
  t.equal(r.code, 2);
  t.match(lastLine(r.err), /ref "--output=\/tmp\/dax-cli-pwned" does not exist/);
});

t.test('bad --jobs and --config-base values', async (t) => {
  t.equal((await cli(['--jobs', 'two'])).code, 2);
  t.equal((await cli(['--config-base', 'allyesconfig'])).code, 2);
});

t.test('no input case put anything in the cache (no download, no unpack)', async (t) => {
  t.same(readdirSync(cache), []);
});
