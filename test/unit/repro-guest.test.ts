// The guest side of repro, minus the guest: what a pass was from what the run
// primitive recorded, which candidates share a guest, and the list of Debian
// kernels read from apt.
import t from 'tap';
import { passFromResults, candidatePlan, guestKey } from '../../harness/src/workflows/repro/guest.js';
import { kernelPackageNames, parseAptShow } from '../../harness/src/workflows/repro/debian.js';
import { closestKernel } from '../../harness/src/workflows/repro/kernels.js';
import { parseKernelVersion } from '../../harness/src/workflows/repro/facts.js';
import { blankResult } from '../../harness/src/suites/context.js';
import { defaultTopology } from '../../harness/src/vm/topology.js';
import type { CrashReport, TestResult, TestStatus } from '../../harness/src/results/records.js';
import type { Candidate } from '../../harness/src/workflows/repro/candidates.js';

const crash = (title: string): CrashReport => ({ title }) as CrashReport;
function res(name: string, status: TestStatus, ms: number, crashes: CrashReport[] = [], reason = ''): TestResult {
  const r = blankResult(name, {}, `tests/${name}.log`);
  return { ...r, status, durationMs: ms, crashes, reason };
}

t.test('a pass from the results the cell recorded', async (t) => {
  const warn = crash('WARNING in dax_disassociate_entry');
  const atBoot = crash('WARNING in nd_pmem_probe');
  const p = passFromResults(
    'pmd_pte_mix.ext4',
    [res('boot', 'crash', 9000, [atBoot]), res('setup.stressors', 'pass', 2000), res('setup.ext4', 'pass', 1000), res('pmd_pte_mix', 'crash', 4000, [warn], 'WARNING in dax_disassociate_entry')],
    [],
    null,
  );
  t.equal(p.bootMs, 9000, 'a boot in the pass is its boot time');
  t.same(p.crashes.map((c) => c.title), ['WARNING in nd_pmem_probe'], 'a report at boot belongs to no test');
  t.equal(p.runs.length, 1);
  t.equal(p.runs[0]!.id, 'pmd_pte_mix.ext4');
  t.equal(p.runs[0]!.status, 'crash');
  t.equal(p.runs[0]!.durationMs, 7000, 'the setup steps are part of the test run');
  t.same(p.runs[0]!.crashes, [warn]);
  t.equal(p.infraError, null);

  const setupCrash = passFromResults('smoke:ext4', [res('setup.fsdax', 'crash', 500, [warn]), res('dax-smoke', 'pass', 3000)], [], null);
  t.equal(setupCrash.runs[0]!.status, 'crash', 'a report in a setup step marks the run, even when the test after it passed');
  t.equal(setupCrash.bootMs, null, 'no boot: the guest was up');

  const skipped = passFromResults('mmap_stress.devdax-1g', [res('setup.stressors', 'pass', 100), res('setup.devdax-1g', 'skip', 100, [], 'namespace too small')], [], null);
  t.equal(skipped.runs[0]!.status, 'skip', 'a target that cannot be set up is a skip of its test');
  t.equal(skipped.runs[0]!.reason, 'namespace too small');

  const worst = passFromResults('x', [res('a', 'pass', 1), res('b', 'fail', 1, [], 'census: refcount 4'), res('c', 'timeout', 1)], [], null);
  t.equal(worst.runs[0]!.status, 'timeout', 'the worst main step decides');

  const loose = crash('BUG: Bad page state in process kworker');
  const between = passFromResults('x', [res('x', 'pass', 10), res('kernel', 'crash', 0, [crash('late')])], [loose], null);
  t.same(between.crashes.map((c) => c.title), ['late', 'BUG: Bad page state in process kworker'], "reports outside tests, the teardown's step included");

  const noBoot = passFromResults('x', [res('boot', 'infra-error', 180000, [], 'guest did not become ready: stopped after init ran')], [], 'run ended');
  t.same(noBoot.runs, []);
  t.match(noBoot.infraError, /did not become ready/, 'a guest that never came up is an infrastructure error');
  const cut = passFromResults('x', [], [], 'the repro budget ended during this pass');
  t.equal(cut.infraError, 'the repro budget ended during this pass');
  t.equal(passFromResults('x', [], [], null).infraError, 'the pass ran no test');
  t.equal(passFromResults('x', [res('boot', 'crash', 5000, [atBoot])], [], null).infraError, null, 'a boot that crashed is a report, not an infrastructure error');
});

t.test('each candidate is a cell plan; cells that boot the same guest share it', async (t) => {
  const base = { kernel: { kind: 'stock' as const }, ndctl: '/src/ndctl', seconds: 1, seed: 7 };
  const cand = (over: Partial<Candidate>): Candidate => ({ id: 'x', suite: 'stressors', fs: null, score: 1, reasons: [], blocked: null, ...over });
  t.same(candidatePlan(cand({ id: 'pmd_pte_mix.ext4' }), base), { kernel: { kind: 'stock' }, suite: 'stressors', tests: ['pmd_pte_mix.ext4'], seconds: 1, seed: 7 });
  t.same(candidatePlan(cand({ id: 'dax-smoke.xfs', suite: 'smoke', fs: 'xfs' }), base).filesystems, ['xfs'], 'the smoke takes a filesystem, not a test');
  const nd = candidatePlan(cand({ id: 'mmap.sh', suite: 'ndctl' }), { ...base, accel: 'tcg' });
  t.equal(nd.ndctl, '/src/ndctl');
  t.equal(nd.accel, 'tcg');

  const prepared = (over: Record<string, unknown> = {}) =>
    ({
      kernel: { key: 'k1' },
      image: { key: 'initramfs-1' },
      modules: { key: 'm1' },
      topology: defaultTopology,
      cmdlineExtra: [],
      extras: [],
      prepared: { shares: undefined },
      accel: { used: 'tcg' },
      ...over,
    }) as unknown as Parameters<typeof guestKey>[0];
  t.equal(guestKey(prepared()), guestKey(prepared()), 'the smoke and the stressors boot the same guest');
  t.not(guestKey(prepared()), guestKey(prepared({ image: { key: 'rootfs-1' } })), 'another image is another guest');
  t.not(guestKey(prepared()), guestKey(prepared({ topology: { ...defaultTopology, memMiB: 12288 } })), 'another topology is another guest');
  t.not(guestKey(prepared()), guestKey(prepared({ cmdlineExtra: ['memmap=3G!6G'] })), 'other kernel words are another guest');
});

t.test("Debian's kernels from apt", async (t) => {
  const names = [
    'linux-image-6.1.0-47-amd64',
    'linux-image-6.1.0-47-amd64-dbg',
    'linux-image-6.1.0-47-amd64-unsigned',
    'linux-image-6.1.0-47-cloud-amd64',
    'linux-image-6.1.0-47-rt-amd64',
    'linux-image-6.12.117+deb12-amd64',
    'linux-image-6.12.117+deb12-cloud-amd64',
    'linux-image-6.12-amd64',
    'linux-image-amd64',
    'linux-source',
    'linux-source-6.1',
    'linux-source-6.12',
    'linux-headers-6.1.0-47-amd64',
  ];
  t.same(kernelPackageNames(names), ['linux-image-6.1.0-47-amd64', 'linux-image-6.12.117+deb12-amd64', 'linux-source-6.1', 'linux-source-6.12'], 'bootable amd64 images with an ABI, and the sources');
  const show = [
    'Package: linux-image-6.1.0-47-amd64\nSource: linux-signed-amd64 (6.1.170+3)\nVersion: 6.1.170-3\nDescription: Linux 6.1',
    'Package: linux-source-6.12\nVersion: 6.12.117-1~deb12u1',
    'Package: linux-image-6.1.0-57-amd64\nVersion: 6.1.192-3',
    'Package: linux-image-6.12.117+deb12-amd64\nVersion: 6.12.117-1~deb12u1',
    'Package: linux-source-6.1\nVersion: 6.1.192-3',
    'Package: linux-image-6.1.0-57-amd64\nVersion: 6.1.192-3',
  ].join('\n\n');
  const kbuild = new Set(['6.1.192-3', '6.1.170-3', '6.12.117-1~deb12u1']);
  const ks = parseAptShow(show, kbuild);
  t.same(
    ks.map((k) => [k.kind, k.version, k.argv.join(' ')]),
    [
      ['stock', '6.12.117', '--kernel-package linux-image-6.12.117+deb12-amd64'],
      ['stock', '6.1.192', '--kernel-package linux-image-6.1.0-57-amd64'],
      ['stock', '6.1.170', '--kernel-package linux-image-6.1.0-47-amd64'],
      ['source', '6.12.117', '--source debian:6.12'],
      ['source', '6.1.192', '--source debian:6.1'],
    ],
    'stock images newest first, then the sources; a package listed twice once',
  );
  t.same(
    parseAptShow(show, new Set(['6.1.192-3'])).filter((k) => k.kind === 'stock').map((k) => k.release),
    ['6.1.0-57-amd64'],
    'an image whose linux-kbuild apt no longer has is left out: no module of ours could be built for it',
  );
  const v = (s: string) => parseKernelVersion(s)!;
  t.equal(closestKernel(v('6.1.172'), ks)!.kernel.label, 'linux-image-6.1.0-47-amd64 6.1.170-3', 'within a release, the nearest stable update');
  t.equal(closestKernel(v('6.1.192+'), ks)!.kernel.label, 'linux-image-6.1.0-57-amd64 6.1.192-3');
  const own = closestKernel(v('6.1.0-57-amd64'), ks)!;
  t.equal(own.kernel.label, 'linux-image-6.1.0-57-amd64 6.1.192-3', "a Debian kernel's own release names its package");
  t.match(own.closeness, /the report's own kernel/);
  t.equal(closestKernel(v('6.1.0-49-amd64'), ks)!.kernel.version, '6.1.192', 'an ABI apt cannot serve: the newest of its release');
  t.equal(closestKernel(v('6.1'), ks)!.kernel.version, '6.1.192', 'no patch level given: the newest of the release');
  t.equal(closestKernel(v('6.6.0+'), ks)!.kernel.version, '6.1.192', 'another release: its newest update, whatever the patch numbers');
  t.equal(closestKernel(v('6.13.2'), ks)!.kernel.argv.join(' '), '--kernel-package linux-image-6.12.117+deb12-amd64', 'the stock 6.12 before a 6.12 build');
});
