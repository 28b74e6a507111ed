// Shared by the integration tests that drive a session directly: boot the
// default guest (stock kernel, initramfs image, one labelled NVDIMM, TCG).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSession, type Session, type SessionOptions } from '../../harness/src/workflows/session.ts';
import { prepareStockKernel } from '../../harness/src/kernel/stock.ts';
import { buildInitramfs, loadRecipe } from '../../harness/src/image/initramfs.ts';
import { buildModulesCpio } from '../../harness/src/image/modules.ts';
import { defaultTopology } from '../../harness/src/vm/topology.ts';
import type { KernelArtifact } from '../../harness/src/results/records.ts';

const quiet = () => {};

export async function bootDefault(prefix: string, over: Partial<SessionOptions> = {}): Promise<{ s: Session; runDir: string; kernel: KernelArtifact }> {
  const kernel = await prepareStockKernel(quiet);
  const image = await buildInitramfs('initramfs', quiet);
  const modules = await buildModulesCpio(kernel, (await loadRecipe('initramfs')).modules, quiet);
  const runDir = mkdtempSync(join(tmpdir(), `daxh-${prefix}-`));
  const s = await startSession({
    kernel,
    image,
    modules,
    topology: defaultTopology,
    accel: 'tcg',
    runDir,
    workDir: join(runDir, 'work'),
    cmdlineExtra: [],
    bootTimeoutMs: 240000,
    lifetimeMs: 900000,
    progress: quiet,
    ...over,
  });
  return { s, runDir, kernel };
}
