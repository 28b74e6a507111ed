// nfit_test for Debian's stock kernel. ndctl's nfit_test-based tests need
// the wrapped libnvdimm/nfit/dax drivers of tools/testing/nvdimm in place of
// the packaged ones. They are built against the kernel's own headers package
// with the nvdimm, nfit and dax driver sources of the linux-source package of
// the same version, then laid over a hard-linked copy of the stock module
// tree with depmod override lines, so `modprobe nd_pmem` picks the wrapped
// copy. The stock kernel's own directory is never changed.
import { kbuildReadable } from './make.ts';
import { makeJobs } from '../host/cores.ts';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { run } from '../host/proc.ts';
import { cacheDir } from '../host/paths.ts';
import { buildCached, exists, readJson, writeJsonAtomic } from '../host/fsutil.ts';
import type { KernelArtifact } from '../results/records.ts';
import { moduleBuildTree, parseDebianKey } from './headers.ts';
import { git, resolveSource } from './source.ts';
import { BuildError, SourceError } from './errors.ts';
import { withLock } from './lock.ts';
import { TEST_TREES, preferExtraModules } from './test-modules.ts';
import { withSettings } from '../host/errors.ts';
import { KERNEL_PACKAGE, SOURCE } from './settings.ts';

/** `6.1.0-56-amd64` → `6.1`: the linux-source package series of a Debian release. */
export function sourceSeries(release: string): string | null {
  return /^(\d+\.\d+)\./.exec(release)?.[1] ?? null;
}

interface NfitStockMeta {
  modules: string[];
  source: string;
  makeMs: number;
}

/**
 * The stock kernel with nfit_test's modules preferred. Returns the same
 * kernel (same key: it is the same kernel image) with a module tree that
 * holds extra/ and a depmod index built with the overrides.
 */
export async function withNfitTest(kernel: KernelArtifact, log: (m: string) => void): Promise<KernelArtifact> {
  if (kernel.kind !== 'debian-stock') return kernel;
  const deb = parseDebianKey(kernel.key);
  const series = sourceSeries(kernel.release);
  if (!deb || !series || !kernel.modulesRoot) throw new BuildError(`cannot tell which linux-source matches ${kernel.label}`, withSettings`use a kernel the pipeline built (${SOURCE}), which carries nfit_test already`);
  const dir = cacheDir('kernels', 'nfit-stock', `${kernel.release}_${deb.version}`);
  const root = join(dir, 'root');
  const built = await withLock(cacheDir('kernel', 'locks', `nfit-stock-${kernel.release}`), () =>
    buildCached(dir, async (tmp) => {
      const tree = await moduleBuildTree(kernel, log);
      const src = await resolveSource({ kind: 'debian', version: series }, undefined, log);
      // The wrapped drivers must be the very sources the stock modules came from.
      if (src.ref !== deb.version)
        throw new SourceError(
          `linux-source-${series} in apt is ${src.ref}, the stock kernel is ${deb.version}`,
          withSettings`run apt-get update so both are the newest, or pick the matching kernel with ${KERNEL_PACKAGE}`,
        );
      const shadow = join(tmp, 'src');
      await mkdir(shadow, { recursive: true });
      const archive = await git(src.repoDir, ['archive', '--format=tar', '-o', join(tmp, 'nfit-src.tar'), src.commit, '--', ...TEST_TREES.nfit], { timeoutMs: 300_000, reject: false });
      if (archive.exitCode !== 0) throw new SourceError(`${src.label} lacks the nfit_test sources`, `git archive said: ${archive.stderr.trim().split('\n')[0]}`);
      await run('tar', ['-xf', join(tmp, 'nfit-src.tar'), '-C', shadow], { timeoutMs: 300_000 });
      const m = join(shadow, 'tools/testing/nvdimm');
      log(`building nfit_test for ${kernel.release} against ${tree.packages[0] ?? tree.kdir}`);
      const t0 = Date.now();
      // The headers package has no private driver headers (nd-core.h, nfit.h): point at the shadow's.
      const kcflags = `KCFLAGS=-I${join(shadow, 'drivers/nvdimm')} -I${join(shadow, 'drivers/acpi/nfit')}`;
      const make = await run('make', ['-C', tree.kdir, `M=${m}`, kcflags, `-j${makeJobs()}`, 'modules'], { timeoutMs: 1800_000, reject: false, sandbox: { readable: kbuildReadable(tree.kdir), writable: [shadow] } });
      // Outside the cache entry, so a failed build's log survives the entry's removal.
      const logPath = cacheDir('kernel', 'logs', `nfit-stock-${kernel.release}.log`);
      await mkdir(cacheDir('kernel', 'logs'), { recursive: true });
      await writeFile(logPath, `${make.stdout}\n${make.stderr}`);
      if (make.exitCode !== 0) {
        const err = `${make.stdout}\n${make.stderr}`.split('\n').find((l) => /error|Error \d/.test(l))?.trim() ?? `exit ${make.exitCode}`;
        throw new BuildError(`nfit_test did not build against ${tree.kdir}: ${err}`, `see ${logPath}`);
      }
      const makeMs = Date.now() - t0;
      const kos = (await readdir(m, { recursive: true })).filter((f) => f.endsWith('.ko'));
      if (!kos.length) throw new BuildError('nfit_test built no modules', 'check that the kernel has the nvdimm drivers as modules');
      // Hard links: the stock tree is ~400 MB and never written to.
      const modParent = join(tmp, 'root', 'lib', 'modules');
      await mkdir(modParent, { recursive: true });
      await run('cp', ['-al', join(kernel.modulesRoot!, 'lib', 'modules', kernel.release), modParent], { timeoutMs: 300_000 });
      const extra = join(modParent, kernel.release, 'extra');
      await mkdir(extra, { recursive: true });
      const names: string[] = [];
      for (const ko of kos) {
        const name = basename(ko).replace(/\.ko$/, '');
        names.push(name);
        await copyFile(join(m, ko), join(extra, `${name}.ko`));
      }
      // The copied index files are hard links too: unlink before depmod rewrites them in place.
      for (const f of await readdir(join(modParent, kernel.release))) if (f.startsWith('modules.')) await rm(join(modParent, kernel.release, f), { force: true });
      await preferExtraModules(join(tmp, 'root'), kernel.release, names.sort());
      const dep = await readFile(join(modParent, kernel.release, 'modules.dep'), 'utf8');
      if (!/^extra\/nd_pmem\.ko:/m.test(dep)) throw new BuildError('depmod did not prefer nfit_test\'s nd_pmem', `see ${join(tmp, 'root', 'etc', 'depmod.d')}`);
      await writeJsonAtomic(join(tmp, 'nfit.json'), { modules: names, source: src.label, makeMs } satisfies NfitStockMeta);
    }),
  );
  const meta = await readJson<NfitStockMeta>(join(dir, 'nfit.json'));
  log(`nfit_test for ${kernel.release}: ${meta.modules.length} modules from ${meta.source}${built ? ` built in ${(meta.makeMs / 1000).toFixed(1)} s` : ' (cached)'}`);
  if (!(await exists(join(root, 'lib', 'modules', kernel.release, 'modules.dep')))) throw new BuildError(`${dir} is incomplete`, `remove it and run again`);
  return { ...kernel, modulesRoot: root, nfitTest: meta.modules };
}
