// The sandbox every untrusted-input process runs in, exercised for real:
// bubblewrap itself, and kbuild's own entry (kmake) on a "kernel tree" whose
// Makefile does what a hostile patch would: write outside its build
// directory, dial a service on the host's loopback, read root's files,
// look at the harness's processes. Nothing here is simulated: each attempt
// is made, and its result read back.
import t from 'tap';
import { createServer } from 'node:net';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../harness/src/host/proc.ts';
import { sandboxCommand, sandboxUser } from '../../harness/src/host/sandbox.ts';
import { kmake } from '../../harness/src/kernel/make.ts';

const root = process.geteuid?.() === 0;

t.test('the bwrap command: private ancestors hidden, binds rebuilt, network off unless asked', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'daxh-sbx-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const priv = join(base, 'home');
  mkdirSync(join(priv, 'cache', 'out'), { recursive: true });
  chmodSync(priv, 0o700);
  const who = { uid: 4242, gid: 4242, name: 'x' };
  const w = sandboxCommand('/usr/bin/make', ['-C', 'x'], { writable: [join(priv, 'cache', 'out')] }, who);
  const a = w.args;
  t.ok(a.includes('--unshare-net'), 'no network');
  // /tmp is covered anyway, and the mkdtemp directory lies under it.
  t.ok(a.join(' ').includes('--perms 1777 --tmpfs /tmp'), 'a /tmp of its own that the user can write');
  t.ok(a.join(' ').includes(`--dir ${priv}`), 'the way to the bound path is rebuilt enterable');
  t.ok(a.join(' ').includes(`--bind ${join(priv, 'cache', 'out')} ${join(priv, 'cache', 'out')}`));
  t.match(a.join(' '), /setpriv --reuid=4242 --regid=4242 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- \/usr\/bin\/make -C x$/);
  t.equal(w.env.HOME, '/tmp');
  const q = sandboxCommand('/usr/bin/qemu-system-x86_64', [], { hostNetwork: true, devices: ['/dev/null'] }, null);
  t.notOk(q.args.includes('--unshare-net'), 'QEMU keeps the host network namespace for hostfwd');
  t.ok(q.args.join(' ').includes('--dev-bind /dev/null /dev/null'));
  t.notOk(q.args.includes('setpriv'), 'no uid switch when the harness is not root');
  // A private directory outside /tmp (root's home, say) gets a tmpfs of its own.
  const h = sandboxCommand('/bin/true', [], { writable: ['/root/.cache/dax-harness/out'] }, who);
  if (statSync('/root').mode & 0o001) t.pass('/root is world-enterable here');
  else t.ok(h.args.join(' ').includes('--tmpfs /root'), 'root\'s home covered, not exposed');
});

t.test('a sandboxed process: host read-only, only its paths writable, no loopback, no host pids', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'daxh-sbx-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const out = join(base, 'out');
  mkdirSync(out);
  const outside = join(base, 'outside');
  mkdirSync(outside);
  chmodSync(base, 0o755);
  chmodSync(outside, 0o777);
  const server = createServer((s) => s.end('secret\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const script = [
    `touch ${out}/mine && echo write-own=ok || echo write-own=no`,
    `touch ${outside}/theirs 2>/dev/null && echo write-outside=ok || echo write-outside=no`,
    `touch /etc/daxh-sbx 2>/dev/null && echo write-etc=ok || echo write-etc=no`,
    `python3 -c 'import socket; socket.create_connection(("127.0.0.1", ${port}), 2)' 2>/dev/null && echo dial=ok || echo dial=no`,
    `kill -0 ${process.pid} 2>/dev/null && echo see-harness=ok || echo see-harness=no`,
    `grep -E '^Uid:' /proc/self/status`,
    `grep -E '^CapEff:' /proc/self/status`,
  ].join('\n');
  const r = await run('sh', ['-c', script], { timeoutMs: 30_000, sandbox: { writable: [out] } });
  const o = r.stdout;
  t.match(o, /write-own=ok/);
  t.match(o, /write-outside=no/, 'a world-writable directory outside the binds is read-only');
  t.match(o, /write-etc=no/);
  t.match(o, /dial=no/, 'the host loopback listener is out of reach');
  t.match(o, /see-harness=no/, 'the harness is in another pid namespace');
  t.match(o, /CapEff:\s+0+\n/, 'no capabilities');
  const uid = Number(/Uid:\s+(\d+)/.exec(o)?.[1]);
  if (root) {
    t.not(uid, 0, 'root harness: the command runs as another uid');
    t.equal(uid, sandboxUser()!.uid);
  } else t.equal(uid, process.geteuid!(), 'an ordinary user stays themselves');
  t.notOk(existsSync(join(outside, 'theirs')));
  t.ok(existsSync(join(out, 'mine')));
  // The same listener answers the harness itself: the refusal above is the sandbox's.
  const direct = await run('python3', ['-c', `import socket; print(socket.create_connection(("127.0.0.1", ${port}), 2).recv(10).decode())`], { timeoutMs: 10_000 });
  t.match(direct.stdout, /secret/);
});

t.test('kmake: a hostile Makefile builds under a non-root uid, in O= only, offline', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'daxh-sbx-make-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const tree = join(base, 'linux');
  const outDir = join(base, 'out');
  const victim = join(base, 'victim');
  mkdirSync(tree);
  mkdirSync(outDir);
  mkdirSync(victim);
  chmodSync(victim, 0o777);
  const server = createServer((s) => s.end('token\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  // What a mailed patch to a Makefile could run; each line reports its fate into O=.
  writeFileSync(
    join(tree, 'Makefile'),
    [
      'all:',
      `\t@grep '^Uid:' /proc/self/status > $(O)/uid`,
      // Compilers put their temporaries in /tmp.
      `\t@(mktemp /tmp/cc.XXXXXX >/dev/null && echo yes || echo no) > $(O)/tmp-ok 2>/dev/null`,
      `\t@(touch ${victim}/pwned && echo yes || echo no) > $(O)/wrote-victim 2>/dev/null`,
      `\t@(touch ${tree}/in-source && echo yes || echo no) > $(O)/wrote-source 2>/dev/null`,
      `\t@(python3 -c 'import socket; socket.create_connection(("127.0.0.1", ${port}), 2)' && echo yes || echo no) > $(O)/dialed 2>/dev/null`,
      `\t@(cat /etc/shadow > /dev/null && echo yes || echo no) > $(O)/read-shadow 2>/dev/null`,
      '\t@echo built > $(O)/vmlinux',
      '',
    ].join('\n'),
  );
  const r = await kmake({ worktree: tree, outDir, args: ['all'] });
  t.equal(r.exitCode, 0, r.stderr);
  const read = (f: string) => readFileSync(join(outDir, f), 'utf8').trim();
  t.equal(read('vmlinux'), 'built', 'the build itself works and writes O=');
  t.equal(read('wrote-victim'), 'no');
  t.equal(read('wrote-source'), 'no', 'an O= build never needs to write its source tree');
  t.equal(read('dialed'), 'no');
  t.equal(read('tmp-ok'), 'yes', 'the build can make temporaries');
  const uid = Number(/Uid:\s+(\d+)/.exec(read('uid'))?.[1]);
  if (root) {
    t.not(uid, 0, 'make runs as the sandbox user');
    t.equal(read('read-shadow'), 'no');
  } else t.equal(uid, process.geteuid!());
  t.notOk(existsSync(join(victim, 'pwned')));
});
