// The slow half of the fault matrix: kernel builds (a patch that does not
// apply, one that does not compile, ^C in the middle of make), the ndctl
// runner's stale-log case in the rootfs guest, two harnesses on a cold cache,
// a guest that floods its console or prints a report that does not end.
import t from 'tap';
import { CASES, runCase, runTwoAtOnce, common } from '../test/faults/matrix.ts';

for (const c of CASES.filter((x) => !x.quick && x.name !== 'two runs at once on a cold cache')) {
  t.test(`${c.name}: ${c.expected}`, async (t) => {
    const o = await runCase(c, 3 * 3600 * 1000);
    t.same(c.check(o), [], `${c.name} (exit ${o.exit ?? o.signal}, ${o.record?.status ?? 'no run'})`);
  });
}

t.test('two runs at once on a cold cache: both pass, nothing left, nothing half-written', async (t) => {
  const both = await runTwoAtOnce();
  for (const [i, o] of both.entries()) {
    t.equal(o.exit, 0, `run ${i + 1}: exit ${o.exit} (${o.stderr.trim().split('\n').slice(-1)})`);
    t.same(common(o), [], `run ${i + 1}: clean`);
  }
});
