// A guest runs a kernel under test: buggy by definition, hostile in the worst
// case. On a real guest of the default kind this shows what it can reach:
// ssh in works, but a service listening on the host's loopback does not
// answer it (at 10.0.2.2, the user-mode network's alias for the host, nor
// anywhere else); QEMU itself runs confined (-sandbox, a bubblewrap sandbox,
// and, when the harness is root, another uid, read from /proc); its QMP
// socket is the owner's alone.
import t from 'tap';
import { createServer } from 'node:net';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { bootDefault } from './boot-default.ts';
import { sandboxUser } from '../../harness/src/host/sandbox.ts';

const root = process.geteuid?.() === 0;

/** The processes below pid (itself included), from /proc's parent links. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [c, p] of parent) if (p === out[i]) out.push(c);
  return out;
}

t.test('the guest reaches ssh in and nothing out; QEMU is confined', async (t) => {
  let hits = 0;
  const server = createServer((s) => {
    hits++;
    s.end('HTTP/1.0 200 OK\r\n\r\nhost-secret\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;

  const { s } = await bootDefault('security');
  t.teardown(() => s.close());
  const exec = (cmd: string) => s.guest.exec(['sh', '-c', cmd], { timeoutMs: 60_000 });

  const hello = await exec('echo ssh-works');
  t.equal(hello.exitCode, 0, 'ssh into the guest works');
  t.match(hello.stdout, /ssh-works/);

  for (const addr of ['10.0.2.2', '10.0.2.3', '127.0.0.1']) {
    const r = await exec(`printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${addr} ${port}; echo "nc=$?"`);
    t.notMatch(r.stdout, /host-secret/, `${addr}:${port} does not answer the guest`);
    t.match(r.stdout, /nc=[1-9]/, `nc to ${addr} fails`);
  }
  t.equal(hits, 0, 'the host listener saw no connection from the guest');
  // The listener is alive all along: the harness itself reaches it.
  const direct = await new Promise<string>((resolve, reject) => {
    import('node:net').then(({ connect }) => {
      const c = connect(port, '127.0.0.1');
      let d = '';
      c.on('data', (b) => (d += b));
      c.on('end', () => resolve(d));
      c.on('error', reject);
    });
  });
  t.match(direct, /host-secret/);

  const argv = s.machine.argv.join(' ');
  t.match(argv, /-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny/);
  t.match(argv, /user,id=net0,restrict=on,hostfwd=tcp:127\.0\.0\.1:\d+-:22/);

  const pids = descendants(s.machine.pid!);
  const qemu = pids.find((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim().startsWith('qemu-system');
    } catch {
      return false;
    }
  });
  t.ok(qemu, 'QEMU found under the process the harness started');
  const status = readFileSync(`/proc/${qemu}/status`, 'utf8');
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
  t.match(status, /^CapEff:\s+0+$/m, 'QEMU holds no capability');
  t.match(status, /^NoNewPrivs:\s+1$/m, 'and cannot gain one');
  t.match(status, /^Seccomp:\s+2$/m, 'QEMU\'s own seccomp filter is on');
  if (root) {
    t.not(uid, 0, 'a root harness runs QEMU as another uid');
    t.equal(uid, sandboxUser()!.uid);
  } else t.equal(uid, process.geteuid!(), 'an ordinary user\'s QEMU is theirs');
  // QEMU does not share the harness's view of the host's processes.
  const nsOf = (p: number) => statSync(`/proc/${p}/ns/pid`).ino;
  t.not(nsOf(qemu!), nsOf(process.pid), 'QEMU lives in a pid namespace of its own');

  const qmp = /unix:([^,]+),server/.exec(argv)?.[1];
  t.ok(qmp, 'the QMP socket is on the command line');
  t.equal(statSync(qmp!).mode & 0o777, 0o600, 'QMP socket 0600');
  t.equal(statSync(dirname(qmp!)).mode & 0o777, 0o700, 'its directory 0700');
});
