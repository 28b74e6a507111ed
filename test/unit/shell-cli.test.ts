// shell, attach, stop and run --keep on the command line: bad input is one
// line and exit 2 before anything boots; attach and stop tell a run without a
// guest, and a guest whose owner is gone, from one that is up.
import t from 'tap';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { shellCommand } from '../../harness/src/cli/shell.js';
import { attachCommand, stopCommand } from '../../harness/src/cli/attach.js';
import { runCommand } from '../../harness/src/cli/run.js';
import { bootId, GUEST_FILE, type GuestInfo } from '../../harness/src/workflows/kept.js';

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  const ce = console.error;
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  console.error = (...a: unknown[]) => void (err += `${a.join(' ')}\n`);
  try {
    return { code: await fn(), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    console.error = ce;
  }
}

t.test('shell: bad input is exit 2 in one line, before any boot', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--setup', 'pmem'], /--setup "pmem" is not fsdax, devdax, none/],
    [['--fs', 'btrfs'], /--fs "btrfs" is not ext4 or xfs/],
    [['--'], /nothing after --/],
    [['--ndctl', '/x'], /--ndctl goes with --suite ndctl/],
    [['--suite', 'ltp'], /--suite "ltp" is not smoke, stressors or ndctl/],
    [['--accel', 'hvf'], /--accel "hvf" is not kvm or tcg/],
    [['--kernel', '/k', '--kernel-package', 'p'], /--kernel and --kernel-package both given/],
    [['--mem', 'lots'], /--mem/],
    [['--bogus'], /unknown option '--bogus'.*a command goes after --/],
    [['--put', '/nonexistent/mytest', '--', '/tmp/mytest'], /--put \/nonexistent\/mytest: no such file/],
  ];
  for (const [argv, re] of cases) {
    const r = await capture(() => shellCommand(argv));
    t.equal(r.code, 2, `${argv.join(' ')}: exit 2`);
    t.match(r.err, re);
    t.equal(r.err.trim().split('\n').length, 1, 'one line');
  }
  const h = await capture(() => shellCommand(['--help']));
  t.equal(h.code, 0);
  t.match(h.out, /usage: dax-harness shell \[options\] \[-- COMMAND \[ARG\.\.\.\]\]/);
  t.match(h.out, /--nvdimm-size SIZE/, "run's guest options are in its manual");
  t.match(h.out, /git bisect run/);
});

t.test('run --keep: its options checked before any boot', async (t) => {
  const r = await capture(() => runCommand(['--keep-idle', '10m']));
  t.equal(r.code, 2);
  t.match(r.err, /--keep-idle goes with --keep/);
  const z = await capture(() => runCommand(['--keep', '--keep-idle', '0s']));
  t.equal(z.code, 2);
  t.match(z.err, /--keep-idle 0s is out of range: give 1s to 6h/);
  const h = await capture(() => runCommand(['--help']));
  t.match(h.out, /--keep {17}leave the guest up after the tests/);
});

t.test('attach and stop: runs without a guest, and guests whose owner is gone', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-attach-'));
  const plain = join(root, 'r-plain');
  mkdirSync(plain);
  writeFileSync(join(plain, 'run.json'), JSON.stringify({ schema: 1, id: 'r-plain', status: 'pass', reason: '', startedAt: '', endedAt: '', tests: [], crashes: [] }));
  const none = await capture(() => attachCommand(['--results', root, 'r-nope']));
  t.equal(none.code, 2);
  t.match(none.err, /no run r-nope in /);
  const plainAttach = await capture(() => attachCommand(['--results', root, 'r-plain']));
  t.equal(plainAttach.code, 2);
  t.match(plainAttach.err, /run r-plain has no guest up/);
  t.equal((await capture(() => attachCommand([]))).code, 2);
  t.equal((await capture(() => stopCommand(['--results', root, 'r-plain']))).code, 2);

  // A keeper that died (here: a pid that cannot be alive) left its files behind.
  const dead = join(root, 'r-dead');
  mkdirSync(join(dead, 'ssh'), { recursive: true });
  writeFileSync(join(dead, 'run.json'), JSON.stringify({ schema: 1, id: 'r-dead', status: 'running', reason: '', startedAt: '', endedAt: null, tests: [], crashes: [] }));
  const info: Partial<GuestInfo> = { schema: 1, run: 'r-dead', runDir: dead, mode: 'kept', owner: { pid: 2 ** 22 + 7, hostname: hostname(), bootId: bootId() }, socket: join(dead, 'guest.sock'), ssh: { host: '127.0.0.1', port: 1, user: 'root', identity: '', knownHosts: '', config: '', hostKey: '' } };
  writeFileSync(join(dead, GUEST_FILE), JSON.stringify(info));
  const at = await capture(() => attachCommand(['--results', root, 'r-dead']));
  t.equal(at.code, 2);
  t.match(at.err, /the guest of r-dead is not up: its owner \(pid \d+\) died/);
  const st = await capture(() => stopCommand(['--results', root, dead]));
  t.equal(st.code, 0, 'stop of a guest already gone only cleans up (RUN given as its directory)');
  t.match(st.out, /r-dead: the guest was not up \(its owner .* died.*\); cleaned up after it/);
  t.notOk(existsSync(join(dead, GUEST_FILE)));
  t.notOk(existsSync(join(dead, 'ssh')));
});
