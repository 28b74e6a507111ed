// Bad input to `dax-harness run`: one line naming the problem and the fix,
// a non-zero exit, and no run directory left behind.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = join(import.meta.dirname, '..', '..', 'harness', 'bin', 'dax-harness.js');

function cli(args: string[], results: string) {
  const r = spawnSync(process.execPath, [bin, ...args, '--results', results], { encoding: 'utf8', timeout: 60000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const cases: Array<[string, string[], RegExp]> = [
  ['unknown option', ['run', '--frobnicate'], /Unknown option '--frobnicate'/],
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
  ['--test on the smoke', ['run', '--test', 'x'], /--test goes with --suite stressors or --suite ndctl/],
  ['a kernel tree that is not git', ['run', '--source', '/tmp'], /\/tmp is not a git repository/],
  ['a typo in a config profile', ['run', '--config', 'daxx'], /no config fragment "daxx"/],
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
  });
}

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
  // Runs the real check as an unprivileged user (nobody) against a package
  // whose file cannot exist, so the non-root path is exercised for real.
  const code = `
    const { ensurePackages } = await import(${JSON.stringify(join(import.meta.dirname, '..', '..', 'harness', 'src', 'host', 'apt.ts'))});
    try { await ensurePackages({ 'no-such-pkg-daxh': ['/nonexistent/daxh-tool'] }, () => {}); console.log('NO ERROR'); }
    catch (e) { console.log(e.name + ': ' + e.message); }`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-u', 'NODE_OPTIONS', process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    cwd: join(import.meta.dirname, '..', '..'),
    // tap re-injects its hooks through NODE_OPTIONS (they would write as nobody): env -u drops them.
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp' },
    timeout: 60000,
  });
  t.match(r.stdout.trim(), /^HostSetupError: missing host packages no-such-pkg-daxh: run as root: apt-get install -y --no-install-recommends no-such-pkg-daxh$/, r.stderr);
});
