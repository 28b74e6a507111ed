// Debian ships the stock kernel's DWARF as a separate -dbg package (~850 MB).
// It is fetched only on request, with `apt-get download` (or from Debian's
// archive on a host without apt), and only the vmlinux is kept from it, so
// the crash oracle can symbolize the stock kernel's stacks.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, whichSync } from '../host/proc.ts';
import { downloadDebs } from '../host/apt.ts';
import { extractDeb } from '../host/debian-archive.ts';
import { cacheDir } from '../host/paths.ts';
import { buildCached } from '../host/fsutil.ts';
import type { KernelArtifact } from '../results/records.ts';
import { KernelError } from './stock.ts';
import { FetchError } from './errors.ts';

export async function stockDebugVmlinux(k: KernelArtifact, log: (m: string) => void): Promise<string> {
  if (k.kind !== 'debian-stock') throw new KernelError(`debug symbols can be fetched only for Debian's stock kernels, not ${k.label}`);
  const [, pkg, version] = k.key.split(':');
  const dbg = `${pkg}-dbg`;
  const dir = cacheDir('kernels', 'debian-dbg', `${dbg}_${version}`);
  const member = `./usr/lib/debug/boot/vmlinux-${k.release}`;
  await buildCached(dir, async (tmp) => {
    log(`downloading ${dbg} ${version} (large)`);
    const dl = await downloadDebs([`${dbg}=${version}`], tmp, { timeoutMs: 3600000, log });
    if (dl.error || dl.debs.length !== 1) throw new FetchError(`downloading ${dbg}=${version} failed: ${dl.error}`, 'check network access to the Debian mirror');
    if (!whichSync('dpkg-deb')) {
      await extractDeb(dl.debs[0], tmp, [member], 1800000);
      await rm(dl.debs[0]);
      return;
    }
    const tar = join(tmp, 'data.tar');
    await run('dpkg-deb', ['--fsys-tarfile', dl.debs[0]], { timeoutMs: 1800000, stdoutFile: tar });
    await rm(dl.debs[0]);
    await run('tar', ['-xf', tar, '-C', tmp, member], { timeoutMs: 1800000 });
    await rm(tar);
  });
  return join(dir, member);
}
