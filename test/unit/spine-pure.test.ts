import t from 'tap';
import { mkdtemp, mkdir, writeFile, symlink, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { writeCpio } from '../../harness/src/image/cpio.ts';
import { parseModuleIndex, resolveModules, moduleName } from '../../harness/src/image/modules.ts';
import { daxMountState, mkfsArgv } from '../../harness/src/suites/fsdax.ts';
import { parseKeyValues } from '../../harness/src/suites/context.ts';
import { shellQuote } from '../../harness/src/vm/guest.ts';
import { initTimeFromLine } from '../../harness/src/workflows/session.ts';
import { newRunId } from '../../harness/src/results/store.ts';
import { formatTable } from '../../harness/src/results/table.ts';
import { ConsoleStream } from '../../harness/src/vm/console.ts';
import type { RunRecord } from '../../harness/src/results/records.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';

t.test('cpio: newc archive that busybox cpio lists back, with symlinks and modes', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'cpio-'));
  await mkdir(join(d, 'root/usr/bin'), { recursive: true });
  await writeFile(join(d, 'root/usr/bin/hello'), 'abc', { mode: 0o755 });
  await writeFile(join(d, 'root/odd'), 'x'.repeat(5));
  await symlink('usr/bin', join(d, 'root/bin'));
  await writeCpio(join(d, 'root'), join(d, 'a.cpio'));
  const listing = execFileSync('busybox', ['cpio', '-t', '-F', join(d, 'a.cpio')], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  t.same(listing.trim().split('\n').sort(), ['bin', 'odd', 'usr', 'usr/bin', 'usr/bin/hello']);
  await mkdir(join(d, 'out'));
  execFileSync('busybox', ['cpio', '-i', '-d', '-F', join(d, 'a.cpio')], { cwd: join(d, 'out'), stdio: 'ignore' });
  t.equal(await readFile(join(d, 'out/usr/bin/hello'), 'utf8'), 'abc');
  t.equal(await readFile(join(d, 'out/odd'), 'utf8'), 'xxxxx');
  const buf = await readFile(join(d, 'a.cpio'));
  t.equal(buf.length % 4, 0, 'archive is 4-byte padded');
  t.ok(buf.includes(Buffer.from('TRAILER!!!')));
});

t.test('modules: dependency closure, softdeps, builtins, missing names', async (t) => {
  const dep = [
    'kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko',
    'kernel/lib/crc16.ko:',
    'kernel/fs/jbd2/jbd2.ko:',
    'kernel/crypto/crc32c_generic.ko:',
    'kernel/drivers/nvdimm/nd_pmem.ko: kernel/drivers/nvdimm/nd_btt.ko kernel/drivers/nvdimm/libnvdimm.ko',
    'kernel/drivers/nvdimm/nd_btt.ko: kernel/drivers/nvdimm/libnvdimm.ko',
    'kernel/drivers/nvdimm/libnvdimm.ko:',
  ].join('\n');
  const idx = parseModuleIndex(dep, 'kernel/drivers/virtio/virtio_pci.ko\n', 'softdep ext4 pre: crc32c_generic\nsoftdep jbd2 pre: crypto-crc32c\n');
  const r = resolveModules(idx, ['ext4', 'nd_pmem', 'virtio_pci', 'lkdtm']);
  t.same(r.files, [
    'kernel/crypto/crc32c_generic.ko',
    'kernel/drivers/nvdimm/libnvdimm.ko',
    'kernel/drivers/nvdimm/nd_btt.ko',
    'kernel/drivers/nvdimm/nd_pmem.ko',
    'kernel/fs/ext4/ext4.ko',
    'kernel/fs/jbd2/jbd2.ko',
    'kernel/lib/crc16.ko',
  ]);
  t.same(r.missing, ['lkdtm'], 'built-in modules are not missing; unknown ones are');
  t.equal(moduleName('kernel/drivers/dax/device-dax.ko.xz'), 'device_dax');
});

t.test('DAX mount state from /proc/mounts', async (t) => {
  t.equal(daxMountState('/dev/pmem0 /mnt/dax ext4 rw,relatime,dax 0 0\n', '/mnt/dax'), 'on');
  t.equal(daxMountState('/dev/pmem0 /mnt/dax xfs rw,attr2,dax=always,inode64 0 0\n', '/mnt/dax'), 'on');
  t.equal(daxMountState('/dev/pmem0 /mnt/dax xfs rw,attr2,dax=never 0 0\n', '/mnt/dax'), 'off');
  t.equal(daxMountState('/dev/pmem0 /mnt/dax xfs rw,attr2 0 0\n', '/mnt/dax'), 'off');
  t.equal(daxMountState('/dev/pmem0 /mnt/other xfs rw,dax 0 0\n', '/mnt/dax'), 'absent');
  t.match(mkfsArgv('xfs', '/dev/pmem0').join(' '), /su=2m,sw=1/);
  t.match(mkfsArgv('ext4', '/dev/pmem0').join(' '), /stripe_width=512/);
});

t.test('stressor key=value output', async (t) => {
  t.same(parseKeyValues('aligned_faults=8 pmd_count=8\npmd_mapped=yes\nresult=ok\n'), { aligned_faults: '8', pmd_count: '8', pmd_mapped: 'yes', result: 'ok' });
  t.same(parseKeyValues('result=fail reason=mmap MAP_SYNC: Operation not supported x=1').reason, 'mmap MAP_SYNC: Operation not supported x=1');
});

t.test('shell quoting gives the remote shell argv, never code', async (t) => {
  t.equal(shellQuote('abc'), 'abc');
  t.equal(shellQuote('extsize 2m'), `'extsize 2m'`);
  t.equal(shellQuote(`it's; rm -rf /`), `'it'\\''s; rm -rf /'`);
  t.equal(shellQuote(''), `''`);
  const argv = ['printf', '%s|', `a b`, `$(id)`, `'q'`, ''];
  const out = execFileSync('sh', ['-c', argv.map(shellQuote).join(' ')]).toString();
  t.equal(out, `a b|$(id)|'q'||`);
});

t.test('kernel init time from the console', async (t) => {
  t.equal(initTimeFromLine('[    4.095472] Run /init as init process'), 4095);
  t.equal(initTimeFromLine('[    1.200000] Run /sbin/init as init process'), 1200);
  t.equal(initTimeFromLine('Run /init as init process'), null);
});

t.test('console stream splits lines across chunks and CRLF', async (t) => {
  const c = new ConsoleStream();
  const got: string[] = [];
  c.subscribe((l) => got.push(l));
  c.write('ab');
  c.write('c\r\nde');
  c.write('f\ng');
  c.end();
  t.same(got, ['abc', 'def', 'g']);
  const c2 = new ConsoleStream();
  const p = c2.waitFor(/ready/, 1000);
  c2.write('x\nguest ready\n');
  t.equal((await p).line, 'guest ready');
  await t.rejects(new ConsoleStream().waitFor(/never/, 50), /did not show/);
});

t.test('run ids sort by time; the table shows every test and the verdict', async (t) => {
  t.match(newRunId(new Date('2026-01-02T03:04:05Z')), /^20260102-030405-[0-9a-f]{4}$/);
  const run: RunRecord = {
    schema: 1, id: 'r1', status: 'fail', reason: '1 of 2 tests did not pass', startedAt: '', endedAt: '',
    host: { hostname: 'h', qemuVersion: '7.2' }, accel: { used: 'tcg', why: '' }, kernel: null, image: null,
    topology: defaultTopology, topologyHash: 'x', kernelCmdline: '', qemuArgv: [], bootMs: 1, kernelInitMs: 1, crashes: [],
    tests: [
      { name: 'dax-smoke', params: { fs: 'ext4', mode: 'fsdax', dev: '/dev/pmem0' }, status: 'pass', reason: '', startedAt: '', durationMs: 1500, log: '', crashes: [], metrics: {} },
      { name: 'dax-smoke', params: { fs: 'xfs', mode: 'fsdax' }, status: 'fail', reason: 'no PMD', startedAt: '', durationMs: 2000, log: '', crashes: [], metrics: {} },
    ],
  };
  const s = formatTable(run);
  t.match(s, /dax-smoke \[ext4\/fsdax\]\s+PASS\s+1\.5s/);
  t.match(s, /dax-smoke \[xfs\/fsdax\]\s+FAIL\s+2\.0s\s+no PMD/);
  t.match(s, /run r1: FAIL — 1 of 2 tests did not pass \(1 pass, 1 fail\)/);
});

t.test('which reports end the run (deaths), which say the guest is stuck (stalls: the guest is asked)', async (t) => {
  const { endsRun, isStall } = await import('../../harness/src/workflows/watch.ts');
  const r = (type: string, fatal: boolean) => ({ type, title: type, fatal, dedupKey: '', matchKey: '', startLine: 0, endLine: 0, lines: [] });
  t.ok(endsRun(r('BUG', true)));
  t.ok(endsRun(r('panic', true)));
  for (const hang of ['soft lockup', 'RCU stall', 'hung task', 'hard lockup', 'workqueue lockup']) {
    t.notOk(endsRun(r(hang, false)), `${hang} does not end the run by itself`);
    t.ok(isStall(r(hang, false)), `${hang} is a stall`);
  }
  for (const soft of ['WARNING', 'lockdep', 'KASAN', 'bad page state', 'refcount_t']) t.notOk(endsRun(r(soft, false)) || isStall(r(soft, false)), soft);
});
