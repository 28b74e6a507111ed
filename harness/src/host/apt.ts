// Host prerequisites: which Debian package provides each tool the harness
// runs. As root the missing ones are installed; otherwise the user gets the
// exact apt-get line to run.
import { access, constants, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './proc.ts';
import { InputError } from './errors.ts';

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

async function present(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
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

export async function ensurePackages(needs: PackageNeeds, log: (msg: string) => void): Promise<void> {
  const missing = await missingPackages(needs);
  if (missing.length === 0) return;
  const line = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0)
    throw new HostSetupError(`missing host packages ${missing.join(', ')}: run as root: ${line}`);
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
  const still = await missingPackages(needs);
  if (still.length) throw new HostSetupError(`packages ${still.join(', ')} installed but their files are missing: check ${line}`);
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
