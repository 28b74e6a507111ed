// dax-harness repro's command line: bad input is one line and exit 2, the
// plan needs no guest, and a loop over a fake guest prints the verdict, the
// rate, the two crashes side by side and the commands.
import t from 'tap';
import { readFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { reproCommand, parseDuration, resolveTestNames, type ReproDeps } from '../../harness/src/cli/repro.js';
import { reproCatalogue } from '../../harness/src/suites/index.js';
import { parseLog } from '../../harness/src/oracle/index.js';
import type { ReproGuest, Pass } from '../../harness/src/workflows/repro/loop.js';
import type { CrashReport } from '../../harness/src/results/records.js';
import { messageOf } from '../../harness/src/cli/exit.ts';

const here = dirname(fileURLToPath(import.meta.url));
const intake = join(here, '../../harness/src/oracle/corpus/intake');
const corpus = join(here, '../../harness/src/oracle/corpus');
const report = join(intake, 'indented-2-timestamps.txt');
const merged = parseLog(readFileSync(join(corpus, 'dump-6.12-merged.log'), 'utf8'))[0]!;
const warn = parseLog(readFileSync(join(corpus, 'warning-old.log'), 'utf8'))[0]!;

const results = mkdtempSync(join(tmpdir(), 'daxh-repro-cli-'));
t.teardown(() => rmSync(results, { recursive: true, force: true }));

const debian: ReproDeps['debianKernels'] = async () => [
  { version: '6.1.192', kind: 'stock', argv: ['--kernel-package', 'linux-image-6.1.0-47-amd64'], label: 'linux-image-6.1.0-47-amd64 6.1.192-3' },
  { version: '6.12', kind: 'source', argv: ['--source', 'debian:6.12'], label: 'linux-source-6.12' },
];

async function run(argv: string[], deps: ReproDeps = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await reproCommand(argv.length && !argv.includes('--help') ? ['--results', results, ...argv] : argv, { debianKernels: debian, ...deps });
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/** A guest on a fake clock: `world` says what each run of each test does. */
function fake(world: (id: string, n: number) => CrashReport | null, clock: { t: number }): { deps: ReproDeps; asked: string[] } {
  const runs = new Map<string, number>();
  const asked: string[] = [];
  const guest: ReproGuest = {
    async runOnce(tests): Promise<Pass> {
      const id = tests[0]!.id;
      asked.push(id);
      const n = (runs.get(id) ?? 0) + 1;
      runs.set(id, n);
      clock.t += 30_000;
      const c = world(id, n);
      return { runs: [{ id, status: c ? 'crash' : 'pass', durationMs: 30_000, crashes: c ? [c] : [] }], crashes: [], bootMs: null, infraError: null };
    },
    async close() {},
  };
  return { deps: { openGuest: async () => guest, now: () => clock.t }, asked };
}

t.test('help', async (t) => {
  const r = await run(['--help']);
  t.equal(r.code, 0);
  t.match(r.out, /usage: dax-harness repro \[options\] REPORT\|-/);
  t.match(r.out, /--budget DURATION/);
});

t.test('bad input: one line naming it, exit 2, before any guest', async (t) => {
  let opened = false;
  const deps: ReproDeps = {
    openGuest: async () => {
      opened = true;
      throw new Error('must not boot');
    },
  };
  const cases: Array<[string[], RegExp]> = [
    [[], /REPORT is missing/],
    [['a', 'b'], /one REPORT at most/],
    [['/nonexistent/crash.txt'], /cannot read REPORT \/nonexistent\/crash\.txt: no such file/],
    [[intake], /is a directory/],
    [['--budget', '10 minutes', report], /--budget "10 minutes" is not a duration/],
    [['--confirm', 'two', report], /--confirm "two" is not a whole number/],
    [['--crash', '2', report], /--crash 2 is not one of its 1 crash/],
    [['--test', 'pmd_pte_mix.ext5', report], /--test "pmd_pte_mix\.ext5" is not a test repro knows: did you mean/],
    [['--test', 'ndctl:dax-ext4.sh', report], /needs --ndctl PATH/],
    [['--ndctl', '/tmp', report], /--ndctl \/tmp has no meson\.build/],
    [['--kernel', '/nonexistent/bzImage', report], /--kernel \/nonexistent\/bzImage: no readable file/],
    [['--kernel', report, '--kernel-package', 'x', report], /both given/],
    [['--accel', 'hvf', report], /--accel "hvf" is not kvm or tcg/],
    [['--config', 'no-such-fragment', report], /no config fragment "no-such-fragment"/],
    [['--frobnicate', report], /unknown option '--frobnicate'/],
    [[join(corpus, 'clean-boot.log')], /no kernel crash found in it/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(argv, deps);
    t.equal(r.code, 2, `${argv.join(' ')}: exit 2`);
    t.match(r.err, re, argv.join(' '));
    t.equal(r.err.trim().split('\n').length, 1, 'one line');
    t.match(r.err, /^dax-harness repro: /);
  }
  t.notOk(opened, 'no guest for bad input');
});

t.test('--dry-run prints the plan and needs no guest', async (t) => {
  const r = await run(['--dry-run', report]);
  t.equal(r.code, 0);
  t.match(r.out, /reported: {2}kernel BUG in dax_insert_pfn_pmd/);
  t.match(r.out, /kernel: {4}--kernel-package linux-image-6\.1\.0-47-amd64 \(.*5 releases older/);
  t.match(r.out, /tests to try \(\d+, best first\):\n {2}\S+\.ext4|smoke:ext4/);
  t.match(r.out, /dax-ext4\.sh: needs --ndctl PATH/);
  const j = await run(['--dry-run', '--json', report]);
  const plan = JSON.parse(j.out).plan;
  t.equal(plan.facts.title, 'kernel BUG in dax_insert_pfn_pmd');
  t.ok(plan.candidates.length > 0);
  const stdin = await run(['--dry-run', '-'], { stdin: Readable.from([readFileSync(join(intake, 'syzbot.eml'))]) });
  t.equal(stdin.code, 0);
  t.match(stdin.out, /WARNING in dax_folio_put/);
  t.match(stdin.out, /--source debian:6\.12/, '6.15-rc5 is nearest 6.12');
});

t.test('a reproduction: verdict, rate, comparison, other crashes, commands', async (t) => {
  const clock = { t: 0 };
  // pmd_pte_mix.ext4 crashes with the merged-series form of the bug every third run; xfs warns once.
  const f = fake((id, n) => (id === 'pmd_pte_mix.ext4' && n % 3 === 0 ? merged : id === 'dax-smoke.ext4' && n === 1 ? warn : null), clock);
  const r = await run(['--test', 'smoke:ext4', '--test', 'pmd_pte_mix.ext4', '--confirm', '5', report], f.deps);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /REPRODUCED in pmd_pte_mix\.ext4 after/);
  t.match(r.out, /rate: {4}\d+\/8 \(/, 'rate over the test\'s 8 runs (3 to the first, 5 more)');
  t.match(r.out, /= title +kernel BUG in dax_insert_pfn_pmd +kernel BUG in dax_fault_iter/);
  t.match(r.out, /= order +9 +9/);
  t.match(r.out, /frames in both: +dax_insert_pfn_pmd ≈ dax_fault_iter/);
  t.match(r.out, /other crashes met:\n {2}1× WARNING in dax_associate_entry \(related, in dax-smoke.ext4\)/);
  t.match(r.out, /dax-harness repro --kernel-package linux-image-6\.1\.0-47-amd64 --test pmd_pte_mix\.ext4 .*indented-2-timestamps\.txt/);
  t.match(r.out, /one run: dax-harness run --kernel-package linux-image-6\.1\.0-47-amd64 --suite stressors --test pmd_pte_mix\.ext4/);
  t.match(r.err, /pass 1 /, 'progress on stderr');
  const j = await run(['--json', '--test', 'pmd_pte_mix.ext4', report], fake((id, n) => (n === 2 ? merged : null), { t: 0 }).deps);
  const s = JSON.parse(j.out);
  t.equal(s.reproduced, true);
  t.equal(s.timeToFirstMs, 60_000);
});

t.test('not reproduced within the budget: exit 1 and what was tried', async (t) => {
  const clock = { t: 0 };
  const f = fake(() => null, clock);
  const r = await run(['--budget', '5m', report], f.deps);
  t.equal(r.code, 1);
  t.match(r.out, /NOT REPRODUCED within the 5m budget: 10 passes/);
  t.match(r.out, /tried:\n {2}\S+ +\d+ runs?/);
  t.ok(new Set(f.asked).size > 1, 'more than one test tried');
  t.match(r.out, /dax-ext4\.sh: not tried, needs --ndctl PATH/);
  t.notMatch(r.out, /reproduce it:/);
});

t.test('the repro directory: repro.json after every pass, the report kept, summary.txt, runs/', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-repro-dir-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  let runsRoot = '';
  const f = fake((id, n) => (n === 2 ? merged : null), { t: 0 });
  const deps: ReproDeps = { ...f.deps, openGuest: async (p) => ((runsRoot = p.resultsRoot), f.deps.openGuest!(p)) };
  const text = readFileSync(report);
  const r = await run(['--results', root, '--test', 'pmd_pte_mix.ext4', '--seconds', '1', '--confirm', '1', '-'], { ...deps, stdin: Readable.from([text]) });
  t.equal(r.code, 0, r.err);
  const [id] = readdirSync(root);
  t.match(id, /^repro-\d{8}-\d{6}-[0-9a-f]{4}$/);
  const dir = join(root, id!);
  t.equal(runsRoot, join(dir, 'runs'), "the guests' run directories go under runs/");
  const rec = JSON.parse(readFileSync(join(dir, 'repro.json'), 'utf8'));
  t.equal(rec.status, 'reproduced');
  t.equal(rec.passes.length, 3, 'every pass is in repro.json');
  t.equal(rec.summary.found.test, 'pmd_pte_mix.ext4');
  t.equal(rec.plan.reported.title, 'kernel BUG in dax_insert_pfn_pmd');
  t.equal(readFileSync(join(dir, 'report.txt'), 'utf8'), text.toString('utf8'), 'the report from stdin is kept');
  const summary = readFileSync(join(dir, 'summary.txt'), 'utf8');
  t.match(summary, /REPRODUCED in pmd_pte_mix\.ext4/);
  t.match(summary, new RegExp(`dax-harness repro .*--test pmd_pte_mix\\.ext4 --seconds 1 .*${join(dir, 'report.txt').replace(/[.]/g, '\\.')}`), 'the command reads the kept copy, with --seconds');
  t.match(summary, /one run: dax-harness run .*--suite stressors --test pmd_pte_mix\.ext4 --seconds 1/);
});

t.test('a guest side that fails: infra-error in repro.json, exit 3', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'daxh-repro-dir-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const broken: ReproDeps = {
    openGuest: async () => ({
      runOnce: async () => {
        throw new Error('QEMU failed to start: no KVM');
      },
      close: async () => {},
    }),
  };
  const r = await run(['--results', root, '--test', 'pmd_pte_mix.ext4', report], broken);
  t.equal(r.code, 3);
  t.match(r.err, /could not run the tests: QEMU failed to start: no KVM/);
  const rec = JSON.parse(readFileSync(join(root, readdirSync(root)[0]!, 'repro.json'), 'utf8'));
  t.equal(rec.status, 'infra-error');
  t.match(rec.reason, /no KVM/);
});

t.test('durations and test names', async (t) => {
  t.equal(parseDuration('90s', 'x'), 90_000);
  t.equal(parseDuration('1h30m', 'x'), 5_400_000);
  t.equal(parseDuration('45', 'x'), 45_000, 'plain seconds');
  t.equal(parseDuration('1d', 'x'), 86_400_000, 'days, as cache prune takes them');
  t.throws(() => parseDuration('8d', 'x'), /^x 8d is out of range: give 1s to 1w$/, 'past a week is no budget');
  const cat = await reproCatalogue();
  t.same(await resolveTestNames(['pmd_pte_mix'], cat), ['pmd_pte_mix.ext4', 'pmd_pte_mix.xfs', 'pmd_pte_mix.xfs-reflink'], 'a stressor is all its targets');
  t.same(await resolveTestNames(['stressors:pmd_pte_mix.xfs', 'smoke.ext4', 'smoke'], cat), ['pmd_pte_mix.xfs', 'dax-smoke.ext4', 'dax-smoke.xfs'], 'the older spellings');
  t.same(await resolveTestNames(['dax-smoke.xfs', 'ndctl:mmap.sh', 'mmap.sh', 'smoke:ext4'], cat), ['dax-smoke.xfs', 'mmap.sh', 'dax-smoke.ext4'], 'the ids run prints, and SUITE:NAME');
  const near = await resolveTestNames(['pmd_pte'], cat).then(() => null, (e: unknown) => e);
  t.match(messageOf(near), /^--test "pmd_pte" is not a test repro knows: did you mean pmd_pte_mix\.ext4/, 'the CLI: its flag');
  t.match((near as Error).message, /^test "pmd_pte" is not a test repro knows/, 'below it: the setting');
  await t.rejects(resolveTestNames(['nosuch'], cat), /is not a test repro knows: smoke: dax-smoke\.ext4.*; stressors: .*; ndctl: /, 'every suite listed');
});
