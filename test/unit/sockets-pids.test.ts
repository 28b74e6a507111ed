// Sockets and pid files, with real processes and real files and no guest:
// a pid is signalled only while it still names the process recorded (a
// child killed, one exec'ing another program, one given a recycled pid);
// removals stay inside their directory whatever a file says; the kept
// guest's directory, socket, token and key are private whatever the umask;
// its owner refuses a client without the token; and a stranger uid is
// refused by attach and stop in one line, its guest left alone.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkProcess, procIdentity, signalRecorded, startTimeOf } from '../../harness/src/host/pid.js';
import { notPrivate, privateDir, removeInside, resolveInside, socketPath } from '../../harness/src/host/private.js';
import { GuestHost, bootId, connectHost, guestRefusal, userLabel, GUEST_DIR, GUEST_FILE, GuestRefusedError, type GuestInfo, type HostEvent } from '../../harness/src/workflows/kept.js';
import { stopCommand } from '../../harness/src/cli/attach.js';
import { ConsoleStream } from '../../harness/src/vm/console.js';
import type { Session } from '../../harness/src/workflows/session.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = join(repo, 'harness/bin/dax-harness.js');
const isRoot = process.getuid?.() === 0;
const mode = (p: string) => (lstatSync(p).mode & 0o777).toString(8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sleeper(args = ['30']): ChildProcess {
  const c = spawn('sleep', args, { stdio: 'ignore' });
  t.teardown(() => void c.kill('SIGKILL'));
  return c;
}

async function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise((r) => c.once('exit', r));
}

t.test('field 22 of /proc/PID/stat, whatever the command name holds', async (t) => {
  const tail = 'S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21';
  t.equal(startTimeOf(`77 (sleep) ${tail}`), '424242');
  t.equal(startTimeOf(`77 (a) b (c d) ${tail}`), '424242', 'spaces and parentheses in comm');
  t.equal(startTimeOf('77 (x) S 1 2'), null, 'cut short');
  const me = procIdentity(process.pid)!;
  t.match(me.startTime, /^\d+$/);
  t.ok(me.cmdline.some((a) => a.endsWith('sockets-pids.test.ts')), 'this test file is on its command line');
});

t.test('a recorded child: same while it runs, gone once killed, never signalled after', async (t) => {
  const c = sleeper();
  await sleep(50);
  const rec = procIdentity(c.pid!)!;
  t.same(rec.cmdline, ['sleep', '30']);
  t.equal(checkProcess(rec), 'same');
  t.equal(checkProcess({ pid: rec.pid }), 'unknown', 'a record with no start time or command line cannot be verified');
  t.equal(signalRecorded({ pid: rec.pid }, 'SIGTERM'), 'unknown', 'and is not signalled');
  t.equal(c.exitCode ?? c.signalCode, null, 'the child still runs');
  t.equal(signalRecorded(rec, 'SIGTERM'), 'same', 'the recorded process itself is signalled');
  await exited(c);
  t.equal(c.signalCode, 'SIGTERM');
  t.equal(checkProcess(rec), 'gone');
  t.equal(signalRecorded(rec, 'SIGKILL'), 'gone');
});

t.test('the same pid running another program, or started at another time, is another process', async (t) => {
  // exec keeps the pid and the start time and changes the command line.
  const c = spawn('sh', ['-c', 'read x; exec sleep 31'], { stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => void c.kill('SIGKILL'));
  await sleep(50);
  const rec = procIdentity(c.pid!)!;
  t.equal(checkProcess(rec), 'same');
  c.stdin!.end('go\n');
  const until = Date.now() + 5000;
  while (procIdentity(c.pid!)?.cmdline[0] !== 'sleep' && Date.now() < until) await sleep(20);
  t.equal(checkProcess(rec), 'other', 'the command line differs');
  t.equal(signalRecorded(rec, 'SIGKILL'), 'other');
  await sleep(50);
  t.equal(c.exitCode ?? c.signalCode, null, 'and it was left alone');
  const now = procIdentity(c.pid!)!;
  t.equal(checkProcess({ ...now, startTime: String(Number(now.startTime) + 1) }), 'other', 'the start time differs');
});

t.test('a pid handed out again (forced through ns_last_pid) is not taken for the recorded process', { skip: isRoot ? false : 'needs root to write /proc/sys/kernel/ns_last_pid' }, async (t) => {
  // Other processes on the host fork too: try until the kernel gives the old pid back.
  for (let i = 0; i < 30; i++) {
    const a = sleeper(['32']);
    await sleep(20);
    const rec = procIdentity(a.pid!)!;
    a.kill('SIGKILL');
    await exited(a);
    // Start times are in clock ticks: let one pass so the twin cannot share it.
    await sleep(30);
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(rec.pid - 1));
    const b = sleeper(['32']);
    if (b.pid !== rec.pid) {
      b.kill('SIGKILL');
      continue;
    }
    await sleep(20);
    t.same(procIdentity(b.pid!)!.cmdline, rec.cmdline, 'the same pid, running the same command line');
    t.equal(checkProcess(rec), 'other', 'yet another process: its start time differs');
    t.equal(signalRecorded(rec, 'SIGKILL'), 'other');
    await sleep(50);
    t.equal(b.exitCode ?? b.signalCode, null, 'the newcomer was left alone');
    return;
  }
  t.fail('the kernel never handed the pid out again in 30 tries');
});

t.test('removals stay inside their directory, whatever a file names', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-inside-'));
  const run = join(root, 'run');
  const outside = join(root, 'outside');
  mkdirSync(join(run, 'ssh'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'precious'), 'x');
  writeFileSync(join(run, 'ssh', 'key'), 'k');
  symlinkSync(outside, join(run, 'escape'));
  t.equal(await resolveInside(run, 'ssh/key'), join(run, 'ssh', 'key'));
  t.equal(await resolveInside(run, join(run, 'ssh')), join(run, 'ssh'), 'absolute, inside');
  t.equal(await resolveInside(run, '../outside/precious'), null, '..');
  t.equal(await resolveInside(run, join(outside, 'precious')), null, 'absolute, outside');
  t.equal(await resolveInside(run, 'escape/precious'), null, 'through a symlinked directory');
  t.equal(await resolveInside(run, '.'), null, 'the directory itself');
  t.equal(await resolveInside(run, run), null);
  t.equal(await resolveInside(run, 'escape'), join(run, 'escape'), 'the symlink itself is inside (rm takes the link, not its target)');

  t.notOk(await removeInside(run, 'escape/precious'));
  t.notOk(await removeInside(run, join(outside, 'precious')));
  t.ok(await removeInside(run, 'escape'));
  t.ok(existsSync(join(outside, 'precious')), 'nothing outside went');
  t.notOk(existsSync(join(run, 'escape')), 'the link did');
  t.ok(await removeInside(run, 'ssh'));
  t.notOk(existsSync(join(run, 'ssh')));
});

t.test('stop of a dead guest removes its own files only, and never signals a recycled pid', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-stale-'));
  const run = join(root, 'r-stale');
  const outside = join(root, 'outside');
  mkdirSync(outside);
  for (const f of ['victim.sock', 'precious']) writeFileSync(join(outside, f), 'x');
  mkdirSync(join(run, 'ssh'), { recursive: true });
  // Its private directory swapped for a link to someone else's files.
  symlinkSync(outside, join(run, GUEST_DIR));
  writeFileSync(join(run, 'run.json'), JSON.stringify({ schema: 1, id: 'r-stale', status: 'running', reason: '', startedAt: '', endedAt: null, tests: [], crashes: [] }));
  // The pid now runs something else (a live sleep of ours): a recycled pid.
  const bystander = sleeper(['33']);
  await sleep(50);
  const now = procIdentity(bystander.pid!)!;
  const info: Partial<GuestInfo> = {
    schema: 1,
    run: 'r-stale',
    runDir: outside,
    mode: 'kept',
    owner: { pid: now.pid, hostname: hostname(), bootId: bootId(), startTime: '1', cmdline: ['node', 'keeper.ts'] },
    socket: join(outside, 'victim.sock'),
    ssh: { host: '127.0.0.1', port: 1, user: 'root', identity: join(outside, 'precious'), knownHosts: '', config: '', hostKey: '' },
  };
  writeFileSync(join(run, GUEST_FILE), JSON.stringify(info));
  let out = '';
  const ow = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  let code: number;
  try {
    code = await stopCommand([run]);
  } finally {
    process.stdout.write = ow;
  }
  t.equal(code, 0);
  t.match(out, /r-stale: the guest was not up \(its owner \(pid \d+\) died and the pid now belongs to another process.*\); cleaned up after it/);
  t.equal(bystander.exitCode ?? bystander.signalCode, null, 'the process now holding the pid was not signalled');
  t.ok(existsSync(join(outside, 'victim.sock')) && existsSync(join(outside, 'precious')), 'nothing guest.json named outside the run went');
  t.notOk(existsSync(join(run, GUEST_FILE)), 'the stale record is gone');
  t.notOk(existsSync(join(run, 'ssh')));
  t.notOk(existsSync(join(run, GUEST_DIR)), 'the link (not its target)');
});

t.test('private directories: 0700 whatever the umask, and a usurped one is refused', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-priv-'));
  const old = process.umask(0);
  try {
    await privateDir(join(root, 'a', 'b'));
  } finally {
    process.umask(old);
  }
  t.equal(mode(join(root, 'a', 'b')), '700');
  mkdirSync(join(root, 'wide'), { mode: 0o777 });
  chmodSync(join(root, 'wide'), 0o777);
  await privateDir(join(root, 'wide'));
  t.equal(mode(join(root, 'wide')), '700', 'one that was there is narrowed');
  symlinkSync(root, join(root, 'link'));
  await t.rejects(privateDir(join(root, 'link')), /is not a directory \(a symlink/);
  t.equal(await notPrivate(join(root, 'wide')), null);
  chmodSync(join(root, 'wide'), 0o750);
  t.match(await notPrivate(join(root, 'wide')), /mode 750, not 700/);
  t.match(await notPrivate(join(root, 'link')), /symlink/);
  if (isRoot) {
    mkdirSync(join(root, 'theirs'));
    spawnSync('chown', ['65534:65534', join(root, 'theirs')]);
    await t.rejects(privateDir(join(root, 'theirs')), /belongs to uid 65534, not to this user/);
  }
});

t.test('a socket path too long for sun_path reaches the same file through the open directory', async (t) => {
  const deep = join(mkdtempSync(join(tmpdir(), 'daxh-long-')), 'x'.repeat(110));
  await privateDir(deep);
  const a = socketPath(deep, 'sock');
  t.match(a.path, /^\/proc\/self\/fd\/\d+\/sock$/);
  a.release();
  const short = socketPath(tmpdir(), 'sock');
  t.equal(short.path, join(tmpdir(), 'sock'));
});

/** The parts of a Session the owner's side uses. */
function fakeSession(): Session {
  const console = new ConsoleStream();
  return { spec: { sshPort: 1 }, machine: { console, exited: new Promise(() => {}), pid: 4242 } } as unknown as Session;
}
const image = { sshPrivateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----', hostKeyBlob: Buffer.from('\0\0\0\x0bssh-ed25519xxxx', 'latin1').toString('base64') };

async function startHost(runDir: string, run: string): Promise<GuestHost> {
  // A permissive umask: the modes must not come from it.
  const old = process.umask(0);
  try {
    const h = await GuestHost.start({ session: fakeSession(), image, runDir, run, mode: 'kept', idleLimitMs: null, onCrash: () => {} });
    t.teardown(() => h.close());
    return h;
  } finally {
    process.umask(old);
  }
}

/** Connect to a unix socket and send one line; the events the other side answers with until it closes. */
async function rawClient(path: string, line: string): Promise<HostEvent[]> {
  const s = createConnection(path);
  const evs: HostEvent[] = [];
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => {
    buf += d;
    for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) evs.push(JSON.parse(buf.slice(0, nl)) as HostEvent);
  });
  s.on('connect', () => s.write(line));
  await new Promise((r) => {
    s.on('close', r);
    s.on('error', r);
  });
  return evs;
}

t.test("the kept guest's files: private directory, 0600 socket, token and key, under a 000 umask", async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-modes-'));
  const runDir = join(root, 'r1');
  const host = await startHost(runDir, 'r1');
  const info = host.info;
  t.equal(info.socket, join(runDir, GUEST_DIR, 'sock'));
  t.equal(mode(join(runDir, GUEST_DIR)), '700', 'guest/ 0700');
  t.ok(lstatSync(info.socket).isSocket());
  t.equal(mode(info.socket), '600', 'the socket 0600');
  t.equal(mode(join(runDir, GUEST_DIR, 'token')), '600', 'the token 0600');
  t.equal(mode(join(runDir, 'ssh')), '700', 'ssh/ 0700');
  t.equal(mode(info.ssh.identity), '600', 'the key 0600');
  t.match(readFileSync(join(runDir, GUEST_DIR, 'token'), 'utf8'), /^[0-9a-f]{64}\n$/, '256 random bits');
  t.same(procIdentity(process.pid), { pid: process.pid, startTime: info.owner.startTime, cmdline: info.owner.cmdline }, 'guest.json records its owner so it can be told from a later process');
  t.equal(info.owner.uid, process.getuid!());
});

t.test('the owner refuses a client without the token and does not count it as attached', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-token-'));
  const runDir = join(root, 'r1');
  const host = await startHost(runDir, 'r1');
  let stopped = false;
  void host.stopped().then(() => (stopped = true));
  for (const line of ['{"cmd":"stop"}\n', `{"cmd":"stop","token":"${'0'.repeat(64)}"}\n`, '{"cmd":"hello","token":7}\n']) {
    const evs = await rawClient(host.info.socket, line);
    t.match(evs, [{ event: 'refused', why: /token is wrong or missing: only the user who started the guest, or root/ }], line.trim());
  }
  const flood = await rawClient(host.info.socket, 'x'.repeat(64 * 1024));
  t.same(flood, [], 'an endless first line is cut off, unanswered');
  await sleep(50);
  t.notOk(stopped, 'no stop without the token');
  t.equal(host.attached(), 0);
  const ok = await connectHost(runDir, () => {});
  t.equal(host.attached(), 1, 'the token gets in');
  ok.close();

  // Loosened by hand: the client no longer trusts the socket with its token.
  chmodSync(join(runDir, GUEST_DIR), 0o755);
  await t.rejects(connectHost(runDir, () => {}), GuestRefusedError);
  await t.rejects(connectHost(runDir, () => {}), /not trusting the guest's socket: .* has mode 755, not 700/);
  chmodSync(join(runDir, GUEST_DIR), 0o700);
});

t.test('who may attach or stop: the owner and root', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-who-'));
  mkdirSync(join(dir, GUEST_DIR));
  const uid = statSync(join(dir, GUEST_DIR)).uid;
  t.equal(await guestRefusal(dir, 'r1', 'stop', uid), null, 'the owner');
  t.equal(await guestRefusal(dir, 'r1', 'stop', 0), null, 'root');
  t.equal(await guestRefusal(dir, 'r1', 'attach to', uid + 1), `the guest of r1 was started by ${userLabel(uid)}: only that user or root may attach to it`);
  t.equal(userLabel(1000, 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n'), 'uid 1000 (alice)');
  t.equal(userLabel(4321, ''), 'uid 4321');
});

t.test('a stranger uid is refused by attach and stop, and cannot reach the socket', { skip: isRoot && existsSync('/usr/bin/setpriv') ? false : 'needs root and setpriv to run as another uid' }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-stranger-'));
  // Results others may read, as a shared results directory is; the guest's own files stay private.
  chmodSync(root, 0o755);
  const runDir = join(root, 'r1');
  const host = await startHost(runDir, 'r1');
  chmodSync(runDir, 0o755);
  writeFileSync(join(runDir, 'run.json'), JSON.stringify({ schema: 1, id: 'r1', status: 'pass', reason: '', startedAt: '', endedAt: null, tests: [], crashes: [] }));
  let stopped = false;
  void host.stopped().then(() => (stopped = true));
  const home = mkdtempSync(join(tmpdir(), 'daxh-nobody-'));
  chmodSync(home, 0o777);
  // env -i: tap hooks the children it sees with its own options, which a stranger could not act on.
  const asStranger = (args: string[]) =>
    spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-i', `PATH=${process.env.PATH}`, `HOME=${home}`, process.execPath, ...args], { encoding: 'utf8', timeout: 120000 });

  for (const [cmd, verb] of [['attach', 'attach to'], ['stop', 'stop']] as const) {
    const r = asStranger([bin, cmd, '--results', root, 'r1']);
    t.equal(r.status, 2, `${cmd}: exit 2 (${r.stderr.trim()})`);
    t.equal(r.stderr, `dax-harness ${cmd}: the guest of r1 was started by uid 0 (root): only that user or root may ${verb} it\n`, `${cmd}: one line naming the owner`);
  }
  const direct = asStranger([
    '-e',
    `const s = require('node:net').createConnection(${JSON.stringify(host.info.socket)}); s.on('connect', () => { console.log('connected'); s.destroy(); }).on('error', (e) => console.log(e.code))`,
  ]);
  t.equal(direct.stdout.trim(), 'EACCES', 'the kernel keeps a stranger from the socket itself');
  const token = asStranger(['-e', `require('node:fs').readFile(${JSON.stringify(join(runDir, GUEST_DIR, 'token'))}, (e) => console.log(e ? e.code : 'read'))`]);
  t.equal(token.stdout.trim(), 'EACCES', 'and from the token');
  await sleep(100);
  t.notOk(stopped, 'the guest is still up');
  t.equal(host.attached(), 0);
});
