import t from 'tap';
import { decodeTaint, parseTaintString, newFailingTaint, taintValue } from '../../harness/src/oracle/taint.js';

t.test('decode /proc/sys/kernel/tainted', async (t) => {
  t.same(decodeTaint(0), { value: 0, letters: '', names: [] });
  t.same(decodeTaint(512).letters, 'W');
  t.equal(decodeTaint('4609\n').letters, 'PWO');
  t.equal(decodeTaint(1 + 512 + 4096).letters, 'PWO');
  t.same(decodeTaint(32 + 128).names, ['BAD_PAGE', 'DIE']);
  t.equal(decodeTaint(2 ** 18).letters, 'N');
  t.equal(decodeTaint(-1).value, null);
  t.equal(decodeTaint('garbage').value, null);
});

t.test('parse Tainted: strings', async (t) => {
  const a = parseTaintString('Tainted: G        W  OE      N');
  t.equal(a.letters, 'WOEN');
  t.equal(a.value, 512 + 4096 + 8192 + 2 ** 18);
  t.same(parseTaintString('Not tainted'), { value: 0, letters: '', names: [] });
  t.equal(parseTaintString('Tainted: P           O').value, 1 + 4096);
  t.equal(parseTaintString('Tainted: G Q').value, null, 'unknown letter -> unknown value');
  t.equal(taintValue('WD'), 512 + 128);
});

t.test('new failing bits between before and after', async (t) => {
  t.equal(newFailingTaint(0, 512).letters, 'W');
  t.equal(newFailingTaint(512, 512).letters, '', 'W already set before');
  t.equal(newFailingTaint(4096, 4096 + 8192).letters, '', 'O/E are not failures');
  t.same(newFailingTaint('0', String(32 + 128 + 512 + 4096)).names, ['BAD_PAGE', 'DIE', 'WARN']);
  t.equal(newFailingTaint(0, 2 ** 14).letters, 'L', 'soft lockup');
});
