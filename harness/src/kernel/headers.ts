// A tree to build out-of-tree modules (the refcount census) against, for the
// kernel under test:
// - Debian's stock kernel: its linux-headers-<release> package plus what it
//   depends on (linux-headers-<abi>-common, linux-kbuild-<ver>), fetched with
//   `apt-get download` (or from Debian's archive on a host without apt) and
//   unpacked with `dpkg-deb -x` (or tar) into the cache. Never
//   installed: the host's /usr/src and /lib/modules stay untouched.
// - A kernel the pipeline built: its O= build directory, but only while that
//   directory still holds exactly that build (it is shared by later builds
//   of the same source and profile, which would give a module that does not
//   match the kernel it is loaded into).
import { git } from './source.ts';
import { readdir, readFile, readlink, rm, symlink, writeFile, lstat } from 'node:fs/promises';
import { join, relative, dirname } from 'node:path';
import { run } from '../host/proc.ts';
import { cacheDir } from '../host/paths.ts';
import { buildCached, exists, readJson, sha256File, writeJsonAtomic } from '../host/fsutil.ts';
import { aptAvailable, downloadDebs, ensurePackages, showPackage, unpackDeb, type PackageNeeds } from '../host/apt.ts';
import type { KernelArtifact } from '../results/records.ts';
import { InputError, withSettings } from '../host/errors.ts';
import { FetchError } from './errors.ts';
import { KERNEL } from './settings.ts';

/** No tree to build modules for the chosen kernel; the message says which kernel to choose instead. */
export class HeadersError extends InputError {}

export interface ModuleBuildTree {
  /** Pass as `make -C <kdir> M=<module dir>`. */
  kdir: string;
  release: string;
  from: 'debian-headers' | 'built-tree';
  /** Debian packages unpacked (debian-headers only). */
  packages: string[];
}

/** `debian:<image package>:<version>` → the two parts (null for other keys). */
export function parseDebianKey(key: string): { pkg: string; version: string } | null {
  const m = /^debian:(linux-image-[^:]+):(.+)$/.exec(key);
  return m ? { pkg: m[1], version: m[2] } : null;
}

/**
 * The packages a linux-headers package needs unpacked beside it, from its
 * `Depends:` line: the -common headers and linux-kbuild, at the headers'
 * own version (Debian pins them to it). The compiler package is a
 * metapackage for the host's gcc and is not unpacked.
 */
export function headerDeps(depends: string, version: string): string[] {
  const out: string[] = [];
  for (const alt of depends.split(',')) {
    const name = alt.trim().split(/\s|\|/)[0];
    if (/^linux-(?:headers|kbuild)-/.test(name)) out.push(`${name}=${version}`);
  }
  return out;
}

/** The compiler the headers' kbuild will call (`CC = ... gcc-12`), from .kernelvariables. */
export function compilerFromKernelVariables(text: string): string | null {
  const m = /^CC\s*=.*?\b(gcc-\d+)\s*$/m.exec(text);
  return m ? m[1] : null;
}

/** Rewrite `include /usr/src/<dir>/Makefile` lines to point into the unpacked tree. */
export function rewriteIncludes(makefile: string, usrSrc: string): string {
  return makefile.replace(/^include \/usr\/src\/(\S+)$/gm, (_m, rest: string) => `include ${join(usrSrc, rest)}`);
}

/** Point absolute symlinks (lib/modules/<rel>/build → /usr/src/...) into the unpacked root. */
async function fixAbsoluteLinks(root: string, dir: string): Promise<void> {
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isSymbolicLink()) {
      const target = await readlink(p);
      if (!target.startsWith('/')) continue;
      // Relative to the link, so the tree stays valid when buildCached renames it.
      const inside = join(root, target);
      await rm(p);
      await symlink(relative(dirname(p), inside), p);
    } else if (ent.isDirectory() && !p.includes(`${join(root, 'usr', 'src')}/`)) {
      // Only lib/ and the top of usr/src carry such links; the header trees are large.
      await fixAbsoluteLinks(root, p);
    }
  }
}

async function debianHeaders(kernel: KernelArtifact, log: (m: string) => void): Promise<ModuleBuildTree> {
  const deb = parseDebianKey(kernel.key);
  if (!deb) throw new Error(`kernel key ${kernel.key} does not name a Debian package`);
  const headersPkg = deb.pkg.replace(/^linux-image-/, 'linux-headers-').replace(/-unsigned$/, '');
  const dir = cacheDir('kernels', 'debian-headers', `${headersPkg}_${deb.version}`);
  const root = join(dir, 'root');
  const built = await buildCached(dir, async (tmp) => {
    const depends = (await showPackage(`${headersPkg}=${deb.version}`, log))?.depends;
    if (!depends)
      throw new HeadersError(
        aptAvailable()
          ? `apt knows no ${headersPkg}=${deb.version}: run apt-get update (as root); the headers must match the kernel exactly`
          : `Debian's archive no longer has ${headersPkg}=${deb.version}: use the newest stock kernel (clear its cache entry), the headers must match the kernel exactly`,
      );
    const specs = [`${headersPkg}=${deb.version}`, ...headerDeps(depends, deb.version)];
    log(`downloading ${specs.join(' ')}`);
    const dl = await downloadDebs(specs, tmp, { timeoutMs: 900000, log });
    if (dl.error || dl.debs.length !== specs.length) throw new FetchError(`downloading ${specs.join(' ')} failed: ${dl.error}`, 'check network access to the Debian mirror');
    for (const d of dl.debs) {
      await unpackDeb(d, join(tmp, 'root'), 300000);
      await rm(d);
    }
    const tmpRoot = join(tmp, 'root');
    const kdirTmp = join(tmpRoot, 'usr', 'src', headersPkg);
    if (!(await exists(join(kdirTmp, 'Makefile'))))
      throw new FetchError(`${headersPkg} has no usr/src/${headersPkg}/Makefile`, 'not a kernel headers package? report this package version');
    // The arch Makefile includes the -common one by absolute /usr/src path.
    const mk = join(kdirTmp, 'Makefile');
    await writeFile(mk, rewriteIncludes(await readFile(mk, 'utf8'), join(root, 'usr', 'src')));
    await fixAbsoluteLinks(tmpRoot, tmpRoot);
    const vars = await readFile(join(kdirTmp, '.kernelvariables'), 'utf8').catch(() => '');
    const release = (/^override KERNELRELEASE = (\S+)$/m.exec(vars)?.[1] ?? kernel.release).trim();
    if (release !== kernel.release)
      throw new FetchError(`${headersPkg} is for ${release}, the kernel is ${kernel.release}`, 'report this package version');
    await writeJsonAtomic(join(tmp, 'headers.json'), {
      release,
      kdir: join(root, 'usr', 'src', headersPkg),
      from: 'debian-headers',
      packages: specs,
      compiler: compilerFromKernelVariables(vars),
    });
  });
  const meta = await readJson<ModuleBuildTree & { compiler: string | null }>(join(dir, 'headers.json'));
  // kbuild in the headers calls a versioned gcc (and make); say which package is missing, not "make: gcc-12: not found".
  const needs: PackageNeeds = { make: ['/usr/bin/make'] };
  if (meta.compiler) needs[meta.compiler] = [`/usr/bin/${meta.compiler}`];
  await ensurePackages(needs, log);
  log(`kernel headers ${headersPkg} ${deb.version}${built ? '' : ' cached'}`);
  return { kdir: meta.kdir, release: meta.release, from: 'debian-headers', packages: meta.packages };
}

async function gitHead(dir: string): Promise<string | null> {
  const r = await git(dir, ['rev-parse', 'HEAD'], { timeoutMs: 30000, reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

/**
 * The O= directory of a pipeline build. Its name ends in the profile hash
 * (kernel/index.ts planKernel); it is accepted only if its .config, release
 * and source commit are still those of this artifact.
 */
async function builtTree(kernel: KernelArtifact): Promise<ModuleBuildTree> {
  const b = kernel.build;
  if (!b) throw new HeadersError(`built kernel ${kernel.label} has no build record`);
  const root = cacheDir('kernel', 'build');
  // The record names its O= dir (newer builds); older records are matched by name.
  const scanned = (await readdir(root).catch(() => [] as string[])).filter((n) => n.endsWith(`-${b.configHash.slice(0, 12)}`)).map((n) => join(root, n));
  const dirs = b.buildDir ? [b.buildDir, ...scanned.filter((d) => d !== b.buildDir)] : scanned;
  const why: string[] = [];
  for (const d of dirs) {
    const n = d;
    const rel = (await readFile(join(d, 'include', 'config', 'kernel.release'), 'utf8').catch(() => '')).trim();
    if (rel !== kernel.release) {
      why.push(`${n}: release ${rel || 'none'}`);
      continue;
    }
    if (!(await exists(join(d, '.config'))) || (await sha256File(join(d, '.config'))) !== b.finalConfigHash) {
      why.push(`${n}: .config changed since`);
      continue;
    }
    if (!(await exists(join(d, 'Module.symvers')))) {
      why.push(`${n}: no Module.symvers`);
      continue;
    }
    const src = await lstat(join(d, 'source')).then(() => readlink(join(d, 'source'))).catch(() => null);
    const head = src ? await gitHead(src) : null;
    if (head !== b.commit) {
      why.push(`${n}: source is at ${head?.slice(0, 12) ?? 'unknown'}, the kernel was built from ${b.commit.slice(0, 12)}`);
      continue;
    }
    return { kdir: d, release: kernel.release, from: 'built-tree', packages: [] };
  }
  throw new HeadersError(
    `no build directory still matches ${kernel.label} (${why.join('; ') || 'none found'}): rebuild that kernel (dax-harness build ... --force) and run again`,
  );
}

/** Where to build modules for this kernel. Throws HeadersError with the fix when there is none. */
export async function moduleBuildTree(kernel: KernelArtifact, log: (m: string) => void = () => {}): Promise<ModuleBuildTree> {
  if (kernel.kind === 'debian-stock') return debianHeaders(kernel, log);
  if (kernel.kind === 'built') return builtTree(kernel);
  throw new HeadersError(withSettings`${KERNEL} ${kernel.bzImage} comes without a build tree, so no module can be built for it: use a built kernel (dax-harness build) or Debian's stock kernel`);
}
