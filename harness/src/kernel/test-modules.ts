// The kernel's own test modules (tools/testing/nvdimm's nfit_test, and
// tools/testing/cxl's cxl_test): which source directories their Kbuild
// files reach, and how their wrapped drivers are made to win over the
// in-tree ones in a module tree. Shared by pipeline builds and the stock
// kernel's nfit_test overlay.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../host/proc.ts';
import { BuildError } from './errors.ts';

/** Directories each test-module Kbuild reaches into with ../../../ paths (its own directory first). */
export const TEST_TREES = {
  nfit: ['tools/testing/nvdimm', 'drivers/nvdimm', 'drivers/acpi/nfit', 'drivers/dax'],
  cxl: ['tools/testing/cxl', 'drivers/cxl'],
} as const;

/** One `override` line per module name: the copy under extra/ wins over the in-tree one. */
export function depmodOverrides(modules: string[]): string {
  return modules.map((m) => `override ${m} * extra\n`).join('');
}

/**
 * Write the override lines into <root>/etc/depmod.d and index the tree's
 * lib/modules/<release> with them, so modprobe picks the extra/ copies.
 */
export async function preferExtraModules(root: string, release: string, modules: string[], details: Record<string, unknown> = {}): Promise<void> {
  const depmodD = join(root, 'etc', 'depmod.d');
  await mkdir(depmodD, { recursive: true });
  await writeFile(join(depmodD, 'nfit_test.conf'), depmodOverrides(modules));
  const dm = await run('depmod', ['-b', root, '-C', depmodD, release], { timeoutMs: 300_000, reject: false });
  if (dm.exitCode !== 0) throw new BuildError(`depmod failed: ${dm.stderr.trim().split('\n')[0]}`, 'check that kmod is installed', details);
}
