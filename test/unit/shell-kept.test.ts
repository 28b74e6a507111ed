// The parts of shell / run --keep / attach / stop that need no guest: whether
// a guest.json still describes a live guest (owner alive, same host, same
// boot), who is connected to its ssh port, the notice a person gets for a
// kernel report, the exit code `shell -- CMD` gives git bisect run, and the
// owner's socket (hello, crash events from its console, stop, idle limit)
// over a console fed with a real report.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestHost, clientInodes, connectHost, crashNote, crashNotice, guestState, keyType, listGuests, readGuest, bootId, type HostEvent } from '../../harness/src/workflows/kept.js';
import { namespaceOf, shellExitCode } from '../../harness/src/workflows/shell.js';
import { ConsoleStream } from '../../harness/src/vm/console.js';
import { parseLog } from '../../harness/src/oracle/index.js';
import type { CrashReport, RunRecord } from '../../harness/src/results/records.js';
import type { Session } from '../../harness/src/workflows/session.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '../../harness/src/oracle/corpus');
const warningLog = readFileSync(join(corpus, 'warning-old.log'), 'utf8');
const warning = parseLog(warningLog)[0]!;

t.test('a guest.json describes a live guest only while its owner lives on this boot of this host', async (t) => {
  const here = { hostname: 'box', bootId: 'boot-1' };
  const g = (o: Partial<{ pid: number; hostname: string; bootId: string }> = {}) => ({ owner: { pid: 100, hostname: 'box', bootId: 'boot-1', ...o } });
  t.same(guestState(g(), here, () => 'same'), { up: true });
  const rebooted = guestState(g({ bootId: 'boot-0' }), here, () => 'same');
  t.match(rebooted, { up: false, why: /host rebooted/ }, 'a reused pid after a reboot is not taken for the owner');
  t.match(guestState(g(), here, () => 'gone'), { up: false, why: /owner \(pid 100\) died/ });
  t.match(guestState(g(), here, () => 'other'), { up: false, why: /owner \(pid 100\) died and the pid now belongs to another process/ }, 'a recycled pid is not taken for the owner');
  t.same(guestState(g(), here, () => 'unknown'), { up: true }, 'an owner that cannot be verified (older guest.json) is still talked to');
  t.match(guestState(g({ hostname: 'other' }), here, () => 'same'), { up: false, why: /another host \(other\)/ });
  t.same(guestState({ owner: { pid: process.pid, hostname: hostname(), bootId: bootId() } }), { up: true }, 'this process on this boot');
});

t.test('connections to the guest ssh port, from /proc/net/tcp', async (t) => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:B5C5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:D431 0100007F:B5C5 01 00000000:00000000 02:0000A5F3 00000000     0        0 2222 2 0000000000000000 20 4 30 10 -1',
    '   2: 0100007F:B5C5 0100007F:D431 01 00000000:00000000 02:0000A5F3 00000000     0        0 3333 2 0000000000000000 20 4 30 10 -1',
    '   3: 0100007F:D432 0100007F:B5C5 06 00000000:00000000 03:00000ABC 00000000     0        0 0 3 0000000000000000',
    '   4: 0100007F:D433 0100007F:1F90 01 00000000:00000000 02:0000A5F3 00000000     0        0 4444 2 0000000000000000 20 4 30 10 -1',
  ].join('\n');
  t.same(clientInodes(tcp, 0xb5c5), [2222], "the client side of an established connection to the port; not the listener, QEMU's side, a TIME_WAIT or another port");
  t.same(clientInodes(tcp, 22), []);
});

t.test('the ssh key type in a host key blob', async (t) => {
  const blob = (type: string) => {
    const b = Buffer.alloc(4 + type.length + 8);
    b.writeUInt32BE(type.length, 0);
    b.write(type, 4, 'latin1');
    return b.toString('base64');
  };
  t.equal(keyType(blob('ssh-ed25519')), 'ssh-ed25519');
  t.equal(keyType(blob('ecdsa-sha2-nistp256')), 'ecdsa-sha2-nistp256');
});

t.test("a kernel report as a person sees it on the terminal", async (t) => {
  const n = crashNote(warning);
  t.equal(n.title, warning.title);
  t.ok(n.frames.length > 2, 'the stack, by function');
  t.equal(new Set(n.frames).size, n.frames.length, 'no function twice (RIP and the first frame)');
  const lines = crashNotice(n, '/r/1');
  t.match(lines[0], new RegExp(`^\\[dax-harness\\] kernel report: ${warning.title.replace(/[()[\].*+?^$|\\]/g, '\\$&')}$`));
  t.match(lines[1], / < /, 'the stack on one line, innermost first');
  t.match(lines[2], new RegExp(`recorded in /r/1/run.json; the report is console.log lines ${warning.startLine + 1}-${warning.endLine + 1}`));
  t.match(crashNotice({ ...n, fatal: true, frames: [] }, '/r')[0], /the guest is going down/);
  t.equal(crashNotice({ ...n, frames: [] }, '/r').length, 2, 'no empty stack line');
});

t.test('the namespace of a block device', async (t) => {
  const list = '[{"dev":"namespace1.0","mode":"fsdax","blockdev":"pmem1"},{"dev":"namespace0.0","mode":"fsdax","size":2111832064,"blockdev":"pmem0"}]';
  t.equal(namespaceOf(list, '/dev/pmem0'), 'namespace0.0');
  t.equal(namespaceOf(list, '/dev/pmem1'), 'namespace1.0');
  t.equal(namespaceOf(list, '/dev/pmem2'), null);
});

t.test('exit codes of shell -- CMD, as git bisect run reads them', async (t) => {
  const rec = (status: RunRecord['status'], crashes: CrashReport[] = [], reason = '') => ({ status, reason, crashes }) as unknown as RunRecord;
  t.equal(shellExitCode({ record: rec('pass'), status: 0, setupOk: true }), 0);
  t.equal(shellExitCode({ record: rec('fail'), status: 1, setupOk: true }), 1, "the command's own failure");
  t.equal(shellExitCode({ record: rec('fail', [warning]), status: 0, setupOk: true }), 0, 'a report the command survived leaves its status alone (it is recorded)');
  t.equal(shellExitCode({ record: rec('fail', [{ ...warning, fatal: true }]), status: null, setupOk: true }), 1, 'a report that ended the guest mid-command: the kernel is bad');
  t.equal(shellExitCode({ record: rec('infra-error'), status: null, setupOk: false }), 125, 'a guest that never came up, no report: skip the commit');
  t.equal(shellExitCode({ record: rec('fail', [warning]), status: null, setupOk: false }), 1, 'the setup met a report: bad');
  t.equal(shellExitCode({ record: rec('fail'), status: null, setupOk: false }), 125, 'the setup failed without one: unknown');
  t.equal(shellExitCode({ record: rec('interrupted', [], 'interrupted by SIGINT'), status: null, setupOk: true }), 130);
  t.equal(shellExitCode({ record: rec('interrupted', [], 'interrupted by SIGTERM'), status: 0, setupOk: true }), 143);
});

/** The parts of a Session the owner's side uses, over a console we feed. */
function fakeSession(): { session: Session; console: ConsoleStream; die: () => void } {
  const console = new ConsoleStream();
  let die: () => void = () => {};
  const exited = new Promise<{ requested: boolean }>((r) => (die = () => r({ requested: false })));
  const session = { spec: { sshPort: 1 }, machine: { console, exited, pid: 4242 } } as unknown as Session;
  return { session, console, die };
}

const image = { sshPrivateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----', hostKeyBlob: Buffer.from('\0\0\0\x0bssh-ed25519xxxx', 'latin1').toString('base64') };

t.test("the owner's socket: hello, reports as they happen, stop, and the files", async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-kept-'));
  const runDir = join(root, 'r1');
  const f = fakeSession();
  const seen: CrashReport[] = [];
  const host = await GuestHost.start({ session: f.session, image, runDir, run: 'r1', mode: 'kept', idleLimitMs: null, onCrash: (r) => seen.push(r) });
  const info = (await readGuest(runDir))!;
  t.equal(info.owner.pid, process.pid);
  t.equal(info.qemuPid, 4242);
  t.match(readFileSync(info.ssh.config, 'utf8'), /Host r1\n {2}HostName 127\.0\.0\.1\n {2}Port 1\n/);
  t.equal(readFileSync(info.ssh.knownHosts, 'utf8'), `[127.0.0.1]:1 ssh-ed25519 ${image.hostKeyBlob}\n`);
  t.equal((await listGuests(root)).map((g) => [g.info.run, g.state.up]).flat().join(' '), 'r1 true', 'results lists it as up');

  const events: HostEvent[] = [];
  let gotEvent: () => void = () => {};
  const client = await connectHost(runDir, (ev) => {
    events.push(ev);
    gotEvent();
  });
  const next = () => new Promise<void>((r) => (gotEvent = r));
  t.same(events[0], { event: 'hello', run: 'r1', mode: 'kept' }, 'connectHost says hello with the token and waits for the answer');
  t.equal(host.attached(), 1);

  let wait = next();
  for (const l of warningLog.split('\n')) f.console.write(`${l}\n`);
  await wait;
  t.match(events[1], { event: 'crash', title: warning.title, fatal: false }, 'attached clients hear of a report as it happens');
  t.equal(seen[0]?.title, warning.title, 'and the owner records it');

  wait = next();
  client.send({ cmd: 'stop', pid: 77 });
  t.equal(await host.stopped(), 'stopped by dax-harness stop (pid 77)');
  await wait;
  t.match(events[2], { event: 'stopping', why: /pid 77/ });
  await host.close();
  await client.closed;
  t.notOk(existsSync(join(runDir, 'guest.json')), 'guest.json goes with the guest');
  t.notOk(existsSync(join(runDir, 'ssh')), 'and the key');
  t.notOk(existsSync(info.socket), 'and the socket');
});

t.test('a kept guest nobody attaches to is stopped at its idle limit; a guest that goes down stops it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-kept-'));
  const f = fakeSession();
  const t0 = Date.now();
  const host = await GuestHost.start({ session: f.session, image, runDir: join(root, 'r2'), run: 'r2', mode: 'kept', idleLimitMs: 300, checkEveryMs: 50, onCrash: () => {} });
  const why = await host.stopped();
  t.match(why, /nobody attached/);
  t.ok(Date.now() - t0 >= 300, 'not before the limit');
  await host.close();

  const g = fakeSession();
  const shell = await GuestHost.start({ session: g.session, image, runDir: join(root, 'r3'), run: 'r3', mode: 'shell', idleLimitMs: null, onCrash: () => {} });
  g.die();
  t.equal(await shell.stopped(), 'the guest went down');
  await shell.close();
});
