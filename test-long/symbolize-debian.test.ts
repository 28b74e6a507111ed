// Long proof (npm run test:long): fetch the stock kernel's -dbg package and
// symbolize a real sysrq panic of that kernel, inlined frames included.
import t from 'tap';
import { Addr2lineSymbolizer } from '../harness/src/kernel/symbolize.ts';
import { stockDebugVmlinux } from '../harness/src/kernel/debug-symbols.ts';
import { prepareStockKernel } from '../harness/src/kernel/stock.ts';
import { parseFrame, parseLog, symbolizeReport } from '../harness/src/oracle/index.ts';

t.test('stock kernel: sysrq panic frames and an inlined DAX callee', async (t) => {
  const kernel = await prepareStockKernel(() => {});
  const vmlinux = await stockDebugVmlinux(kernel, (m) => t.comment(m));
  const s = new Addr2lineSymbolizer({ vmlinux, systemMap: kernel.systemMap });
  const log = [
    'Kernel panic - not syncing: sysrq triggered crash',
    `CPU: 1 PID: 245 Comm: sh Not tainted ${kernel.release} #1`,
    'Call Trace:',
    ' <TASK>',
    ' dump_stack_lvl+0x44/0x5c',
    ' panic+0x118/0x2ed',
    ' sysrq_handle_crash+0x16/0x20',
    ' </TASK>',
  ].join('\n');
  const rep = await symbolizeReport(parseLog(log)[0]!, s);
  const f = rep.frames!.find((x) => x.fn === 'sysrq_handle_crash')!;
  t.equal(f.file, 'drivers/tty/sysrq.c');
  t.ok(f.line !== null && f.line > 100 && f.line < 200, `line ${f.line}`);
  const [inl] = await s.symbolize([{ ...parseFrame('dax_fault_iter+0x180/0x650')!, section: 'rip' }]);
  t.equal(inl!.file, 'fs/dax.c');
  t.ok((inl!.inlined ?? []).length > 0, 'inlined callees are listed');
});
