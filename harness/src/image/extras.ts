// A small cpio of files placed at fixed guest paths, appended to the initrd
// after the image and the kernel's modules: what a run needs in the guest
// from its first instant (e.g. our fault module that /init loads before sshd).
import { copyFile, mkdir, readFile, chmod, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { cacheDir } from '../host/paths.ts';
import { buildCached, sha256 } from '../host/fsutil.ts';
import { writeCpio } from './cpio.ts';

export interface ExtraFile {
  /** Host file. */
  src: string;
  /** Absolute guest path. */
  dest: string;
  mode?: number;
}

export async function buildExtrasCpio(files: ExtraFile[]): Promise<string> {
  const parts: (string | Uint8Array)[] = ['extras-v1'];
  for (const f of files) parts.push(f.dest, String(f.mode ?? 0o644), await readFile(f.src));
  const dir = cacheDir('extras', sha256(...parts).slice(0, 24));
  await buildCached(dir, async (tmp) => {
    const root = join(tmp, 'root');
    for (const f of files) {
      const to = join(root, f.dest.replace(/^\/+/, ''));
      await mkdir(dirname(to), { recursive: true });
      await copyFile(f.src, to);
      await chmod(to, f.mode ?? 0o644);
    }
    await writeCpio(root, join(tmp, 'extras.cpio'));
    await rm(root, { recursive: true, force: true });
  });
  return join(dir, 'extras.cpio');
}
