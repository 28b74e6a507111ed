// Repro planning without a guest: what a report says, which tests to try and
// why, which Debian kernel, the rate's interval and the command lines.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readReport } from '../../harness/src/workflows/repro/report.js';
import { reportFacts, parseKernelVersion, mentionedTests, ReportError } from '../../harness/src/workflows/repro/facts.js';
import { rankCandidates, candidateIds } from '../../harness/src/workflows/repro/candidates.js';
import { closestKernel, releaseIndex, type DebianKernel } from '../../harness/src/workflows/repro/kernels.js';
import { wilson, formatRate } from '../../harness/src/workflows/repro/stats.js';
import { reproCommands, shellQuote } from '../../harness/src/workflows/repro/command.js';
import { planRepro } from '../../harness/src/workflows/repro/plan.js';
import { STRESSOR_PATHS } from '../../harness/src/suites/stressors/paths.js';
import { NDCTL_PATHS } from '../../harness/src/suites/ndctl/paths.js';
import { loadManifest } from '../../harness/src/suites/stressors/stressor-manifest.js';
import { reproCatalogue } from '../../harness/src/suites/index.js';
import { isInputError } from '../../harness/src/host/errors.js';
import { cliSays } from '../cli-says.ts';


const here = dirname(fileURLToPath(import.meta.url));
const intake = (f: string) => readFileSync(join(here, '../../harness/src/oracle/corpus/intake', f), 'utf8');
const corpus = (f: string) => readFileSync(join(here, '../../harness/src/oracle/corpus', f), 'utf8');
const manifest = await loadManifest();
const idx = await reproCatalogue();

const DEBIAN: DebianKernel[] = [
  { version: '6.1.192', kind: 'stock', argv: ['--kernel-package', 'linux-image-6.1.0-47-amd64'], label: 'linux-image-6.1.0-47-amd64 6.1.192-3' },
  { version: '6.12', kind: 'source', argv: ['--source', 'debian:6.12'], label: 'linux-source-6.12' },
];

t.test('facts of the seed crash as mailed (indented, ndctl test named)', async (t) => {
  const f = reportFacts(await readReport(intake('indented-2-timestamps.txt')), idx);
  t.equal(f.title, 'kernel BUG in dax_insert_pfn_pmd');
  t.equal(f.comm, 'dax-pmd');
  t.same(f.kernelVersion && [f.kernelVersion.major, f.kernelVersion.minor], [6, 6]);
  t.equal(f.taint?.letters, 'OEN');
  t.equal(f.pageDump?.order, 9);
  t.equal(f.fs, 'ext4');
  t.equal(f.mode, 'fsdax');
  t.equal(f.faultSize, 'pmd');
  t.notOk(f.reflink);
  t.ok(f.tests.some((x) => x.name === 'dax-ext4.sh' && x.how === 'text'), 'dax-ext4.sh is named');
  t.ok(f.tests.some((x) => x.name === 'device-dax' && x.how === 'comm'), "dax-pmd is also device-dax's program");
  t.ok(f.functions.includes('ext4_dax_huge_fault'));
  t.notOk(f.significant.includes('do_trap'), 'trap plumbing is not significant');
  t.match(f.evidence.join('\n'), /ext4: the dumped page belongs to ext4_dax_aops/);
});

t.test('facts: xfs from the stack, device-dax, reflink, the syzbot mail', async (t) => {
  const x = reportFacts(await readReport(intake('indented-4-plain.txt')), idx);
  t.equal(x.fs, 'xfs');
  t.equal(x.faultSize, 'pte');
  t.ok(x.tests.some((m) => m.name === 'pmd_pte_mix.xfs'));
  const dev = reportFacts(await readReport(corpus('refcount-underflow.log')), idx);
  t.equal(dev.mode, 'devdax', `device-dax from ${dev.functions.slice(0, 4).join(', ')}`);
  const s = reportFacts(await readReport(intake('syzbot.eml')), idx);
  t.equal(s.syzbot?.title, 'WARNING in dax_folio_put');
  t.equal(s.fs, 'ext4');
  t.equal(s.kernelVersion?.rc, 5);
});

t.test('the crash a report is about, and bad picks', async (t) => {
  const thread = await readReport(intake('lore-thread.mbox'));
  t.equal(reportFacts(thread, idx).crash.source.message, 0, 'the first pasted one');
  t.equal(reportFacts(thread, idx, 3).title, 'kernel BUG in dax_fault_iter', '--crash 3');
  t.equal(reportFacts(thread, idx).others.length, 0, 'the quoted copy and the v2 crash (renamed frame) are the same bug');
  t.equal(reportFacts(await readReport(corpus('two-reports.log')), idx).others.length, 1, 'a second, different crash is another');
  t.throws(() => reportFacts(thread, idx, 4), /^crash 4 is not one of its 3 crash/);
  t.match(cliSays(() => reportFacts(thread, idx, 4)), /^--crash 4 is not one of its 3 crash/, 'the CLI: its flag');
  const quotedOnly = await readReport(intake('quoted-once.eml'));
  t.equal(reportFacts(quotedOnly, idx).crash.source.depth, 1, 'a quoted crash when nothing else is there');
  try {
    reportFacts(await readReport('just words\n'), idx);
    t.fail('no crash must throw');
  } catch (e) {
    t.ok(isInputError(e) && e instanceof ReportError, 'bad input, not a harness error');
    t.match((e as Error).message, /no kernel crash found/);
  }
});

t.test('mentioned tests', async (t) => {
  const m = mentionedTests('ran pipe_pin_unmapped.ext4 and mmap.sh; old dax.sh too', 'odirect_into_da', idx);
  t.same(m.map((x) => x.name).sort(), ['dax-ext4.sh', 'dax-xfs.sh', 'mmap.sh', 'odirect_into_dax', 'pipe_pin_unmapped.ext4'].sort());
  t.notOk(m.some((x) => x.name === 'pipe_pin'), 'a longer name does not also name its prefix');
  t.equal(m.find((x) => x.name === 'odirect_into_dax')?.how, 'comm', 'a Comm cut to 15 characters');
});

t.test('ranking: named test first, the filesystem counts, ndctl needs a tree', async (t) => {
  const f = reportFacts(await readReport(intake('indented-2-timestamps.txt')), idx);
  const r = rankCandidates(f, { catalogue: idx, tree: false });
  t.equal(r[0]!.id, 'dax-ext4.sh');
  t.match(r[0]!.blocked, /needs --ndctl PATH/);
  const runnable = r.filter((c) => !c.blocked);
  t.equal(runnable[0]!.fs, 'ext4', `best runnable on ext4: ${runnable[0]!.id}`);
  t.ok(runnable.slice(0, 3).every((c) => c.fs === 'ext4'), 'ext4 before xfs');
  t.ok(runnable.every((c) => c.reasons.length > 0), 'every candidate says why');
  const withTree = rankCandidates(f, { catalogue: idx, tree: true });
  t.equal(withTree[0]!.blocked, null);
  const only = rankCandidates(f, { catalogue: idx, tree: false, only: ['holes_zero.xfs'] });
  t.same(only.map((c) => c.id), ['holes_zero.xfs']);
  t.match(only[0]!.reasons.join(), /asked for with --test/);
  const hung = reportFacts(await readReport(corpus('hung-task.log')), idx);
  t.equal(rankCandidates(hung, { catalogue: idx, tree: false })[0]!.id, 'teardown.ext4', 'umount hang on ext4 → teardown on ext4');
});

t.test('the path tables name real tests', async (t) => {
  const names = new Set(manifest.tests.map((x) => x.binary ?? x.name));
  for (const s of Object.keys(STRESSOR_PATHS)) t.ok(names.has(s), `${s} is a stressor program of the manifest`);
  for (const n of Object.keys(NDCTL_PATHS)) t.match(n, /^[\w.-]+$/);
  t.ok(candidateIds(idx).includes('pmd_pte_mix.ext4') && candidateIds(idx).includes('dax-smoke.xfs') && candidateIds(idx).includes('dax-ext4.sh'), 'ids as run prints them');
});

t.test('closest Debian kernel', async (t) => {
  const v = (s: string) => parseKernelVersion(s)!;
  const six6 = closestKernel(v('6.6.0+'), DEBIAN)!;
  t.equal(six6.kernel.version, '6.1.192', '6.6 is 5 releases from 6.1 and 6 from 6.12');
  t.match(six6.closeness, /5 releases older/);
  t.match(six6.notes.join(), /development build/);
  const merged = closestKernel(v('6.15.0-rc5-syzkaller-00043-ga1b2c3d4e5f6'), DEBIAN)!;
  t.equal(merged.kernel.version, '6.12');
  t.match(merged.notes.join(), /refcount rework \(6\.15\)/, 'the 6.15 rework lies between');
  const same = closestKernel(v('6.1.0-18-amd64'), DEBIAN)!;
  t.equal(same.distance, 0);
  t.match(same.closeness, /the same release/);
  const tie = [{ ...DEBIAN[1]!, version: '6.7' }, { ...DEBIAN[0]!, version: '6.1' }];
  t.equal(closestKernel(v('6.4.0'), tie)!.kernel.version, '6.1', 'a tie is won by the stock kernel (no build)');
  t.equal(releaseIndex(6, 0) - releaseIndex(5, 19), 1, '5.19 → 6.0 is one release');
  t.equal(releaseIndex(4, 0) - releaseIndex(3, 19), 1);
  t.equal(closestKernel(v('6.6'), []), null);
});

t.test('Wilson interval', async (t) => {
  const near = (a: number, b: number) => Math.abs(a - b) < 0.001;
  const z = wilson(0, 10);
  t.ok(z.lo === 0 && near(z.hi, 0.2775), `0/10: ${z.hi}`);
  const h = wilson(5, 10);
  t.ok(near(h.lo, 0.2366) && near(h.hi, 0.7634), `5/10: ${h.lo}-${h.hi}`);
  const a = wilson(10, 10);
  t.ok(near(a.lo, 0.7225) && a.hi === 1);
  t.equal(wilson(0, 0).hi, 1, 'no runs: anything is possible');
  t.equal(formatRate(wilson(3, 10)), '3/10 (30%, 95% CI 11%-60%)');
});

t.test('plan and commands', async (t) => {
  const input = await readReport(intake('indented-2-timestamps.txt'));
  const p = planRepro(input, { catalogue: idx, ndctl: null, kernelArgv: null, debianKernels: DEBIAN });
  t.same(p.kernel.argv, ['--kernel-package', 'linux-image-6.1.0-47-amd64']);
  t.match(p.kernel.why, /5 releases older/);
  t.ok(p.blocked.some((c) => c.id === 'dax-ext4.sh'));
  t.ok(p.candidates.length > 0 && p.candidates.every((c) => c.blocked === null));
  const given = planRepro(input, { catalogue: idx, ndctl: null, kernelArgv: ['--source', 'debian:6.12', '--series', 'v9.mbox'], debianKernels: DEBIAN });
  t.same(given.kernel.argv, ['--source', 'debian:6.12', '--series', 'v9.mbox']);
  t.ok(given.kernel.given);
  const c = reproCommands({ report: 'crash mail.txt', kernelArgv: given.kernel.argv, candidate: p.candidates[0]!, ndctl: null, budget: '30m' });
  t.same(c.once.slice(0, 2), ['dax-harness', 'run']);
  t.ok(c.once.includes('--series'));
  t.equal(shellQuote(c.loop).endsWith("'crash mail.txt'"), true, 'quoted for a shell');
  t.same(reproCommands({ report: 'r', kernelArgv: [], candidate: { id: 'dax-smoke.xfs', suite: 'smoke', fs: 'xfs', score: 1, reasons: [], blocked: null }, ndctl: null }).once, ['dax-harness', 'run', '--suite', 'smoke', '--fs', 'xfs']);
});
