// A kept guest on a shared host, on a real guest: after run --keep, the
// owner's socket, token and ssh key and QEMU's QMP socket are private (0600
// in 0700 directories) whatever the umask; guest.json records its owner so
// that it can be told from a later process with its pid; a stranger uid
// (setpriv, as another user on the host would be) is refused by attach and
// stop in one line and cannot reach either socket, and the guest stays up
// for its owner, who can still attach and stop it.
// Boots one guest: run it under the heavy lock (flock /tmp/daxh-heavy.lock).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGuest, GUEST_DIR, type GuestInfo } from '../../harness/src/workflows/kept.ts';
import { checkProcess, pidAlive, procIdentity } from '../../harness/src/host/pid.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = join(repo, 'harness/bin/dax-harness.js');
const isRoot = process.getuid?.() === 0;
const mode = (p: string) => (lstatSync(p).mode & 0o777).toString(8);

function cli(args: string[], timeoutMs = 900000): { status: number | null; stdout: string; stderr: string } {
  // Under the usual 022 umask the sockets were 0755 before (the unit tests check a 000 umask).
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const home = mkdtempSync(join(tmpdir(), 'daxh-nobody-'));
chmodSync(home, 0o777);
/** As uid/gid 65534 with no groups; env -i: nothing of ours (tap's hooks included) comes along. */
function asStranger(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-i', `PATH=${process.env.PATH}`, `HOME=${home}`, process.execPath, ...args], {
    encoding: 'utf8',
    timeout: 120000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** QEMU's QMP socket for this run, from the command line of the QEMU running it. */
function qmpSocketOf(run: string): string | null {
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = argv.indexOf('-qmp');
    if (i < 0 || !argv.some((a) => a.includes(`/${run}/`))) continue;
    const m = /^unix:(.*?),server/.exec(argv[i + 1] ?? '');
    if (m) return m[1]!.replace(/,,/g, ',');
  }
  return null;
}

t.test('run --keep: private sockets; a stranger refused by attach and stop; the owner still served', async (t) => {
  const results = mkdtempSync(join(tmpdir(), 'daxh-perms-'));
  // Readable by others, as a shared results directory is: the guest's own files must guard themselves.
  chmodSync(results, 0o755);
  const kept = cli(['run', '--keep', '--results', results]);
  t.equal(kept.status, 0, `run --keep: ${kept.stderr.split('\n').slice(-3).join(' | ')}`);
  const id = readdirSync(results).find((d) => existsSync(join(results, d, 'guest.json')));
  if (!id) return t.fail('no kept guest');
  const info = (await readGuest(join(results, id))) as GuestInfo;
  t.teardown(() => {
    if (pidAlive(info.owner.pid)) cli(['stop', '--results', results, info.run], 120000);
  });
  const dir = info.runDir;

  t.equal(mode(join(dir, GUEST_DIR)), '700', 'RUN/guest/ 0700');
  t.ok(lstatSync(join(dir, GUEST_DIR, 'sock')).isSocket());
  t.equal(mode(join(dir, GUEST_DIR, 'sock')), '600', 'the keeper socket 0600');
  t.equal(mode(join(dir, GUEST_DIR, 'token')), '600', 'its token 0600');
  t.equal(mode(join(dir, 'ssh')), '700', 'RUN/ssh/ 0700');
  t.equal(mode(join(dir, 'ssh', 'key')), '600', 'the ssh key 0600');
  const qmp = qmpSocketOf(info.run);
  t.ok(qmp, "QEMU's QMP socket found on its command line");
  if (qmp) {
    t.equal(mode(dirname(qmp)), '700', "QMP socket's directory 0700");
    t.equal(mode(qmp), '600', 'QMP socket 0600');
  }
  t.same(procIdentity(info.owner.pid), { pid: info.owner.pid, startTime: info.owner.startTime, cmdline: info.owner.cmdline }, "guest.json records the keeper's start time and command line");
  t.equal(checkProcess(info.owner), 'same');

  if (!isRoot || !existsSync('/usr/bin/setpriv')) {
    t.comment('the stranger part needs root and setpriv: skipped');
  } else {
    for (const [cmd, verb] of [['attach', 'attach to'], ['stop', 'stop']] as const) {
      const r = asStranger([bin, cmd, '--results', results, info.run]);
      t.equal(r.status, 2, `a stranger's ${cmd}: exit 2`);
      t.equal(r.stderr, `dax-harness ${cmd}: the guest of ${info.run} was started by uid 0 (root): only that user or root may ${verb} it\n`, `a stranger's ${cmd}: one line`);
    }
    const connect = (path: string) =>
      asStranger(['-e', `const s = require('node:net').createConnection(${JSON.stringify(path)}); s.on('connect', () => { console.log('connected'); s.destroy(); }).on('error', (e) => console.log(e.code))`]).stdout.trim();
    t.equal(connect(join(dir, GUEST_DIR, 'sock')), 'EACCES', 'a stranger cannot reach the keeper socket');
    if (qmp) t.equal(connect(qmp), 'EACCES', 'nor the QMP socket');
  }

  t.ok(checkProcess(info.owner) === 'same', 'the guest is still up');
  const own = cli(['attach', '--results', results, info.run, '--', 'true'], 120000);
  t.equal(own.status, 0, `the owner still attaches: ${own.stderr.trim()}`);
  const stop = cli(['stop', '--results', results, info.run], 120000);
  t.equal(stop.status, 0, `the owner stops it: ${stop.stderr.trim()}`);
  t.equal(checkProcess(info.owner), 'gone', 'the keeper is gone');
  t.notOk(existsSync(join(dir, GUEST_DIR)), 'its socket directory with it');
  if (qmp) t.notOk(existsSync(qmp), 'and the QMP socket');
});
