// bench/boot: QEMU start → guest ready for commands (ssh + the image's own
// setup), next to the kernel's own boot → init time read from its console
// timestamps, for the default kernel and image under the accelerator the
// harness picks. Also boots the compressed bzImage the usual way, side by side,
// to show what PVH direct boot saves.
//   node --import tsx bench/boot.ts [--runs N] [--source debian:6.1 [--config dax]]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startSession } from '../harness/src/workflows/session.ts';
import { prepareStockKernel } from '../harness/src/kernel/stock.ts';
import { prepareKernel } from '../harness/src/kernel/index.ts';
import { buildInitramfs, loadRecipe } from '../harness/src/image/initramfs.ts';
import { buildModulesCpio } from '../harness/src/image/modules.ts';
import { chooseAccel } from '../harness/src/vm/accel.ts';
import { assembleInitrd } from '../harness/src/workflows/session.ts';
import { defaultTopology } from '../harness/src/vm/topology.ts';
import type { KernelArtifact } from '../harness/src/results/records.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, source: { type: 'string' }, config: { type: 'string' } } });
const runs = Number(values.runs);
const quiet = () => {};
// --source debian:6.1 benchmarks a kernel built by the pipeline (minimal config, modules
// only where nfit_test needs them) instead of Debian's stock kernel.
const kernel = values.source
  ? await prepareKernel({ source: values.source, config: (values.config ?? 'dax').split(','), log: (l) => console.error(`  ${l}`) })
  : await prepareStockKernel(quiet);
const image = await buildInitramfs('initramfs', quiet);
const modules = await buildModulesCpio(kernel, (await loadRecipe('initramfs')).modules, quiet);
const accel = await chooseAccel({ kernel: kernel.bzImage, initrd: await assembleInitrd(image, modules), log: quiet });
console.log(`kernel ${kernel.label}, image ${image.recipe}, accel ${accel.used} (${accel.why})`);

async function once(k: KernelArtifact, pvh: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-bench-'));
  const s = await startSession({
    kernel: k,
    image, modules, topology: defaultTopology, accel: accel.used, cpu: accel.cpu, runDir: dir,
    workDir: join(dir, 'work'), cmdlineExtra: [], bootTimeoutMs: 300000, lifetimeMs: 600000, progress: quiet,
    noPvh: !pvh,
  });
  const r = { ready: s.bootMs, init: s.kernelInitMs ?? NaN };
  await s.close();
  rmSync(dir, { recursive: true, force: true });
  return r;
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows: string[] = [];
for (const pvh of [true, false]) {
  const ready: number[] = [];
  const init: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await once(kernel, pvh);
    ready.push(r.ready);
    init.push(r.init);
    console.log(`  ${pvh ? 'pvh' : 'bzImage'} run ${i + 1}: ready ${(r.ready / 1000).toFixed(2)} s, kernel init ${(r.init / 1000).toFixed(2)} s`);
  }
  const ratio = med(ready) / med(init);
  rows.push(`${pvh ? 'PVH vmlinux (default)' : 'bzImage (firmware + decompress)'}: ready ${(med(ready) / 1000).toFixed(2)} s, kernel boot→init ${(med(init) / 1000).toFixed(2)} s, ratio ${ratio.toFixed(2)} (goal ≤ 1.5)`);
}
console.log(`\nmedians over ${runs} boots:`);
for (const r of rows) console.log(`  ${r}`);
