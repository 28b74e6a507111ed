// Free space checked before the harness commits to filling a disk: NVDIMM
// backing files are sparse, so creating them always succeeds and the disk
// fills later, from inside the guest, as a write error in the middle of a
// test (or a QEMU that dies of SIGBUS on its mapped file).
import { rm, statfs, writeFile } from 'node:fs/promises';
import { InfraError } from './errors.ts';
import { join } from 'node:path';

const MiB = 1024 * 1024;

/** Room kept free beside the backing files (the root overlay, sockets, the host's own needs). */
export const SPACE_MARGIN_BYTES = 256 * MiB;

/** The host's disk is too small for what the run needs: an infrastructure error (exit 3), not the user's input. */
export class NoSpaceError extends InfraError {}

const mib = (n: number) => `${Math.round(n / MiB)} MiB`;

/** Bytes an unprivileged writer may still use on the filesystem holding dir. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** Throw NoSpaceError naming dir and the sizes unless `need` bytes plus the margin are free there. */
export async function ensureFreeSpace(dir: string, need: number, what: string, margin = SPACE_MARGIN_BYTES, free?: number): Promise<void> {
  const have = free ?? (await freeBytes(dir));
  if (have >= need + margin) return;
  throw new NoSpaceError(`not enough free space in ${dir} for ${what}: they may grow to ${mib(need)} and ${mib(margin)} more is kept free, but ${mib(have)} is free; free some space or set DAX_HARNESS_CACHE to a larger disk`);
}

/** Bytes a run holds back for its last record (run.json with every test and report, capped). */
export const RESERVE_BYTES = 4 * 1024 * 1024;
export const RESERVE_FILE = '.space-reserve';

/**
 * Hold `bytes` of the disk under dir in a file of real (non-sparse) blocks;
 * the returned release() frees them, for the writes that must succeed last
 * after the run filled the disk. Best effort: on a disk already too full
 * for it, nothing is held and release() does nothing.
 */
export async function reserveSpace(dir: string, bytes = RESERVE_BYTES): Promise<() => Promise<void>> {
  const file = join(dir, RESERVE_FILE);
  const drop = () => rm(file, { force: true }).catch(() => {});
  try {
    // Written, not truncated: a sparse file would hold nothing.
    await writeFile(file, Buffer.alloc(bytes));
  } catch {
    await drop();
  }
  return drop;
}
