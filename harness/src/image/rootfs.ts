// The rootfs image: a debootstrap'd Debian with systemd/journald and the
// userspace ndctl's tests call, as a raw ext4 disk that each run boots through
// a qcow2 overlay (so runs never change it). The stressor initramfs boots it:
// its /init mounts the disk, hands over the kernel's modules and switches root.
import { InputError } from '../host/errors.ts';
import { readFile, writeFile, mkdir, symlink, chmod, rm, copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../host/proc.ts';
import { cacheDir } from '../host/paths.ts';
import { buildCached, sha256, writeJsonAtomic, exists, readJson } from '../host/fsutil.ts';
import { ensurePackages } from '../host/apt.ts';
import { recipeDir, buildInitramfs, ImageBuildError } from './initramfs.ts';
import { makeImageKeys, readKeys, writeKeys } from './keys.ts';
import type { ImageArtifact } from '../results/records.ts';

export interface RootfsRecipe {
  name: string;
  description: string;
  kind: 'rootfs';
  suite: string;
  variant: string;
  /** The initramfs recipe that boots this disk. */
  boot: string;
  include: string[];
  mask: string[];
  modules: string[];
  ready?: string[];
  /** Kernel command-line words this image wants (e.g. quieter systemd). */
  cmdline?: string[];
  slackMiB: number;
}

const FILES = ['daxh-setup', 'daxh-setup.service', 'daxh-sshd.service'];

/** The Debian archive URI in an apt sources file (deb822 or one-line), or null. */
export function mirrorFromSources(text: string): string | null {
  const deb822 = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text);
  if (deb822) return deb822[1];
  const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s+\S+\s+main/m.exec(text);
  return oneLine ? oneLine[1] : null;
}

/** The Debian mirror the host's own apt uses (debootstrap needs one). */
export async function hostMirror(): Promise<string> {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!(await exists(f))) continue;
    const m = mirrorFromSources(await readFile(f, 'utf8'));
    if (m) return m;
  }
  return 'http://deb.debian.org/debian';
}

/** The rootfs image needs a root build once; the message is the command. */
export class RootfsNeedsRootError extends InputError {}

export async function buildRootfs(recipe: RootfsRecipe, log: (m: string) => void): Promise<ImageArtifact> {
  await ensurePackages(
    {
      debootstrap: ['/usr/sbin/debootstrap'],
      e2fsprogs: ['/usr/sbin/mkfs.ext4'],
      'qemu-utils': ['/usr/bin/qemu-img'],
      'dropbear-bin': ['/usr/bin/dropbearkey'],
    },
    log,
  );
  const dir = recipeDir(recipe.name);
  const mirror = await hostMirror();
  // Only what ends up on the disk keys it: boot options or the description
  // changing must not cost a new debootstrap.
  const diskInputs = JSON.stringify([recipe.suite, recipe.variant, recipe.include, recipe.mask, recipe.modules, recipe.slackMiB]);
  const parts: (string | Buffer)[] = ['rootfs-v1', diskInputs, mirror];
  for (const f of FILES) parts.push(f, await readFile(join(dir, f)));
  const key = sha256(...parts).slice(0, 24);
  const out = cacheDir('images', `${recipe.name}-${key}`);
  const built = await buildCached(out, async (tmp) => {
    // debootstrap makes root-owned files and device nodes: an ordinary user
    // cannot, and is told so before minutes of downloading.
    if (process.geteuid?.() !== 0)
      throw new RootfsNeedsRootError(
        `image ${recipe.name} is not built yet, and building it (debootstrap) needs root: run this command as root, or pick --image initramfs where the suite allows`,
      );
    const t0 = Date.now();
    const root = join(tmp, 'root');
    log(`debootstrap ${recipe.suite} (${recipe.variant}, ${recipe.include.length} packages) from ${mirror}: takes a few minutes once`);
    const r = await run(
      'debootstrap',
      [`--variant=${recipe.variant}`, `--include=${recipe.include.join(',')}`, recipe.suite, root, mirror],
      { timeoutMs: 45 * 60000, reject: false },
    );
    if (r.exitCode !== 0) {
      const tail = (r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ');
      throw new ImageBuildError(`debootstrap of image ${recipe.name} failed (exit ${r.exitCode}): ${tail}`);
    }
    await configure(recipe, dir, root, tmp);
    const disk = join(tmp, 'disk.raw');
    const du = await run('du', ['-sm', root], { timeoutMs: 120000 });
    const sizeMiB = Number(du.stdout.split(/\s+/)[0]) + recipe.slackMiB;
    await run('mkfs.ext4', ['-F', '-q', '-L', 'daxroot', '-d', root, disk, `${sizeMiB}M`], { timeoutMs: 600000 });
    await rm(root, { recursive: true, force: true });
    const art: ImageArtifact = {
      kind: 'rootfs',
      recipe: recipe.name,
      key,
      cpio: '', // filled in below from the boot initramfs, which changes more often than the disk
      disk: join(out, 'disk.raw'),
      cmdline: ['daxh.root=/dev/vda', ...(recipe.cmdline ?? [])],
      ...(await readKeys(join(tmp, 'keys.json'))),
      ready: recipe.ready ?? null,
      builtAt: new Date().toISOString(),
    };
    // It holds the image's ssh private key: owner only, like keys.json.
    await writeJsonAtomic(join(tmp, 'image.json'), art, { mode: 0o600 });
    log(`image ${recipe.name} built in ${((Date.now() - t0) / 1000).toFixed(0)} s (${sizeMiB} MiB disk, key ${key})`);
  }, { private: true, log });
  if (!built) log(`image ${recipe.name} cached (key ${key})`);
  const disk = await readJson<ImageArtifact>(join(out, 'image.json'));
  const boot = await buildInitramfs(recipe.boot, log);
  return { ...disk, cpio: boot.cpio, key: sha256(disk.key, boot.key).slice(0, 24) };
}

async function configure(recipe: RootfsRecipe, dir: string, root: string, tmp: string): Promise<void> {
  const sys = join(root, 'etc/systemd/system');
  await mkdir(join(sys, 'multi-user.target.wants'), { recursive: true });
  await copyFile(join(dir, 'daxh-setup'), join(root, 'usr/local/sbin/daxh-setup'));
  await chmod(join(root, 'usr/local/sbin/daxh-setup'), 0o755);
  for (const unit of ['daxh-setup.service', 'daxh-sshd.service']) {
    await copyFile(join(dir, unit), join(sys, unit));
    await symlink(`../${unit}`, join(sys, 'multi-user.target.wants', unit));
  }
  for (const unit of recipe.mask) {
    await rm(join(sys, unit), { force: true });
    await symlink('/dev/null', join(sys, unit));
  }
  // Remove what the masks cannot: enablement links of timers and units we do not want.
  for (const wants of ['timers.target.wants', 'multi-user.target.wants', 'sysinit.target.wants', 'getty.target.wants']) {
    const d = join(sys, wants);
    if (!(await exists(d))) continue;
    for (const f of await readdir(d)) if (recipe.mask.includes(f)) await rm(join(d, f), { force: true });
  }
  await mkdir(join(root, 'etc/daxh'), { recursive: true });
  await writeFile(join(root, 'etc/daxh/modules'), recipe.modules.join('\n') + '\n');
  await writeFile(join(root, 'etc/daxh/image'), `${recipe.name}\n`);
  await writeFile(join(root, 'etc/hostname'), 'daxh-guest\n');
  await writeFile(join(root, 'etc/hosts'), '127.0.0.1 localhost daxh-guest\n');
  // A test VM's journal only needs to live as long as the VM.
  await mkdir(join(root, 'etc/systemd/journald.conf.d'), { recursive: true });
  await writeFile(join(root, 'etc/systemd/journald.conf.d/daxh.conf'), '[Journal]\nStorage=volatile\n');
  await writeFile(join(root, 'etc/fstab'), '# root is mounted by the dax-harness initramfs\n');
  for (const d of ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'var/cache/apt/archives']) {
    await rm(join(root, d), { recursive: true, force: true });
    await mkdir(join(root, d), { recursive: true });
  }
  await writeKeys(join(tmp, 'keys.json'), await makeImageKeys(root, `dax-harness ${recipe.name}`));
}
