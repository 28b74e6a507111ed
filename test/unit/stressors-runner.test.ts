// Pure parts of the stressor runner (exit-code → status, kernel-log lines
// the crash oracle does not cover, mkfs/fsck argv), and the C stressors on
// the host: each compiles warning-free with the image's flags and rejects
// bad arguments with exit 2.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stressorOutcome, kernelLogFailure, mkfsFor, fsckFor } from '../../harness/src/suites/stressors/stressors.ts';
import { loadManifest } from '../../harness/src/suites/stressors/stressor-manifest.ts';
import { stressorDir } from '../../harness/src/image/initramfs.ts';

const run = (exitCode: number | null, stdout: string, extra: Partial<{ signal: string | null; timedOut: boolean }> = {}) =>
  stressorOutcome({ exitCode, stdout, signal: extra.signal ?? null, timedOut: extra.timedOut ?? false, durationMs: 1234 });

t.test('stressor exit codes and result lines → status and reason', async (t) => {
  t.same(run(0, 'a=1\nresult=ok\n'), { status: 'pass', reason: '' });
  t.same(run(1, 'result=fail reason=early\nx=1\nresult=fail reason=thread 2: page at 4096 lost its write\n'), {
    status: 'fail',
    reason: 'thread 2: page at 4096 lost its write',
  });
  t.same(run(77, 'result=skip reason=FICLONE: Operation not supported (no reflink)\n'), { status: 'skip', reason: 'FICLONE: Operation not supported (no reflink)' });
  t.same(run(0, 'a=1\n'), { status: 'fail', reason: 'stressor exited 0 without printing result=ok' });
  t.same(run(139, ''), { status: 'fail', reason: 'stressor exited 139 without a reason' });
  t.match(run(null, 'result=fail reason=unexpected signal 7 code 2 at address 0x1\n', { signal: 'SIGBUS' }).reason, /killed by SIGBUS: unexpected signal 7/);
  t.match(run(null, '', { timedOut: true }), { status: 'timeout', reason: /timed out after 1234 ms/ });
});

t.test('kernel log lines the runner fails on', async (t) => {
  t.equal(kernelLogFailure(['[  1.0] EXT4-fs (pmem0): mounted filesystem', '[  2.5] mm/pgtable-generic.c:51: bad pmd ffff88807fd80958(84000001154000a5)']), 'mm/pgtable-generic.c:51: bad pmd ffff88807fd80958(84000001154000a5)');
  t.match(kernelLogFailure(['BUG: Bad rss-counter state mm:0000 type:MM_FILEPAGES val:-512']) ?? '', /Bad rss-counter/);
  t.equal(kernelLogFailure(['[ 418.46] Memory failure: 0x114203: recovery action for dax page: Recovered']), null, 'a recovered memory failure is the expected answer');
  t.match(kernelLogFailure(['Memory failure: 0x1234: recovery action for dax page: Failed']) ?? '', /Failed/);
  t.equal(kernelLogFailure([]), null);
});

t.test('mkfs and fsck argv per target', async (t) => {
  t.same(mkfsFor({ mode: 'fsdax', fs: 'ext4' }, '/dev/pmem0'), ['mkfs.ext4', '-F', '-q', '-b', '4096', '-E', 'stride=512,stripe_width=512', '/dev/pmem0']);
  t.same(mkfsFor({ mode: 'fsdax', fs: 'xfs', reflink: '1' }, '/dev/pmem0'), ['mkfs.xfs', '-f', '-q', '-d', 'su=2m,sw=1', '-m', 'reflink=1', '/dev/pmem0']);
  t.same(mkfsFor({ mode: 'fsdax', fs: 'xfs' }, '/dev/pmem1').slice(-2), ['reflink=0', '/dev/pmem1']);
  t.same(fsckFor({ mode: 'fsdax', fs: 'ext4' }, '/dev/pmem0'), ['e2fsck', '-fn', '/dev/pmem0']);
  t.same(fsckFor({ mode: 'fsdax', fs: 'xfs' }, '/dev/pmem0'), ['xfs_repair', '-n', '/dev/pmem0']);
});

t.test('C stressors: compile warning-free with the image flags; bad arguments exit 2', async (t) => {
  const m = await loadManifest();
  const bins = [...new Set(m.tests.map((x) => x.binary ?? x.name))];
  const out = mkdtempSync(join(tmpdir(), 'stressors-'));
  for (const b of bins) {
    const exe = join(out, b);
    const cc = spawnSync('gcc', ['-O2', '-g', '-Wall', '-Wextra', '-pthread', '-o', exe, join(stressorDir, `${b}.c`)], { encoding: 'utf8' });
    const stderr = cc.status === 0 ? cc.stderr : cc.stderr || `gcc exited ${cc.status}`;
    t.equal(stderr, '', `${b} compiles`);
    if (stderr) continue;
    const noTarget = spawnSync(exe, ['--seconds', '1'], { encoding: 'utf8' });
    t.equal(noTarget.status, 2, `${b} without a target: usage, exit 2`);
    const both = spawnSync(exe, ['--file', '/x', '--dev', '/y'], { encoding: 'utf8' });
    t.equal(both.status, 2, `${b} with --file and --dev: exit 2`);
    const tiny = spawnSync(exe, ['--file', '/nonexistent/x', '--size-mib', '2'], { encoding: 'utf8' });
    t.equal(tiny.status, 2, `${b} with less than two PMDs: exit 2`);
  }
});
