// Every image gets its own ssh identity: a dropbear host key (so the harness
// can verify it is talking to its own guest) and a client key pair whose
// public half is root's only authorized key (no password logins).
import { writeFile, mkdir, chmod, rm, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { run } from '../host/proc.ts';
import { writeJsonAtomic } from '../host/fsutil.ts';
import { InputError } from '../host/errors.ts';

/** The host's dropbear cannot make the keys an image needs (too old, or broken). */
export class KeyError extends InputError {}

export interface ImageKeys {
  sshPrivateKey: string;
  hostKeyBlob: string;
}

/** Write the host key and authorized_keys into root; return what the harness keeps. */
export async function makeImageKeys(root: string, comment: string): Promise<ImageKeys> {
  await mkdir(join(root, 'etc/dropbear'), { recursive: true });
  const hostKey = join(root, 'etc/dropbear/host_key');
  await rm(hostKey, { force: true });
  await run('dropbearkey', ['-t', 'ed25519', '-f', hostKey], { timeoutMs: 30000 });
  const pub = await run('dropbearkey', ['-y', '-f', hostKey], { timeoutMs: 30000 });
  const m = /^(ssh-ed25519)\s+(\S+)/m.exec(pub.stdout);
  if (!m) throw new KeyError(`dropbearkey printed no ed25519 public key (${pub.stdout.trim().slice(0, 120) || 'nothing'}): install a dropbear-bin with ed25519 support (Debian 11 or later)`);
  const kp = ssh2.utils.generateKeyPairSync('ed25519', { comment });
  await mkdir(join(root, 'root/.ssh'), { recursive: true });
  await writeFile(join(root, 'root/.ssh/authorized_keys'), kp.public + '\n', { mode: 0o600 });
  await chmod(join(root, 'root/.ssh'), 0o700);
  await chmod(join(root, 'root'), 0o700);
  return { sshPrivateKey: kp.private, hostKeyBlob: m[2] };
}

/** The harness's copy of an image's keys: owner-only, whatever the umask. */
export async function writeKeys(file: string, keys: ImageKeys): Promise<void> {
  await writeJsonAtomic(file, keys, { mode: 0o600 });
}

export async function readKeys(file: string): Promise<ImageKeys> {
  return JSON.parse(await readFile(file, 'utf8')) as ImageKeys;
}
