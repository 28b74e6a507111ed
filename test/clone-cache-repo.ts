// Tests that want "a user's tree" clone the harness's Debian import. When the
// harness runs as root, that repository belongs to the sandbox account (it
// applies series there), and git's local clone checks the source's owner,
// honouring safe.directory only from global config, never from -c: the
// clone gets a throwaway global config that names that one repository.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../harness/src/host/proc.ts';

export async function cloneShared(repoDir: string, to: string, timeoutMs = 600_000): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'daxh-clonecfg-'));
  try {
    const cfg = join(dir, 'gitconfig');
    await writeFile(cfg, `[safe]\n\tdirectory = ${join(repoDir, '.git')}\n\tdirectory = ${repoDir}\n`);
    await run('git', ['clone', '-q', '--shared', repoDir, to], { timeoutMs, env: { GIT_CONFIG_GLOBAL: cfg } });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
