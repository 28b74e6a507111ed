// Bad input to `dax-harness run`: one line naming the problem and the fix,
// a non-zero exit, and no run directory left behind.
import t from 'tap';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, existsSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';

const bin = join(import.meta.dirname, '..', '..', 'harness', 'bin', 'dax-harness.js');

/** Each case gets a cold cache of its own: bad input must be found before anything lands in it. */
function cli(args: string[], results: string, cache = mkdtempSync(join(tmpdir(), 'daxh-cache-'))) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [bin, ...args, '--results', results], { encoding: 'utf8', timeout: 60000, env: { ...process.env, DAX_HARNESS_CACHE: cache } });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: Date.now() - t0, cache };
}

function kernelTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-tree-'));
  for (const f of ['Makefile', 'Kbuild', 'arch/x86/Kconfig', 'scripts/kconfig/merge_config.sh', 'fs/dax.c']) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), '\n');
  }
  const g = (...a: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a]);
  g('init', '-q');
  g('add', '-A');
  g('commit', '-q', '-m', 'init');
  return dir;
}
const tree = kernelTree();
const notMbox = join(tree, 'notes.mbox');
writeFileSync(notMbox, 'just some words, no mail, no diff\n');

const cases: Array<[string, string[], RegExp]> = [
  ['unknown option', ['run', '--frobnicate'], /unknown option '--frobnicate'/],
  ['kernel path that does not exist', ['run', '--kernel', '/no/such/bzImage'], /--kernel \/no\/such\/bzImage does not exist/],
  ['misaligned NVDIMM size', ['run', '--nvdimm-size', '2049M'], /use --nvdimm-size 2050M/],
  ['memmap outside RAM', ['run', '--memmap', '4G!8G'], /outside guest RAM/],
  ['not a size', ['run', '--mem', 'lots'], /--mem "lots" is not a size/],
  ['bad accelerator', ['run', '--accel', 'hvf'], /--accel "hvf" is not kvm or tcg/],
  ['bad filesystem', ['run', '--fs', 'btrfs'], /--fs "btrfs" is not ext4 or xfs/],
  ['unknown image', ['run', '--image', 'nope'], /image recipe "nope" not found/],
  ['unknown command', ['frob'], /unknown command "frob"/],
  ['unknown suite', ['run', '--suite', 'bogus'], /--suite "bogus" is not smoke, stressors or ndctl/],
  ['ndctl suite without a tree', ['run', '--suite', 'ndctl'], /--suite ndctl needs --ndctl PATH/],
  ['not an ndctl tree', ['run', '--suite', 'ndctl', '--ndctl', '/tmp'], /--ndctl \/tmp has no meson.build/],
  ['unknown stressor', ['run', '--suite', 'stressors', '--test', 'nosuch'], /unknown stressor test "nosuch"/],
  ['--test on the smoke', ['run', '--test', 'x'], /--test x is not a test of the smoke: give dax-smoke\.ext4 or dax-smoke\.xfs \(or --fs\), or the --suite whose test it is/],
  ['a kernel tree that is not git', ['run', '--source', '/tmp'], /\/tmp is not a git repository/],
  ['a typo in a config profile', ['run', '--config', 'daxx'], /no config fragment "daxx"/],
  ['a series that does not exist', ['run', '--series', '/nope.mbox'], /series \/nope\.mbox does not exist/],
  ['an mbox with no patch in it', ['run', '--series', notMbox], /holds no patches/],
  ['a git range on a Debian source', ['run', '--series', 'v6.1..v6.2'], /is a git range, but the source is a Debian package/],
  ['a ref that is not in the tree', ['run', '--source', tree, '--ref', 'v9.99'], /ref "v9\.99" does not exist/],
  ['a ref that looks like an option', ['run', '--source', tree, '--ref=--output=/tmp/daxh-pwned'], /ref "--output=\/tmp\/daxh-pwned" does not exist/],
  ['a range that is not in the tree', ['run', '--source', tree, '--series', 'v1..v2'], /git range v1\.\.v2 is not valid/],
  ['--ref with a Debian source', ['run', '--ref', 'v6.1'], /--ref does not apply to a Debian package source/],
  ['memmap over the initramfs', ['run', '--memmap', '1G!1G'], /--memmap 1024M!1024M overlaps where QEMU loads the initramfs/],
  ['memmap over an NVDIMM', ['run', '--mem', '2G', '--memmap', '1G!4G'], /overlaps NVDIMM 0/],
];

for (const [name, args, re] of cases) {
  t.test(name, async (t) => {
    const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
    const r = cli(args, results);
    t.equal(r.code, 2, 'exit code 2');
    const lines = r.err.trim().split('\n');
    t.equal(lines.length, 1, `one line: ${r.err}`);
    t.match(lines[0], re);
    t.match(lines[0], /^dax-harness/);
    t.same(readdirSync(results), [], 'no run directory created');
    t.same(readdirSync(r.cache), [], 'nothing downloaded, unpacked or built: the cache is still empty');
  });
}

// How fast the line comes is a figure for bench/hostile-probes.ts (npm run
// bench:hostile -- --section input), not an assertion: a loaded machine would
// fail a timed test without anything being wrong.
t.test('the config typo is found before apt or a download', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  const r = cli(['run', '--config', 'dax,debgu-vm'], results);
  t.equal(r.code, 2, r.err);
  t.match(r.err, /no config fragment "debgu-vm"/);
  t.same(readdirSync(r.cache), [], 'the empty cache stays empty');
  t.same(readdirSync(results), [], 'no run directory created');
});

/**
 * argv as a user without privileges: root becomes nobody (root reads every
 * file and may install packages); anyone else already is such a user. tap
 * re-injects its hooks through NODE_OPTIONS (they would write as nobody):
 * env -u drops them.
 */
function unprivileged(argv: string[]): [string, string[]] {
  const plain = ['-u', 'NODE_OPTIONS', ...argv];
  return process.geteuid?.() === 0 ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', ...plain]] : ['env', plain];
}

t.test('an mbox the harness cannot read: one line, exit 2, before anything else', async (t) => {
  const secret = mkdtempSync(join(tmpdir(), 'daxh-secret-'));
  const mbox = join(secret, 'series.mbox');
  // Mode 000: unreadable to nobody and to its owner alike (neither has CAP_DAC_OVERRIDE).
  writeFileSync(mbox, 'From x\n', { mode: 0o000 });
  chmodSync(secret, 0o711);
  const cache = mkdtempSync(join(tmpdir(), 'daxh-cache-'));
  chmodSync(cache, 0o777);
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  chmodSync(results, 0o777);
  const r = spawnSync(...unprivileged([process.execPath, bin, 'run', '--series', mbox, '--results', results]), {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: '/tmp', DAX_HARNESS_CACHE: cache },
    timeout: 60000,
  });
  t.equal(r.status, 2, r.stderr);
  t.match(r.stderr.trim(), new RegExp(`^dax-harness run: series ${mbox} cannot be read \\(EACCES\\) — check the path and its permissions$`));
  t.same(readdirSync(cache), []);
});

t.test('a taken ssh port is refused before anything starts', async (t) => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  const r = cli(['run', '--ssh-port', String(port)], results);
  srv.close();
  t.equal(r.code, 2);
  t.match(r.err.trim(), new RegExp(`^dax-harness run: --ssh-port ${port} is taken on 127.0.0.1: pick another`));
  t.same(readdirSync(results), []);
});

t.test('--help is the manual and exits 0', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-res-'));
  const r = cli(['run', '--help'], results);
  t.equal(r.code, 0);
  t.match(r.out, /--nvdimm-size SIZE/);
  t.match(r.out, /Exit codes/);
  t.notOk(existsSync(join(results, 'run.json')));
});

t.test('a missing host package, not root: the exact apt-get line and exit non-zero', async (t) => {
  // Runs the real check as an unprivileged user against a package whose
  // file cannot exist, so the non-root path is exercised for real.
  const code = `
    const { ensurePackages } = await import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'harness', 'src', 'host', 'apt.ts'))});
    try { await ensurePackages({ 'no-such-pkg-daxh': ['/nonexistent/daxh-tool'] }, () => {}); console.log('NO ERROR'); }
    catch (e) { console.log(e.name + ': ' + e.message); }`;
  const r = spawnSync(...unprivileged([process.execPath, '--import', 'tsx', '--input-type=module', '-e', code]), {
    encoding: 'utf8',
    cwd: join(import.meta.dirname, '..', '..'),
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp' },
    timeout: 60000,
  });
  t.match(r.stdout.trim(), /^HostSetupError: missing host packages no-such-pkg-daxh: run as root: apt-get install -y --no-install-recommends no-such-pkg-daxh$/, r.stderr);
});
