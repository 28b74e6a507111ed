// Long proof (npm run test:long): fetch the stock kernel's -dbg package and
// symbolize real reports of that kernel, captured from our own guests: a
// sysrq panic, and the WARN in fs/dax.c that the pipe_pin_unmapped stressor
// provokes on 6.1 (dax frames, inlined callees).
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Addr2lineSymbolizer } from '../harness/src/kernel/symbolize.ts';
import { stockDebugVmlinux } from '../harness/src/kernel/debug-symbols.ts';
import { prepareStockKernel } from '../harness/src/kernel/stock.ts';
import { parseLog, symbolizeReport } from '../harness/src/oracle/index.ts';
import { runWorkflow } from '../harness/src/workflows/run.ts';
import { defaultTopology } from '../harness/src/vm/topology.ts';
import { bootDefault } from '../test/integration/boot-default.ts';

t.test('stock kernel: a real sysrq panic and a real fs/dax.c WARN, symbolized', async (t) => {
  const kernel = await prepareStockKernel(() => {});
  const vmlinux = await stockDebugVmlinux(kernel, (m) => t.comment(m));
  const s = new Addr2lineSymbolizer({ vmlinux, systemMap: kernel.systemMap });

  const { s: session, runDir } = await bootDefault('symbolize');
  await session.guest.exec(['sh', '-c', 'echo c > /proc/sysrq-trigger'], { timeoutMs: 30000 }).catch(() => undefined);
  await Promise.race([session.machine.exited, new Promise((r) => setTimeout(r, 30000))]);
  await session.close();
  const panic = parseLog(readFileSync(join(runDir, 'console.log'), 'utf8')).find((r) => /sysrq triggered crash/.test(r.title));
  t.ok(panic, 'the guest panicked and the oracle found it');
  if (!panic) return;
  const rep = await symbolizeReport(panic, s);
  const f = rep.frames!.find((x) => x.norm === 'sysrq_handle_crash');
  t.equal(f?.file, 'drivers/tty/sysrq.c', 'sysrq_handle_crash → drivers/tty/sysrq.c');
  t.ok(f?.line !== null && f!.line! > 100 && f!.line! < 200, `line ${f?.line}`);

  const { record } = await runWorkflow({
    kernel: { kind: 'stock' }, image: 'initramfs', topology: defaultTopology, resultsRoot: mkdtempSync(join(tmpdir(), 'daxh-sym-')),
    suite: 'stressors', tests: ['pipe_pin_unmapped.ext4'], filesystems: [], seconds: 1, seed: 3, bootTimeoutMs: 240000, cmdlineExtra: [], progress: () => {},
  });
  const warn = record.crashes.find((c) => (c.frames ?? []).some((x) => x.norm.startsWith('dax_')));
  t.ok(warn, `a real report with dax frames (${record.crashes.map((c) => c.title).join('; ')})`);
  if (!warn) return;
  const sym = await symbolizeReport(warn, s);
  const dax = sym.frames!.filter((x) => x.norm.startsWith('dax_'));
  t.ok(dax.length > 0 && dax.every((x) => x.file === 'fs/dax.c'), `dax frames resolve to fs/dax.c: ${dax.map((x) => `${x.norm}@${x.file}:${x.line}`).join(' ')}`);
  t.ok(sym.frames!.some((x) => (x.inlined ?? []).length > 0), 'inlined callees are listed for at least one frame');
});
