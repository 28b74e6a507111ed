// Host prerequisites: which Debian package provides each tool the harness
// runs. As root on a host with apt the missing ones are installed; otherwise
// the user gets the exact line to run, in the host distribution's names.
// Debian packages the harness fetches (the stock kernel, its headers) come
// through apt where there is one, else from Debian's archive over HTTP
// (debian-archive.ts).
import { access, constants, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, whichSync } from './proc.ts';
import { InputError } from './errors.ts';
import { candidatePaths, hostFamily, hostIsDebian, installLine } from './distro.ts';
import { downloadEntry, extractDeb, findPackage } from './debian-archive.ts';

/** The host lacks a package the harness needs; the message is the exact fix. */
export class HostSetupError extends InputError {}

/** package → files it must provide. */
export type PackageNeeds = Record<string, string[]>;

export const harnessNeeds: PackageNeeds = {
  'qemu-system-x86': ['/usr/bin/qemu-system-x86_64'],
  'util-linux': ['/usr/bin/setpriv'],
  // Every build of a series and every QEMU runs in a bubblewrap sandbox.
  bubblewrap: ['/usr/bin/bwrap'],
  kmod: ['/usr/sbin/depmod'],
  gcc: ['/usr/bin/gcc'],
  'libc6-dev': ['/usr/lib/x86_64-linux-gnu/libc.a'],
  dpkg: ['/usr/bin/dpkg-deb'],
};

async function present(debianPath: string): Promise<boolean> {
  for (const path of candidatePaths(debianPath)) {
    try {
      await access(path, constants.R_OK);
      return true;
    } catch {
      // the next place
    }
  }
  return false;
}

export async function missingPackages(needs: PackageNeeds): Promise<string[]> {
  const missing: string[] = [];
  for (const [pkg, files] of Object.entries(needs)) {
    for (const f of files) {
      if (!(await present(f))) {
        missing.push(pkg);
        break;
      }
    }
  }
  return missing.sort();
}

/**
 * Can apt and dpkg fetch and unpack Debian's packages here? Asked of PATH
 * each time, and only on Debian itself (a derivative's apt has its own
 * archive): otherwise the archive path is taken, and dpkg-deb is not a need
 * (the .debs are unpacked with tar).
 */
export function aptAvailable(): boolean {
  return hostIsDebian() && whichSync('apt-get') !== null && whichSync('apt-cache') !== null && whichSync('dpkg-deb') !== null;
}

/** The needs that apply on this host: dpkg only where apt fetches the packages. */
function hostNeeds(needs: PackageNeeds): PackageNeeds {
  if (!('dpkg' in needs) || aptAvailable()) return needs;
  const { dpkg: _unpackedWithTar, ...rest } = needs;
  return rest;
}

export async function ensurePackages(all: PackageNeeds, log: (msg: string) => void): Promise<void> {
  const needs = hostNeeds(all);
  await installMissing(() => missingPackages(needs), 'installed but their files are missing', log);
}

/**
 * The packages of a list (by Debian name) that dpkg does not have installed:
 * for lists that name packages rather than the files the harness runs (the
 * test command's prerequisites). Without dpkg nothing can be checked, and
 * that is said, not passed over.
 */
export async function missingByName(names: readonly string[]): Promise<string[]> {
  if (whichSync('dpkg-query') === null)
    throw new HostSetupError(`no dpkg to check the packages ${names.join(' ')}: install them (${installLine([...names])}) and check them by hand`);
  const q = await run('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...names], { timeoutMs: 60_000, reject: false });
  const installed = new Set(
    q.stdout
      .split('\n')
      .map((l) => l.split(' '))
      .filter(([, st]) => st === 'installed')
      .map(([p]) => p),
  );
  return names.filter((n) => !installed.has(n));
}

/** ensurePackages for a list of package names (checked by dpkg). */
export async function ensureNamedPackages(names: readonly string[], log: (msg: string) => void): Promise<void> {
  await installMissing(() => missingByName(names), 'still not installed', log);
}

/** As root on a Debian-family host, apt-get installs what `missing` lists; anyone else gets the one line to run. */
async function installMissing(missingNow: () => Promise<string[]>, stillWhy: string, log: (msg: string) => void): Promise<void> {
  const missing = await missingNow();
  if (missing.length === 0) return;
  const line = installLine(missing);
  if (process.getuid?.() !== 0)
    throw new HostSetupError(`missing host packages ${missing.join(', ')}: run as root: ${line}`);
  // Installing is done only with apt; other package managers get the line to run.
  if (hostFamily() !== 'debian' || whichSync('apt-get') === null)
    throw new HostSetupError(`missing host packages ${missing.join(', ')}: install them: ${line}`);
  log(`installing host packages: ${missing.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  let r = await run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { timeoutMs: 900_000, env, reject: false });
  if (r.exitCode !== 0) {
    // A fresh machine has no package lists yet.
    await run('apt-get', ['update'], { timeoutMs: 600_000, env, reject: false });
    r = await run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { timeoutMs: 900_000, env, reject: false });
  }
  if (r.exitCode !== 0)
    throw new HostSetupError(`could not install ${missing.join(' ')} (apt-get exit ${r.exitCode}): run ${line} and read its error`);
  const still = await missingNow();
  if (still.length) throw new HostSetupError(`packages ${still.join(', ')} ${stillWhy}: check ${line}`);
}

export interface AptDownload {
  /** Paths of the .deb files, one per spec, in the directory given. */
  debs: string[];
  /** apt-get's complaint when it failed (its last stderr line), else ''. */
  error: string;
}

/**
 * `apt-get download` of exact package versions into dir: fetched, never
 * installed, so the host's own system is not changed. The caller judges the
 * result (each stage has its own error to raise).
 */
export async function aptDownload(specs: string[], dir: string, o: { timeoutMs: number; aptOptions?: string[] }): Promise<AptDownload> {
  const r = await run('apt-get', [...(o.aptOptions ?? []), 'download', ...specs], { timeoutMs: o.timeoutMs, cwd: dir, reject: false });
  const debs = (await readdir(dir)).filter((f) => f.endsWith('.deb')).map((f) => join(dir, f));
  const error = r.exitCode === 0 ? '' : (r.stderr || r.stdout).trim().split('\n').pop() ?? `exit ${r.exitCode}`;
  return { debs, error };
}

/** What the harness reads of a package's index entry. */
export interface DebianPackageInfo {
  name: string;
  version: string;
  depends: string;
}

/**
 * A package's entry as apt would pick it (`apt-cache show --no-all-versions`;
 * spec "name" or "name=version"), or Debian's archive's when apt is not there.
 * Null when neither knows it.
 */
export async function showPackage(spec: string, log: (m: string) => void = () => {}): Promise<DebianPackageInfo | null> {
  const [name, version] = spec.split('=', 2) as [string, string | undefined];
  if (!aptAvailable()) {
    const e = await findPackage(name, version, undefined, log);
    return e ? { name: e.package, version: e.version, depends: e.depends } : null;
  }
  const r = await run('apt-cache', ['show', '--no-all-versions', spec], { timeoutMs: 60000, reject: false });
  if (r.exitCode !== 0) return null;
  const got = /^Version:\s*(\S+)/m.exec(r.stdout)?.[1];
  return got ? { name, version: got, depends: /^Depends:\s*(.*)$/m.exec(r.stdout)?.[1] ?? '' } : null;
}

/**
 * Download exact package versions ("name=version") into dir: `apt-get
 * download` where apt is, else from Debian's archive, each .deb checked
 * against the index (debian-archive.ts says what that proves).
 */
export async function downloadDebs(specs: string[], dir: string, o: { timeoutMs: number; log?: (m: string) => void }): Promise<AptDownload> {
  if (aptAvailable()) return aptDownload(specs, dir, o);
  const debs: string[] = [];
  try {
    for (const spec of specs) {
      const [name, version] = spec.split('=', 2) as [string, string | undefined];
      const e = await findPackage(name, version, undefined, o.log);
      if (!e) return { debs, error: `Debian's archive has no ${spec}` };
      debs.push(await downloadEntry(e, dir));
    }
  } catch (e) {
    return { debs, error: (e as Error).message };
  }
  return { debs, error: '' };
}

/** `dpkg-deb -x`, or the .deb's data tarball through tar where dpkg is not installed. */
export async function unpackDeb(deb: string, dest: string, timeoutMs = 900_000): Promise<void> {
  if (whichSync('dpkg-deb')) await run('dpkg-deb', ['-x', deb, dest], { timeoutMs });
  else await extractDeb(deb, dest, [], timeoutMs);
}
