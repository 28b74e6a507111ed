// The pool that lets cells run one after another in one guest: which cells
// may share a guest (the key), and that nothing a kept guest prints while no
// run owns it is lost.
import t from 'tap';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestPool, guestKey, handOver, type GuestIdentity, type PooledGuest } from '../../harness/src/workflows/guest-pool.ts';
import { ConsoleStream } from '../../harness/src/vm/console.ts';
import type { Session } from '../../harness/src/workflows/session.ts';

const base: GuestIdentity = {
  kernel: { key: 'k1', bzImage: '/k/bzImage', release: '6.1.0-57-amd64' },
  image: { key: 'img', builtAt: '2026-11-30T00:00:00Z' },
  modulesKey: 'mods',
  extras: ['/x/faults.cpio'],
  topology: { cpus: 2, memMiB: 2048, nvdimms: [{ sizeMiB: 1024, labelSizeMiB: 1 }], memmap: [] } as unknown as GuestIdentity['topology'],
  cmdline: ['daxh.fault=warn'],
  accel: 'tcg',
  shares: [
    { hostPath: '/a', tag: 'a', readonly: true },
    { hostPath: '/b', tag: 'b', readonly: true },
  ],
};

t.test('cells share a guest exactly when they would start the same one', async (t) => {
  const k = guestKey(base);
  t.equal(guestKey(structuredClone(base)), k, 'same identity, same key');
  const reordered = { ...base, topology: { memmap: [], nvdimms: [{ labelSizeMiB: 1, sizeMiB: 1024 }], memMiB: 2048, cpus: 2 } as unknown as GuestIdentity['topology'], shares: [...base.shares].reverse() };
  t.equal(guestKey(reordered), k, 'key order and share order do not matter');
  const differing: Array<[string, GuestIdentity]> = [
    ['kernel', { ...base, kernel: { ...base.kernel, key: 'k2' } }],
    ['image rebuilt', { ...base, image: { ...base.image, builtAt: '2026-11-30T01:00:00Z' } }],
    ['modules', { ...base, modulesKey: null }],
    ['extra initrd', { ...base, extras: [] }],
    ['vCPUs', { ...base, topology: { ...base.topology, cpus: 1 } }],
    ['NVDIMM size', { ...base, topology: { ...base.topology, nvdimms: [{ sizeMiB: 2048, labelSizeMiB: 1 }] } as unknown as GuestIdentity['topology'] }],
    ['command line', { ...base, cmdline: [] }],
    ['accelerator', { ...base, accel: 'kvm' }],
    ['CPU model', { ...base, cpu: 'host' }],
    ['ssh port', { ...base, sshPort: 2222 }],
    ['a share made writable', { ...base, shares: [{ ...base.shares[0], readonly: false }, base.shares[1]] }],
    ['a share of another tree', { ...base, shares: [{ ...base.shares[0], hostPath: '/c' }, base.shares[1]] }],
  ];
  for (const [what, id] of differing) t.not(guestKey(id), k, `${what} differs: another guest`);
});

function fakeGuest(key: string): { g: PooledGuest; closed: () => number; workRoot: string } {
  let closed = 0;
  const workRoot = mkdtempSync(join(tmpdir(), 'daxh-pool-'));
  const session = { close: async () => void closed++ } as unknown as Session;
  const g: PooledGuest = { key, session, console: new ConsoleStream(), bootedBy: { id: 'run-a', dir: '/r/a' }, cells: 1, workRoot };
  return { g, closed: () => closed, workRoot };
}

t.test('a kept guest goes to one taker; what it prints while idle is handed over', async (t) => {
  const pool = new GuestPool();
  const { g, closed } = fakeGuest('k');
  t.equal(pool.take('k'), null, 'nothing kept yet');
  await pool.give(g);
  t.equal(pool.idleCount(), 1);
  t.equal(pool.take('other'), null, 'another key finds nothing');
  g.console.write('[   50.1] late line\n');
  const got = pool.take('k');
  t.equal(got, g);
  t.equal(pool.take('k'), null, 'taken once');
  g.console.write('[   50.2] still before the hand-over\n');
  const idle = handOver(g);
  t.same(idle.lines, ['[   50.1] late line', '[   50.2] still before the hand-over']);
  t.equal(idle.overflow, false);
  g.console.write('[   51.0] after\n');
  t.same(handOver(g).lines, [], 'collection ended at the hand-over');
  t.equal(closed(), 0, 'never shut down while in use');
});

t.test('a guest taken and given back without a hand-over keeps what it collected', async (t) => {
  const pool = new GuestPool();
  const { g } = fakeGuest('k');
  await pool.give(g);
  g.console.write('one\n');
  await pool.give(pool.take('k')!);
  g.console.write('two\n');
  t.same(handOver(pool.take('k')!).lines, ['one', 'two']);
});

t.test('an idle guest that floods its console is marked', async (t) => {
  const pool = new GuestPool();
  const { g } = fakeGuest('k');
  await pool.give(g);
  for (let i = 0; i < 5001; i++) g.console.write(`line ${i}\n`);
  const idle = handOver(pool.take('k')!);
  t.equal(idle.overflow, true);
  t.equal(idle.lines.length, 5000);
});

t.test('drain and close shut idle guests down and remove their scratch space', async (t) => {
  const pool = new GuestPool();
  const a = fakeGuest('a');
  const b = fakeGuest('b');
  await pool.give(a.g);
  await pool.give(b.g);
  await pool.drain();
  t.equal(a.closed(), 1);
  t.equal(b.closed(), 1);
  t.notOk(existsSync(a.workRoot), 'backing files removed');
  t.equal(pool.idleCount(), 0);
  const c = fakeGuest('c');
  await pool.give(c.g);
  await pool.close();
  t.equal(c.closed(), 1, 'close shuts down what is kept');
  const d = fakeGuest('d');
  await pool.give(d.g);
  t.equal(d.closed(), 1, 'a guest given back after close is shut down at once');
  t.equal(pool.idleCount(), 0);
});
