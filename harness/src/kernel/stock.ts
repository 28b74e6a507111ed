// The built-in default kernel: Debian's stock kernel package, fetched with
// `apt-get download` (or from Debian's archive over HTTP on a host without
// apt) and unpacked into the cache. It is never installed, so the host's
// /boot and module tree stay untouched.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../host/proc.ts';
import { aptAvailable, downloadDebs, showPackage, unpackDeb } from '../host/apt.ts';
import { cacheDir } from '../host/paths.ts';
import { buildCached, exists, readJson, writeJsonAtomic, sha256File } from '../host/fsutil.ts';
import type { KernelArtifact } from '../results/records.ts';
import { InputError, withSettings } from '../host/errors.ts';
import { FetchError } from './errors.ts';
import { KERNEL, KERNEL_PACKAGE, MODULES } from './settings.ts';

/** The kernel the user chose cannot be used as given (missing file, unknown package). */
export class KernelError extends InputError {}

const META = 'linux-image-amd64';

async function aptCache(args: string[]): Promise<string> {
  const r = await run('apt-cache', args, { timeoutMs: 60000, reject: false });
  return r.exitCode === 0 ? r.stdout : '';
}

/** The kernel image package a linux-image-amd64 Depends: line names. */
export function imagePackageOf(depends: string): string | undefined {
  return /(?:^|[\s,|])(linux-image-[^\s,|(]+)/.exec(depends)?.[1];
}

/** The versioned package behind the metapackage, and its version. */
export async function resolveStockPackage(pkg?: string, log: (m: string) => void = () => {}): Promise<{ pkg: string; version: string }> {
  if (!aptAvailable()) {
    // The same choice apt makes: the highest version across bookworm's suites (host/debian-archive.ts).
    const name = pkg ?? imagePackageOf((await showPackage(META, log))?.depends ?? '');
    const info = name ? await showPackage(name, log) : null;
    if (!name || !info)
      throw new KernelError(withSettings`Debian's archive (bookworm main) has no kernel package ${pkg ?? META}: name another with ${KERNEL_PACKAGE}, or pass ${KERNEL} PATH`);
    return { pkg: name, version: info.version };
  }
  const find = async () => {
    let name = pkg;
    if (!name) {
      const deps = await aptCache(['depends', META]);
      name = /Depends:\s+(linux-image-\S+)/.exec(deps)?.[1];
    }
    if (!name) return null;
    const show = await aptCache(['show', '--no-all-versions', name]);
    const version = /^Version:\s*(\S+)/m.exec(show)?.[1];
    return version ? { pkg: name, version } : null;
  };
  let found = await find();
  if (!found && process.getuid?.() === 0) {
    await run('apt-get', ['update'], { timeoutMs: 600000, reject: false });
    found = await find();
  }
  if (!found)
    throw new KernelError(
      withSettings`cannot find Debian kernel package ${pkg ?? META} in apt's lists: run apt-get update (as root), or pass ${KERNEL} PATH`,
    );
  return found;
}

export async function prepareStockKernel(log: (m: string) => void, pkg?: string): Promise<KernelArtifact> {
  const { pkg: name, version } = await resolveStockPackage(pkg, log);
  const dir = cacheDir('kernels', 'debian', `${name}_${version}`);
  const built = await buildCached(dir, async (tmp) => {
    log(`downloading ${name} ${version}`);
    const dl = await downloadDebs([`${name}=${version}`], tmp, { timeoutMs: 900000, log });
    if (dl.error || dl.debs.length !== 1) throw new FetchError(`downloading ${name}=${version} failed: ${dl.error}`, 'check network access to the Debian mirror');
    await unpackDeb(dl.debs[0], join(tmp, 'root'), 300000);
    await rm(dl.debs[0]);
    const release = (await readdir(join(tmp, 'root', 'lib', 'modules')))[0];
    if (!release) throw new FetchError(`${name} holds no lib/modules/<release>`, withSettings`pick another package with ${KERNEL_PACKAGE}`);
    // The package ships no modules.dep: the postinst's depmod makes it.
    await run('depmod', ['-b', join(tmp, 'root'), release], { timeoutMs: 300000 });
    const art: KernelArtifact = {
      kind: 'debian-stock',
      release,
      label: `${name} ${version}`,
      bzImage: join(dir, 'root', 'boot', `vmlinuz-${release}`),
      modulesRoot: join(dir, 'root'),
      systemMap: join(dir, 'root', 'boot', `System.map-${release}`),
      vmlinux: null,
      key: `debian:${name}:${version}`,
    };
    await writeJsonAtomic(join(tmp, 'kernel.json'), art);
  });
  const art = await readJson<KernelArtifact>(join(dir, 'kernel.json'));
  log(`kernel ${art.label} (${art.release})${built ? '' : ' cached'}`);
  return art;
}

/** A kernel image the user points at: --kernel PATH [--modules DIR]. */
export async function kernelFromPath(bzImage: string, modulesRoot: string | null): Promise<KernelArtifact> {
  if (!(await exists(bzImage))) throw new KernelError(withSettings`${KERNEL} ${bzImage} does not exist: give the path of a bzImage`);
  let release = 'unknown';
  if (modulesRoot) {
    const mods = join(modulesRoot, 'lib', 'modules');
    if (!(await exists(mods))) throw new KernelError(withSettings`${MODULES} ${modulesRoot} has no lib/modules/: give the INSTALL_MOD_PATH of a modules_install`);
    const rels = await readdir(mods);
    if (rels.length !== 1) throw new KernelError(withSettings`${MODULES} ${modulesRoot} holds ${rels.length} kernel releases: give a tree with exactly one`);
    release = rels[0];
  }
  return {
    kind: 'path',
    release,
    label: bzImage,
    bzImage,
    modulesRoot,
    systemMap: null,
    vmlinux: null,
    key: `path:${await sha256File(bzImage)}`,
  };
}
