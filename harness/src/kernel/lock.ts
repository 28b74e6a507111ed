// A cross-process lock on a cache path. Builds of one kernel tree share a
// worktree and an O= directory, and this machine can afford only one kernel
// build at a time, so callers serialise on a lock rather than trusting luck.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { pidAlive as alive } from '../host/fsutil.ts';

/**
 * Hold `lockDir` (created with mkdir, which is atomic) while `fn` runs. A lock
 * left behind by a dead process is taken over; a live holder is waited for.
 */
export async function withLock<T>(
  lockDir: string,
  fn: () => Promise<T>,
  opts: { waitMs?: number; onWait?: (holder: string) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.waitMs ?? 4 * 3600_000);
  await mkdir(dirname(lockDir), { recursive: true });
  let told = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'owner'), `${process.pid}\n`);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number.parseInt(await readFile(join(lockDir, 'owner'), 'utf8').catch(() => ''), 10);
      if (Number.isFinite(owner) && owner > 0 && !alive(owner)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (!Number.isFinite(owner)) {
        // Owner file not written yet (or the writer died between mkdir and
        // write): give it a moment before deciding it is stale.
        await new Promise((r) => setTimeout(r, 500));
        const again = await readFile(join(lockDir, 'owner'), 'utf8').catch(() => '');
        if (!again) await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockDir} held by pid ${owner}`);
      if (!told) {
        opts.onWait?.(`pid ${owner}`);
        told = true;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}
