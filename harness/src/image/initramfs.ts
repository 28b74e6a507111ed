// The stressor image: a busybox + dropbear initramfs built from a recipe under
// images/, with host tools copied in with their shared libraries, the C
// stressors compiled statically, and an ssh key pair made for the image.
// Cached under a hash of everything that goes into it.
import { readFile, writeFile, mkdir, copyFile, symlink, chmod, readdir, lstat, rm } from 'node:fs/promises';
import { join, dirname, posix } from 'node:path';
import { run } from '../host/proc.ts';
import { cacheDir, repoRoot } from '../host/paths.ts';
import { buildCached, sha256, writeJsonAtomic, exists } from '../host/fsutil.ts';
import { ensurePackages, type PackageNeeds } from '../host/apt.ts';
import { writeCpio } from './cpio.ts';
import { makeImageKeys, readKeys, writeKeys } from './keys.ts';
import type { ImageArtifact } from '../results/records.ts';
import { InfraError, InputError } from '../host/errors.ts';

export interface InitramfsRecipe {
  name: string;
  kind?: 'initramfs';
  description: string;
  hostPackages: PackageNeeds;
  copy: string[];
  links: Record<string, string>;
  stressors: string[];
  modules: string[];
  ready?: string[];
}

/** An image recipe that does not exist, or a host that cannot supply what it copies in. */
export class ImageError extends InputError {}
/** Building an image failed on good input (a stressor that does not compile, mmdebstrap). */
export class ImageBuildError extends InfraError {}

export const stressorDir = join(repoRoot, 'suites', 'stressors');

export function recipeDir(name: string): string {
  return join(repoRoot, 'images', name);
}

export async function loadRecipe(name: string): Promise<InitramfsRecipe> {
  const dir = recipeDir(name);
  if (!(await exists(join(dir, 'recipe.json'))))
    throw new ImageError(`image recipe "${name}" not found: expected ${join(dir, 'recipe.json')}`);
  return JSON.parse(await readFile(join(dir, 'recipe.json'), 'utf8')) as InitramfsRecipe;
}

/** Shared libraries a dynamically linked binary needs, as host paths. */
export async function sharedLibs(binary: string): Promise<string[]> {
  const r = await run('ldd', [binary], { timeoutMs: 20000, reject: false });
  if (/not a dynamic executable/.test(r.stdout + r.stderr)) return [];
  const libs = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const direct = /^\s*(\/\S+)\s+\(/.exec(line);
    if (arrow) libs.add(arrow[1]);
    else if (direct) libs.add(direct[1]);
    if (/=> not found/.test(line)) throw new ImageError(`${binary} needs a library the host lacks: ${line.trim()}`);
  }
  return [...libs];
}

/** Merged-/usr layout: /lib/x → usr/lib/x inside the image. */
function imagePath(hostPath: string): string {
  const p = hostPath.replace(/^\/(lib64|lib|bin|sbin)\//, '/usr/$1/');
  return p.slice(1);
}

async function closure(recipe: InitramfsRecipe): Promise<string[]> {
  const files = new Set<string>(['/usr/bin/busybox']);
  for (const f of recipe.copy) {
    files.add(f);
    for (const l of await sharedLibs(f)) files.add(l);
  }
  return [...files].sort();
}

async function inputsKey(name: string, recipe: InitramfsRecipe, files: string[]): Promise<string> {
  const dir = recipeDir(name);
  const parts: (string | Buffer)[] = ['initramfs-v1', await readFile(join(dir, 'recipe.json')), await readFile(join(dir, 'init.sh'))];
  for (const s of recipe.stressors) parts.push(s, await readFile(join(stressorDir, `${s}.c`)));
  // Headers the stressors share are inputs too.
  for (const h of (await readdir(stressorDir)).filter((f) => f.endsWith('.h')).sort()) parts.push(h, await readFile(join(stressorDir, h)));
  for (const f of files) parts.push(f, await readFile(f));
  return sha256(...parts).slice(0, 24);
}

export async function compileStressor(name: string, out: string): Promise<void> {
  const src = join(stressorDir, `${name}.c`);
  const r = await run('gcc', ['-O2', '-g', '-Wall', '-Wextra', '-static', '-pthread', '-o', out, src], { timeoutMs: 120000, reject: false });
  if (r.exitCode !== 0)
    throw new ImageBuildError(`stressor ${name} does not compile: ${r.stderr.split('\n').filter((l) => /error/.test(l)).slice(0, 3).join(' | ')}`);
}

export async function buildInitramfs(name: string, log: (m: string) => void): Promise<ImageArtifact> {
  const recipe = await loadRecipe(name);
  await ensurePackages(recipe.hostPackages, log);
  const files = await closure(recipe);
  const key = await inputsKey(name, recipe, files);
  const dir = cacheDir('images', `${name}-${key}`);
  const built = await buildCached(dir, async (tmp) => {
    const t0 = Date.now();
    const root = join(tmp, 'root');
    await stage(name, recipe, files, root, tmp);
    await writeCpio(root, join(tmp, 'image.cpio'));
    await rm(root, { recursive: true, force: true });
    const art: ImageArtifact = {
      kind: 'initramfs',
      recipe: name,
      key,
      cpio: join(dir, 'image.cpio'),
      ...(await readKeys(join(tmp, 'keys.json'))),
      ready: recipe.ready ?? null,
      builtAt: new Date().toISOString(),
    };
    // It holds the image's ssh private key: owner only, like keys.json.
    await writeJsonAtomic(join(tmp, 'image.json'), art, { mode: 0o600 });
    log(`image ${name} built in ${((Date.now() - t0) / 1000).toFixed(1)} s (key ${key})`);
  }, { private: true, log });
  if (!built) log(`image ${name} cached (key ${key})`);
  return JSON.parse(await readFile(join(dir, 'image.json'), 'utf8')) as ImageArtifact;
}

async function stage(name: string, recipe: InitramfsRecipe, files: string[], root: string, tmp: string): Promise<void> {
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'etc/daxh', 'proc', 'sys', 'dev', 'tmp', 'run', 'mnt', 'var'])
    await mkdir(join(root, d), { recursive: true });
  for (const [l, target] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64'], ['var/run', '../run']])
    await symlink(target, join(root, l));

  for (const f of files) {
    const dst = join(root, imagePath(f));
    await mkdir(dirname(dst), { recursive: true });
    await copyFile(f, dst);
    await chmod(dst, 0o755);
  }
  for (const [link, target] of Object.entries(recipe.links)) await symlink(target, join(root, imagePath(link)));

  // busybox provides everything else; real tools copied above win.
  const list = await run('/usr/bin/busybox', ['--list-full'], { timeoutMs: 10000 });
  for (const applet of list.stdout.split('\n').filter(Boolean)) {
    const dst = join(root, imagePath(`/${applet}`));
    if (await lexists(dst)) continue;
    await mkdir(dirname(dst), { recursive: true });
    await symlink(posix.relative(posix.dirname(`/${imagePath('/' + applet)}`), '/usr/bin/busybox'), dst);
  }

  for (const s of recipe.stressors) await compileStressor(s, join(root, 'usr/bin', s));

  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
  await writeFile(join(root, 'etc/shells'), '/bin/sh\n');
  if (await exists('/etc/mke2fs.conf')) await copyFile('/etc/mke2fs.conf', join(root, 'etc/mke2fs.conf'));
  await writeFile(join(root, 'etc/daxh/modules'), recipe.modules.join('\n') + '\n');
  await writeFile(join(root, 'etc/daxh/stressors'), recipe.stressors.join('\n') + '\n');
  await writeFile(join(root, 'etc/daxh/image'), `${name}\n`);

  await writeKeys(join(tmp, 'keys.json'), await makeImageKeys(root, `dax-harness ${name}`));

  await copyFile(join(recipeDir(name), 'init.sh'), join(root, 'init'));
  await chmod(join(root, 'init'), 0o755);
}

async function lexists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** For tests and tools: the files an image holds (relative paths). */
export async function listTree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const n of (await readdir(join(dir, rel))).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    out.push(r);
    const st = await lstat(join(dir, r));
    if (st.isDirectory()) out.push(...(await listTree(dir, r)));
  }
  return out;
}
