// The rootfs image: a Debian made by mmdebstrap, with systemd/journald and the
// userspace ndctl's tests call, as a raw ext4 disk that each run boots through
// a qcow2 overlay (so runs never change it). The stressor initramfs boots it:
// its /init mounts the disk, hands over the kernel's modules and switches root.
// mmdebstrap rather than debootstrap: in its unshare mode an ordinary user can
// build the image (root inside a user namespace over the user's subordinate
// ids), so no command of the harness needs root beyond installing packages.
import { InputError } from '../host/errors.ts';
import { readFile, writeFile, mkdir, symlink, chmod, copyFile, readdir, lstat, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
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

const FILES = ['daxh-setup', 'daxh-setup.service', 'daxh-sshd.service', 'daxh-finish'];

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

/** This host cannot build the rootfs image as this user; the message is the fix. */
export class RootfsHostError extends InputError {}

/** A unit name as systemd spells them: it reaches the finishing script's word list. */
const UNIT_RE = /^[A-Za-z0-9@._:-]+$/;

/** The subordinate id range /etc/subuid (or subgid) gives a user, or null. */
export function subordinateRange(text: string, name: string, id: number): { start: number; count: number } | null {
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who !== name && who !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    // mmdebstrap maps a whole 16-bit id space into the namespace.
    if (Number.isInteger(s) && Number.isInteger(c) && c >= 65536) return { start: s, count: c };
  }
  return null;
}

/** Why this user cannot build in a user namespace, as the one line to fix it; null when it can. */
async function unshareBlocker(recipe: string): Promise<string | null> {
  const me = userInfo();
  const fix = `run as root once: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${me.username} (or build it once as root)`;
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    const text = await readFile(f, 'utf8').catch(() => '');
    if (!subordinateRange(text, me.username, me.uid))
      return `image ${recipe} is not built yet, and building it without root needs subordinate ids for ${me.username} in ${f}: ${fix}`;
  }
  const r = await run('unshare', ['--user', '--map-root-user', 'true'], { timeoutMs: 30000, reject: false });
  if (r.exitCode !== 0)
    return `image ${recipe} is not built yet, and this host forbids unprivileged user namespaces (${r.stderr.trim().split('\n').pop() ?? ''}): allow them (sysctl kernel.unprivileged_userns_clone=1) or build it once as root`;
  return null;
}

export async function buildRootfs(recipe: RootfsRecipe, log: (m: string) => void): Promise<ImageArtifact> {
  const asRoot = process.geteuid?.() === 0;
  await ensurePackages(
    {
      mmdebstrap: ['/usr/bin/mmdebstrap'],
      e2fsprogs: ['/usr/sbin/mkfs.ext4'],
      'qemu-utils': ['/usr/bin/qemu-img'],
      'dropbear-bin': ['/usr/bin/dropbearkey'],
      // newuidmap/newgidmap: how mmdebstrap maps the subordinate ids.
      ...(asRoot ? {} : { uidmap: ['/usr/bin/newuidmap'] }),
    },
    log,
  );
  for (const unit of recipe.mask)
    if (!UNIT_RE.test(unit)) throw new ImageBuildError(`image ${recipe.name}: mask entry ${JSON.stringify(unit)} is not a systemd unit name: fix its recipe.json`);
  const dir = recipeDir(recipe.name);
  const mirror = await hostMirror();
  // Only what ends up on the disk keys it: boot options or the description
  // changing must not cost a new bootstrap.
  const diskInputs = JSON.stringify([recipe.suite, recipe.variant, recipe.include, recipe.mask, recipe.modules, recipe.slackMiB]);
  const parts: (string | Buffer)[] = ['rootfs-v2', diskInputs, mirror];
  for (const f of FILES) parts.push(f, await readFile(join(dir, f)));
  const key = sha256(...parts).slice(0, 24);
  const out = cacheDir('images', `${recipe.name}-${key}`);
  const built = await buildCached(out, async (tmp) => {
    // Said before minutes of downloading, not after.
    if (!asRoot) {
      const blocker = await unshareBlocker(recipe.name);
      if (blocker) throw new RootfsHostError(blocker);
    }
    const t0 = Date.now();
    const stage = join(tmp, 'stage');
    await configure(recipe, dir, stage, tmp);
    // Owned by root as the chroot sees it, whoever builds.
    await run('tar', ['--owner=0', '--group=0', '--numeric-owner', '-C', stage, '-cf', join(tmp, 'stage.tar'), '.'], { timeoutMs: 120000 });
    log(`mmdebstrap ${recipe.suite} (${recipe.variant}, ${recipe.include.length} packages${asRoot ? '' : ', in a user namespace'}) from ${mirror}: takes a few minutes once`);
    const r = await run(
      'mmdebstrap',
      [
        // As root, unshare mode keeps its own mount namespace and no user
        // namespace: one way of building for everybody.
        '--mode=unshare',
        `--variant=${recipe.variant}`,
        `--include=${recipe.include.join(',')}`,
        '--format=null',
        // Fixed strings: outside paths are relative to cwd (the build dir),
        // and the hooks take nothing else from the caller but the environment.
        '--customize-hook=tar-in stage.tar /',
        '--customize-hook="$DAXH_FINISH" "$1"',
        '--customize-hook=download /.daxh-build/disk.raw disk.raw',
        recipe.suite,
        '/dev/null',
        mirror,
      ],
      {
        cwd: tmp,
        timeoutMs: 45 * 60000,
        reject: false,
        env: {
          DAXH_FINISH: join(dir, 'daxh-finish'),
          DAXH_SLACK_MIB: String(recipe.slackMiB),
          DAXH_MASK: recipe.mask.join(' '),
        },
      },
    );
    const disk = join(tmp, 'disk.raw');
    if (r.exitCode !== 0 || !(await exists(disk))) {
      // mmdebstrap's own last lines only say that it failed; the cause is the last error before them.
      const lines = (r.stdout + '\n' + r.stderr).trim().split('\n').filter((l) => !/^I: /.test(l));
      const tail = lines.slice(-4).join(' | ');
      throw new ImageBuildError(`mmdebstrap of image ${recipe.name} failed (exit ${r.exitCode}): ${tail}`);
    }
    // download wrote every zero the sparse disk had.
    await run('fallocate', ['--dig-holes', disk], { timeoutMs: 300000, reject: false });
    await rm(stage, { recursive: true, force: true });
    await rm(join(tmp, 'stage.tar'), { force: true });
    const sizeMiB = Number(/daxh-finish: disk (\d+) MiB/.exec(r.stdout + r.stderr)?.[1] ?? 0);
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

/**
 * The files the harness lays over the bootstrap, as a tree of their own: the
 * finishing hook copies it into the chroot (where, unprivileged, only the
 * namespace can write). Modes are set here, whatever the user's umask.
 */
async function configure(recipe: RootfsRecipe, dir: string, stage: string, tmp: string): Promise<void> {
  const sys = join(stage, 'etc/systemd/system');
  await mkdir(join(sys, 'multi-user.target.wants'), { recursive: true });
  await mkdir(join(stage, 'usr/local/sbin'), { recursive: true });
  await copyFile(join(dir, 'daxh-setup'), join(stage, 'usr/local/sbin/daxh-setup'));
  for (const unit of ['daxh-setup.service', 'daxh-sshd.service']) {
    await copyFile(join(dir, unit), join(sys, unit));
    await symlink(`../${unit}`, join(sys, 'multi-user.target.wants', unit));
  }
  for (const unit of recipe.mask) await symlink('/dev/null', join(sys, unit));
  await mkdir(join(stage, 'etc/daxh'), { recursive: true });
  await writeFile(join(stage, 'etc/daxh/modules'), recipe.modules.join('\n') + '\n');
  await writeFile(join(stage, 'etc/daxh/image'), `${recipe.name}\n`);
  await writeFile(join(stage, 'etc/hostname'), 'daxh-guest\n');
  await writeFile(join(stage, 'etc/hosts'), '127.0.0.1 localhost daxh-guest\n');
  // A test VM's journal only needs to live as long as the VM.
  await mkdir(join(stage, 'etc/systemd/journald.conf.d'), { recursive: true });
  await writeFile(join(stage, 'etc/systemd/journald.conf.d/daxh.conf'), '[Journal]\nStorage=volatile\n');
  await writeFile(join(stage, 'etc/fstab'), '# root is mounted by the dax-harness initramfs\n');
  await normalizeModes(stage);
  await chmod(join(stage, 'usr/local/sbin/daxh-setup'), 0o755);
  // Last: makeImageKeys sets root's own 0700/0600 modes.
  await writeKeys(join(tmp, 'keys.json'), await makeImageKeys(stage, `dax-harness ${recipe.name}`));
}

/** Directories 0755, files 0644: a 077 umask must not make the guest's /etc unreadable. */
async function normalizeModes(path: string): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return;
  if (!st.isDirectory()) return chmod(path, 0o644);
  await chmod(path, 0o755);
  for (const e of await readdir(path)) await normalizeModes(join(path, e));
}
