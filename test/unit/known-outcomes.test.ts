import t from 'tap';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { knownName, parseKnown, lookupKnown, verdictOf, applyKnown, loadKnown, KnownOutcomesError, BUILTIN_KNOWN } from '../../harness/src/suites/known.ts';
import type { TestResult } from '../../harness/src/results/records.ts';

const stock = { release: '6.1.0-57-amd64', kind: 'debian-stock' as const };
const built612 = { release: '6.12.48+', kind: 'built' as const };

const LIST = `
# comment
ndctl:daxctl-create.sh   @stock        skip   /victim region/  no cxl_test on Debian kernels
stressors:vma_ops.*      <6.5          crash|fail              bad pmd on devmap PMDs before 6.5
stressors:vma_ops.ext4   >=6.1,<6.2    pass                    (a later line wins: fixed in our backport)
boot:boot                *             crash  /topology_sane/  our own topology warned
`;

function result(name: string, status: TestResult['status'], reason = '', params: Record<string, string> = {}): TestResult {
  return { name, params, status, reason, startedAt: '', durationMs: 0, log: '', crashes: [], metrics: {} };
}

t.test('parse: fields, kinds, ranges, regex, why', async (t) => {
  const e = parseKnown(LIST, 'list.txt');
  t.equal(e.length, 4);
  t.same(e[0], { test: 'ndctl:daxctl-create.sh', kernel: [], kind: 'debian-stock', accel: null, statuses: ['skip'], match: 'victim region', why: 'no cxl_test on Debian kernels', source: 'list.txt:3' });
  t.same(e[1].statuses, ['crash', 'fail']);
  t.same(e[2].kernel, ['>=6.1', '<6.2']);
  t.equal(e[3].match, 'topology_sane');
});

t.test('parse errors name the file and line', async (t) => {
  t.throws(() => parseKnown('ndctl:x  *  broke  why', 'f'), { message: /^f:1: status "broke"/ });
  t.throws(() => parseKnown('\nnope:x  *  fail  why', 'f'), { message: /^f:2: "nope:x" is not suite:test/ });
  t.throws(() => parseKnown('ndctl:x  6.x  fail  why', 'f'), { message: /kernel "6.x"/ });
  t.throws(() => parseKnown('ndctl:x  *  fail  /(/ why', 'f'), { message: /not a valid regex/ });
  t.throws(() => parseKnown('ndctl:x  *  fail', 'f'), { message: /say why/ });
  t.throws(() => parseKnown('ndctl:x  *  fail', 'f'), KnownOutcomesError);
});

t.test('lookup: kernel ranges, provenance, families, last line wins', async (t) => {
  const e = parseKnown(LIST, 'l');
  t.equal(lookupKnown(e, 'ndctl:daxctl-create.sh', stock)?.why, 'no cxl_test on Debian kernels');
  t.equal(lookupKnown(e, 'ndctl:daxctl-create.sh', built612), null, '@stock does not cover a built kernel');
  t.same(lookupKnown(e, 'stressors:vma_ops.xfs', stock)?.statuses, ['crash', 'fail'], 'family pattern');
  t.same(lookupKnown(e, 'stressors:vma_ops.ext4', stock)?.statuses, ['pass'], 'the later, narrower line wins');
  t.equal(lookupKnown(e, 'stressors:vma_ops.xfs', built612), null, 'out of range');
  t.equal(lookupKnown(e, 'stressors:vma_ops.xfs', { release: 'mykernel', kind: 'path' }), null, 'a release that is no version matches no range');
});

t.test('lookup: an accelerator condition (a timing check emulation trips)', async (t) => {
  const e = parseKnown('ndctl:device-dax  @tcg  fail|pass  /took too long/  timing check under TCG\n', 'l');
  t.equal(lookupKnown(e, 'ndctl:device-dax', { ...stock, accel: 'tcg' })?.why, 'timing check under TCG');
  t.equal(lookupKnown(e, 'ndctl:device-dax', { ...stock, accel: 'kvm' }), null, 'not under KVM');
  t.equal(verdictOf({ status: 'fail', reason: 'FAIL (exit 250): dax1.0: verify loop took too long usecs: 32957' }, lookupKnown(e, 'ndctl:device-dax', { ...stock, accel: 'tcg' })), 'xfail');
  t.equal(verdictOf({ status: 'fail', reason: 'FAIL (exit 255): namespace1.0: failed dax direct-i/o' }, lookupKnown(e, 'ndctl:device-dax', { ...stock, accel: 'tcg' })), 'fail', 'any other failure of the test still fails');
});

t.test('verdicts', async (t) => {
  const exp = { statuses: ['crash' as const, 'fail' as const], match: 'bad pmd', why: 'w', source: 's' };
  t.equal(verdictOf(result('a', 'pass'), null), 'pass');
  t.equal(verdictOf(result('a', 'fail'), null), 'fail');
  t.equal(verdictOf(result('a', 'crash', 'kernel BUG in x'), null), 'fail');
  t.equal(verdictOf(result('a', 'fail', 'kernel log: bad pmd'), exp), 'xfail');
  t.equal(verdictOf(result('a', 'fail', 'data mismatch at 0x1000'), exp), 'fail', 'a failure for another reason is not the known one');
  t.equal(verdictOf(result('a', 'timeout'), exp), 'fail', 'a status the list does not name');
  t.equal(verdictOf(result('a', 'pass'), exp), 'xpass');
  t.equal(verdictOf(result('a', 'pass'), { ...exp, statuses: ['pass', 'crash'] }), 'pass', 'a race that may pass');
  t.equal(verdictOf(result('a', 'skip'), null), 'skip');
  t.equal(verdictOf(result('a', 'infra-error'), exp), 'error', 'an infrastructure error is never expected');
});

t.test('applyKnown: list over the suite own expectation; stressor target in the name', async (t) => {
  const e = parseKnown(LIST, 'l');
  const r = result('vma_ops', 'crash', 'BUG: Bad page map', { target: 'xfs', fs: 'xfs' });
  r.expected = { statuses: ['pass'], why: 'manifest', source: 'manifest.json' };
  applyKnown(r, 'stressors', e, stock);
  t.equal(r.expected?.source, 'l:4');
  t.equal(r.verdict, 'xfail');
  const s = applyKnown(result('dax-smoke', 'fail', 'x', { fs: 'ext4' }), 'smoke', e, stock);
  t.equal(knownName('smoke', s), 'smoke:dax-smoke.ext4');
  t.equal(s.expected, null);
  t.equal(s.verdict, 'fail');
  const kept = result('pmd_pte_mix', 'fail', 'x', { target: 'ext4' });
  kept.expected = { statuses: ['fail'], why: 'manifest says so', source: 'manifest.json' };
  t.equal(applyKnown(kept, 'stressors', e, stock).verdict, 'xfail', 'the suite expectation stands when no list line covers the test');
});

t.test('files: the built-in list parses; a missing user file is a clear error', async (t) => {
  const e = await loadKnown([BUILTIN_KNOWN]);
  t.ok(e.length >= 1);
  const dir = mkdtempSync(join(tmpdir(), 'daxh-known-'));
  writeFileSync(join(dir, 'mine.txt'), 'smoke:dax-smoke  *  fail  mine\n');
  const both = await loadKnown([BUILTIN_KNOWN, join(dir, 'mine.txt')]);
  t.equal(both.at(-1)?.why, 'mine');
  await t.rejects(loadKnown([join(dir, 'nope.txt')]), { message: /nope.txt: does not exist/ });
});
