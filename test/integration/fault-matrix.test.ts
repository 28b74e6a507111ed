// The quick half of the fault matrix (test/faults/matrix.ts): the real CLI,
// one fault each, and for each the exit code, a result that says what
// happened, the console kept, nothing left running, nothing half-written.
// The slow cases (kernel builds, the rootfs guest, a cold cache) are in
// test-long/fault-matrix.test.ts; bench/faults prints them all as a table.
import t from 'tap';
import { CASES, runCase } from '../faults/matrix.ts';

for (const c of CASES.filter((x) => x.quick)) {
  t.test(`${c.name}: ${c.expected}`, async (t) => {
    const o = await runCase(c);
    t.same(c.check(o), [], `${c.name} ended as expected (exit ${o.exit ?? o.signal}, ${o.record?.status ?? 'no run'}, ${(o.ms / 1000).toFixed(0)} s)`);
  });
}
