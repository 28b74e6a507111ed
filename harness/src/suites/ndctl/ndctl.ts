// ndctl's meson `dax` suite in the guest. The user's ndctl tree is built on
// the host (out of tree, never touching the checkout) and both the tree and
// the build directory are shared into the guest at the same absolute paths,
// because meson's build directory is full of absolute paths. Each test runs
// as its own `meson test` so a crash, a hang or a timeout is pinned on the
// right test, and results come from meson's testlog JSON (its JUnit file
// reports a TIMEOUT as a pass).
//
// The guest runs the kernel under test, so nothing it can write is ever used
// by the host: both shares are read-only, and meson writes its logs into a
// per-boot overlay (tmpfs upper layer) over the shared build directory. The
// host reads each verdict from the guest, from a log removed before the test:
// a run can only ever read what it wrote itself. Build directories are keyed
// by the tree's content and built under a lock, so two runs on one tree share
// a build only when the tree is the same.
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { run } from '../../host/proc.ts';
import { cacheDir } from '../../host/paths.ts';
import { exists, sha256 } from '../../host/fsutil.ts';
import { withLock } from '../../host/lock.ts';
import { InputError, withSettings } from '../../host/errors.ts';
import { SUITE_SETTINGS } from '../suite.ts';
import { ensurePackages } from '../../host/apt.ts';
import type { TestResult, TestStatus, Topology } from '../../results/records.ts';
import { TestLog, blankResult, judge, type SuiteContext } from '../context.ts';
import { newFailingTaint } from '../../oracle/index.ts';

/** The ndctl tree setting (its CLI flag --ndctl, its nightly key ndctl:). */
const NDCTL = SUITE_SETTINGS.tree('ndctl');

export const NDCTL_SUITE = 'ndctl:dax';

/**
 * What the suite's 13 tests need of the guest beyond the rootfs image
 * (see ndctl's test/*.sh and test/dax-dev.c):
 * - e820 legacy pmem, the first region ≥ 3 GiB: device-dax maps 2 GiB at 1 GiB
 *   alignment; dax-ext4/xfs and mmap.sh fallocate 1 GiB on it;
 * - one labelled NVDIMM (the ACPI.NFIT bus) with room for daxctl-devices'
 *   4 GiB devdax namespace, dm.sh's two 1 GiB ones and sub-section's 64 MiB;
 * - soft-reserved RAM for dax_hmem (daxctl-create up to ndctl v79; v80 and
 *   later use cxl_test instead);
 * - nfit_test and dax_hmem shipped but not loaded: the tests load and
 *   unload them themselves.
 */
export const NDCTL_GUEST: { topology: Topology; cmdline: string[]; modules: string[]; kernelFragments: string[] } = {
  topology: {
    nvdimms: [{ sizeMiB: 6146, labelSizeMiB: 2 }],
    memmap: [
      { sizeMiB: 3072, startMiB: 6144 },
      { sizeMiB: 1024, startMiB: 9216 },
    ],
    // q35 puts RAM above 2 GiB at 4 GiB: 12 GiB reaches 14 GiB, past the ranges taken.
    memMiB: 12288,
    cpus: 2,
    // cxl_test (daxctl-create, ndctl v80+) places mock devices on node 1.
    numaNodes: 2,
  },
  cmdline: ['memmap=1G%10G-1+0xefffffff'],
  // cxl_test's devices bind through modaliases, so their drivers ship by name.
  // overlay: meson's writes go to a per-boot layer over the read-only build share.
  modules: ['overlay', 'nfit_test', 'dax_hmem', 'kmem', 'dm_mod', 'cxl_test', 'cxl_mock_mem', 'cxl_acpi', 'cxl_port', 'cxl_mem', 'cxl_pmem', 'dax_cxl'],
  // A kernel the pipeline builds for this suite (cxl-test, for ndctl v80+'s
  // daxctl-create on 6.3+ trees, is the user's to add: older trees lack it).
  kernelFragments: ['dax', 'ndctl'],
};

export class NdctlInputError extends InputError {}

export interface NdctlBuild {
  src: string;
  build: string;
  /** The suite's tests in meson's order, with their meson timeouts (0 = none). */
  tests: Array<{ name: string; timeoutS: number }>;
  /** Directories the guest must see at the same paths. */
  shares: Array<{ hostPath: string; tag: string; readonly?: boolean }>;
}

/** Host packages to build ndctl (what its meson.build looks for). */
const BUILD_NEEDS = {
  meson: ['/usr/bin/meson'],
  'ninja-build': ['/usr/bin/ninja'],
  gcc: ['/usr/bin/gcc'],
  'pkg-config': ['/usr/bin/pkg-config'],
  'libkmod-dev': ['/usr/include/libkmod.h'],
  'libjson-c-dev': ['/usr/include/json-c/json.h'],
  'libiniparser-dev': ['/usr/include/iniparser/iniparser.h'],
  'uuid-dev': ['/usr/include/uuid/uuid.h'],
  'libudev-dev': ['/usr/include/libudev.h'],
  // meson.build asks pkg-config for 'udev' (its rules directory); udev.pc comes with udev itself.
  udev: ['/usr/share/pkgconfig/udev.pc'],
  'libkeyutils-dev': ['/usr/include/keyutils.h'],
  'libtracefs-dev': ['/usr/include/tracefs/tracefs.h'],
  'libtraceevent-dev': ['/usr/include/traceevent/event-parse.h'],
};

/** One meson testlog.json line → our status. */
export function mesonStatus(result: string): TestStatus {
  switch (result) {
    case 'OK':
    case 'EXPECTEDFAIL':
      return 'pass';
    case 'SKIP':
      return 'skip';
    case 'TIMEOUT':
      return 'timeout';
    default:
      return 'fail'; // FAIL, ERROR, UNEXPECTEDPASS
  }
}

export interface MesonTestLog {
  name: string;
  result: string;
  returncode: number | null;
  duration: number;
  stdout: string;
  stderr?: string;
}

/** Parse testlog JSON lines; meson's env dump is dropped on purpose. */
export function parseTestlog(text: string): MesonTestLog[] {
  const out: MesonTestLog[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      out.push({
        name: String(j.name ?? ''),
        result: String(j.result ?? ''),
        returncode: typeof j.returncode === 'number' ? j.returncode : null,
        duration: Number(j.duration ?? 0),
        stdout: String(j.stdout ?? ''),
        stderr: typeof j.stderr === 'string' ? j.stderr : undefined,
      });
    } catch {
      // A truncated last line (meson killed mid-write) carries no verdict.
    }
  }
  return out;
}

/** `meson test --list` output → bare test names of one suite, in order. */
export function parseTestList(text: string, suite: string): string[] {
  const prefix = `${suite} / `;
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length));
}

/** `meson introspect --tests` JSON → timeout per test name of one suite. */
export function parseIntrospectTimeouts(json: string, suite: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of JSON.parse(json) as Array<{ name: string; suite: string[]; timeout: number }>)
    if (t.suite.includes(suite)) out.set(t.name, t.timeout);
  return out;
}

/**
 * Lines of a test's output that say something in its own words: not bash's
 * xtrace (`+ cmd`), not libndctl/libdaxctl/libcxl debug chatter, not the
 * journal excerpt check_dmesg prints.
 */
function ownWords(t: MesonTestLog): string[] {
  return `${t.stdout}\n${t.stderr ?? ''}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^\++ /.test(l) && !/^\++$/.test(l) && !/^lib(ndctl|daxctl|cxl): /.test(l) && !/^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /.test(l));
}

/**
 * The last line that explains itself, trying the patterns in order (a test's
 * own "unable to find ..." beats bash's "command not found" from a trap),
 * else the last line at all.
 */
function explaining(lines: string[], whys: RegExp[], fallback: string): string {
  for (const why of whys) for (let i = lines.length - 1; i >= 0; i--) if (why.test(lines[i]!) && !/command not found$/.test(lines[i]!)) return lines[i]!;
  return lines[lines.length - 1] ?? fallback;
}

/** Why a test skipped, in the words it printed. */
export function skipReason(t: MesonTestLog): string {
  return explaining(ownWords(t), [/skip|unable|missing|lacks|requires?|not supported/i, /not found|needs?|no such|cannot/i], 'skipped (exit 77) without saying why');
}

/**
 * What the harness knows about a skip that the test's own words do not say:
 * matched against the whole output, appended to the reason.
 */
const SKIP_HINTS: Array<[RegExp, string]> = [
  [
    /Module cxl_test not found/,
    'no cxl_test for this kernel: tools/testing/cxl needs CONFIG_CXL_BUS, CXL_ACPI and CXL_PMEM as modules and Debian builds CXL_BUS in; build a 6.3+ kernel with --config dax,ndctl,cxl-test',
  ],
];

/** A skip's reason plus what the harness knows about it. */
export function explainSkip(t: MesonTestLog): string {
  const why = skipReason(t);
  const all = `${t.stdout}\n${t.stderr ?? ''}`;
  const hint = SKIP_HINTS.find(([re]) => re.test(all));
  return hint ? `${why} (harness: ${hint[1]})` : why;
}

/** What a failing test said went wrong, in its own words. */
export function failReason(t: MesonTestLog): string {
  return explaining(ownWords(t), [/fail|error|unable|missing|not found|mismatch|unexpected|expected|invalid|cannot|refused/i], 'no output');
}

export async function prepareNdctl(srcArg: string, log: (m: string) => void): Promise<NdctlBuild> {
  const src = resolve(srcArg);
  const mesonBuild = join(src, 'meson.build');
  if (!(await exists(mesonBuild))) throw new NdctlInputError(withSettings`${NDCTL} ${srcArg} has no meson.build: give the top of an ndctl git tree`);
  if (!/project\(\s*'ndctl'/.test(await readFile(mesonBuild, 'utf8')))
    throw new NdctlInputError(withSettings`${NDCTL} ${srcArg} is not an ndctl tree (its meson.build is not project('ndctl')): give the top of an ndctl git tree`);
  await ensurePackages(BUILD_NEEDS, log);
  const key = sha256('ndctl-build-v2', src, await treeState(src)).slice(0, 16);
  const build = cacheDir('ndctl', key, 'build');
  return withLock(cacheDir('ndctl', key, 'lock'), () => buildNdctl(src, build, log), {
    onWait: (holder) => log(`another harness (${holder}) is building ${src}: waiting`),
  });
}

/**
 * What identifies a tree's content cheaply: the git tree object of the
 * directory (not the commit: a tree inside a larger repository keeps its key
 * while the rest moves on) and, for uncommitted work, its status and diff. A
 * tree that is not a git checkout is keyed by the newest modification time
 * under it.
 */
export async function treeState(src: string): Promise<string> {
  const git = async (args: string[]) => (await run('git', ['-C', src, ...args], { timeoutMs: 60000, reject: false })).stdout;
  const tree = (await git(['rev-parse', 'HEAD:./'])).trim();
  if (/^[0-9a-f]{40}$/.test(tree)) return sha256(tree, await git(['status', '--porcelain=v1', '-uall', '--', '.']), await git(['diff', 'HEAD', '--', '.']));
  return `mtime:${await newestMtime(src)}`;
}

async function newestMtime(dir: string, depth = 0): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.name === '.git' || e.name.startsWith('build')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth < 8) newest = Math.max(newest, await newestMtime(p, depth + 1));
    } else newest = Math.max(newest, (await stat(p).catch(() => ({ mtimeMs: 0 }))).mtimeMs);
  }
  return newest;
}

async function buildNdctl(src: string, build: string, log: (m: string) => void): Promise<NdctlBuild> {
  const configured = await exists(join(build, 'build.ninja'));
  const setupArgs = ['setup', build, src, '-Dtest=enabled', '-Ddestructive=enabled', '-Ddocs=disabled'];
  if (configured) setupArgs.push('--reconfigure');
  const t0 = Date.now();
  // meson.build and the build scripts are code from the tree named on the
  // command line: they run sandboxed, writing only the build directory.
  await mkdir(build, { recursive: true });
  const sandbox = { readable: [src], writable: [build] };
  const setup = await run('meson', setupArgs, { timeoutMs: 600000, reject: false, sandbox });
  if (setup.exitCode !== 0)
    throw new NdctlInputError(`meson setup of ${src} failed: ${(setup.stdout + setup.stderr).trim().split('\n').slice(-2).join(' | ')}`);
  const compile = await run('meson', ['compile', '-C', build], { timeoutMs: 1800000, reject: false, sandbox });
  if (compile.exitCode !== 0)
    throw new NdctlInputError(`building ${src} failed: ${(compile.stdout + compile.stderr).trim().split('\n').filter((l) => /error/i.test(l)).slice(0, 2).join(' | ')}`);
  const list = await run('meson', ['test', '-C', build, '--list', '--suite', NDCTL_SUITE], { timeoutMs: 120000, reject: false, sandbox });
  const names = parseTestList(list.stdout, NDCTL_SUITE);
  if (!names.length) throw new NdctlInputError(`${src} has no tests in the ${NDCTL_SUITE} suite`);
  const intro = await run('meson', ['introspect', '--tests', build], { timeoutMs: 120000, sandbox });
  const timeouts = parseIntrospectTimeouts(intro.stdout, NDCTL_SUITE);
  const tests = names.map((name) => ({ name, timeoutS: timeouts.get(name) ?? 30 }));
  log(`ndctl built in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${tests.length} tests in ${NDCTL_SUITE}`);
  return {
    src,
    build,
    tests,
    shares: [
      { hostPath: src, tag: 'daxh_src', readonly: true },
      { hostPath: build, tag: 'daxh_build', readonly: true },
    ],
  };
}

/**
 * The build directory in the guest: the read-only share as the lower layer of
 * an overlay whose upper layer is on the guest's own root disk (a per-run
 * qcow2 overlay), so meson can write its logs and the host's copy stays
 * untouched. The upper layer must take O_DIRECT: ndctl's tests open files in
 * their working directory (the build dir) with it, and tmpfs refuses
 * (device-dax's "failed dax direct-i/o"). Without overlayfs, a copy there.
 */
const WRITABLE_BUILD = [
  'set -e',
  // Set up once per boot: a later pass in the same guest reuses it.
  'if mountpoint -q "$2"; then echo "build dir: already set up"; exit 0; fi',
  'lower=/run/daxh/ndctl-lower; rw=/var/tmp/daxh-ndctl-rw',
  'rm -rf "$rw"; mkdir -p "$lower" "$rw/upper" "$rw/work" "$2"',
  'mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000 "$1" "$lower"',
  'if mount -t overlay daxh-ndctl -o "lowerdir=$lower,upperdir=$rw/upper,workdir=$rw/work" "$2" 2>/dev/null; then echo "build dir: overlay over the read-only share"',
  'else cp -a "$lower/." "$rw/upper/" && mount --bind "$rw/upper" "$2" && echo "build dir: a copy of the read-only share"; fi',
].join('\n');

export interface NdctlSuiteOptions {
  tests?: string[];
  onResult: (r: TestResult) => Promise<void>;
  /** Harness-side limit for a test whose meson timeout is disabled (timeout: 0). Default 30 min. */
  hangMs?: number;
}

/** How long the harness waits for one test: meson's own timeout, scaled, plus room; or the hang limit. */
export function outerLimitMs(timeoutS: number, mult: number, hangMs: number): number {
  return timeoutS > 0 ? (timeoutS * mult + 60) * 1000 : hangMs;
}

export async function runNdctlSuite(ctx: SuiteContext, nb: NdctlBuild, o: NdctlSuiteOptions): Promise<void> {
  const setupLog = new TestLog(ctx, 'setup.ndctl');
  await setupLog.ready;
  for (const s of nb.shares) {
    const argv = s.tag === 'daxh_build' ? ['sh', '-c', WRITABLE_BUILD, 'daxh', s.tag, s.hostPath] : ['sh', '-c', 'mkdir -p "$2" && { mountpoint -q "$2" || mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000 "$1" "$2"; }', 'daxh', s.tag, s.hostPath];
    const mount = await setupLog.exec(ctx, argv, 120000);
    if (mount.exitCode !== 0) {
      await setupLog.close();
      throw new Error(`could not mount the ${s.tag} share at ${s.hostPath} in the guest: ${(mount.stderr || mount.stdout).trim()}`);
    }
  }
  await keepNfitDependencies(ctx, setupLog);
  await initNfitLabels(ctx, nb, setupLog);
  await setupLog.close();
  const all = nb.tests.map((t) => t.name);
  const wanted = o.tests?.length ? o.tests : all;
  for (const w of wanted) if (!all.includes(w)) throw new NdctlInputError(withSettings`${SUITE_SETTINGS.test} ${w} is not in ${NDCTL_SUITE}: choose from ${all.join(', ')}`);
  // meson's -t multiplies every test's timeout: scale it for TCG.
  const mult = Math.max(1, Math.round(ctx.timeScale));
  for (const [i, name] of wanted.entries()) {
    if (ctx.signal.aborted) break;
    const t = nb.tests.find((x) => x.name === name)!;
    const r = await runOne(ctx, nb, name, i, mult, outerLimitMs(t.timeoutS, mult, o.hangMs ?? 1800000));
    await o.onResult(r);
    if (r.status === 'infra-error') break;
  }
}

/**
 * ndctl's tests clean up with `modprobe -r nfit_test`, which also unloads
 * every dependency left unused, device_dax among them. The next test that
 * makes a devdax namespace then races udev's module autoload and may open
 * /dev/daxX.Y before device_dax is back and bound ("failed to open(O_RDONLY)
 * device-dax instance", seen on device-dax after multi-dax.sh). Removing
 * only nfit_test itself keeps the wrapped drivers loaded between tests.
 */
async function keepNfitDependencies(ctx: SuiteContext, log: TestLog): Promise<void> {
  const conf = '# dax-harness: unload nfit_test alone, keep its dependencies (device_dax...) loaded\nremove nfit_test /sbin/rmmod nfit_test\n';
  const r = await log.exec(ctx, ['sh', '-c', 'mkdir -p /etc/modprobe.d && printf %s "$1" > /etc/modprobe.d/daxh-nfit-test.conf', 'daxh', conf], 30000);
  if (r.exitCode !== 0) throw new Error(`could not write /etc/modprobe.d/daxh-nfit-test.conf in the guest: ${r.stderr.trim()}`);
}

/**
 * A labelled QEMU NVDIMM comes up with blank labels, so its region is one
 * label-less namespace with no free space; sub-section.sh then finds no
 * region ("null") and passes without testing anything, and dm.sh and
 * daxctl-devices cannot create namespaces. Initialising the labels gives
 * the ACPI.NFIT regions their whole size as free space. DIMMs without a
 * label area refuse; that is logged, not fatal (a user topology may be
 * label-less on purpose).
 */
async function initNfitLabels(ctx: SuiteContext, nb: NdctlBuild, log: TestLog): Promise<void> {
  // The tree's own ndctl, or the image's when the tree builds none (our stand-in project).
  const ndctl = ['sh', '-c', 'n="$1"; shift; [ -x "$n" ] || n=ndctl; exec "$n" "$@"', 'daxh', join(nb.build, 'ndctl', 'ndctl')];
  for (const verb of [['disable-region'], ['init-labels', '-f'], ['enable-region']]) {
    const r = await log.exec(ctx, [...ndctl, ...verb, '-b', 'ACPI.NFIT', 'all'], 120000);
    if (r.exitCode !== 0) log.line(`(ndctl ${verb[0]} on ACPI.NFIT exited ${r.exitCode}: tests needing free labelled space may skip)`);
  }
  const list = await log.exec(ctx, [...ndctl, 'list', '-R', '-b', 'ACPI.NFIT'], 60000);
  log.line(`ACPI.NFIT regions after label init: ${list.stdout.replace(/\s+/g, ' ').trim() || 'none'}`);
}

async function runOne(ctx: SuiteContext, nb: NdctlBuild, name: string, i: number, mult: number, limitMs: number): Promise<TestResult> {
  const logName = `ndctl.${name.replace(/[^\w.-]/g, '_')}`;
  const log = new TestLog(ctx, logName);
  await log.ready;
  const res = blankResult(name, { suite: NDCTL_SUITE }, log.rel);
  const t0 = Date.now();
  const logbase = `daxh-${ctx.logPrefix ?? 'run'}-${i}`;
  const testlog = join(nb.build, 'meson-logs', `${logbase}.json`);
  ctx.progress(`${NDCTL_SUITE} / ${name} ...`);
  try {
    const taintBefore = await readTaint(ctx);
    // Whatever happens to meson, the verdict read afterwards is this test's or none.
    await ctx.guest.exec(['rm', '-f', testlog], { timeoutMs: 30000, signal: ctx.signal });
    const r = await ctx.guest.exec(
      ['meson', 'test', '-C', nb.build, '--no-rebuild', '--suite', NDCTL_SUITE, '-t', String(mult), '--logbase', logbase, name],
      { timeoutMs: limitMs, signal: ctx.signal, onOutput: (c) => log.line(c.replace(/\n$/, '')) },
    );
    if (r.timedOut) {
      res.status = 'timeout';
      res.reason = `no verdict after ${(r.durationMs / 1000).toFixed(0)} s: the test hung (harness watchdog)`;
    } else if (!ctx.signal.aborted) {
      const got = await ctx.guest.exec(['cat', testlog], { timeoutMs: 60000, signal: ctx.signal, keepBytes: 64 * 1024 * 1024 });
      const text = got.exitCode === 0 ? got.stdout : '';
      const entry = parseTestlog(text).find((x) => x.name.endsWith(` / ${name}`));
      if (!entry) {
        res.status = 'fail';
        res.reason = `meson test exited ${r.exitCode} without a result for ${name}`;
      } else {
        res.status = mesonStatus(entry.result);
        res.metrics.meson_result = entry.result;
        if (entry.returncode !== null) res.metrics.returncode = entry.returncode;
        res.metrics.meson_duration_s = Math.round(entry.duration * 100) / 100;
        log.line('--- test output (from meson testlog) ---');
        log.line(entry.stdout);
        if (entry.stderr) log.line(entry.stderr);
        if (res.status === 'skip') res.reason = explainSkip(entry);
        else if (res.status === 'fail') res.reason = `${entry.result} (exit ${entry.returncode}): ${failReason(entry)}`;
        else if (res.status === 'timeout') res.reason = `meson timed it out after ${entry.duration.toFixed(0)} s`;
      }
      // A new W/D/B taint fails the test even when the log line that caused it was lost.
      const taint = newFailingTaint(taintBefore, await readTaint(ctx));
      res.metrics.taint_gained = taint.letters;
      if (taint.letters && (res.status === 'pass' || res.status === 'skip')) {
        res.status = 'fail';
        res.reason = `kernel taint gained ${taint.letters} (${taint.names.join(', ')}) during the test`;
      }
    }
  } catch (e) {
    res.status = 'infra-error';
    res.reason = e instanceof Error ? e.message : String(e);
    await ctx.settle();
  } finally {
    judge(res, ctx.takeCrashes());
    res.durationMs = Date.now() - t0;
    await log.close();
  }
  return res;
}

async function readTaint(ctx: SuiteContext): Promise<number> {
  const r = await ctx.guest.exec(['cat', '/proc/sys/kernel/tainted'], { timeoutMs: 30000, signal: ctx.signal });
  return Number(r.stdout.trim());
}
