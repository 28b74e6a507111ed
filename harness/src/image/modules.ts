// Per-kernel module archive: the recipe's modules and their dependencies,
// copied from the kernel's module tree with a fresh depmod, as a second cpio
// that is appended to the image's. The image stays kernel-independent.
import { readFile, mkdir, copyFile, writeFile, rm } from 'node:fs/promises';
import { join, dirname, basename } from 'node:path';
import { run } from '../host/proc.ts';
import { cacheDir } from '../host/paths.ts';
import { buildCached, sha256, exists } from '../host/fsutil.ts';
import { writeCpio } from './cpio.ts';
import type { KernelArtifact } from '../results/records.ts';

export function moduleName(path: string): string {
  return basename(path).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export interface ModuleIndex {
  /** module name → path relative to lib/modules/<release>. */
  paths: Map<string, string>;
  /** module path → dependency paths. */
  deps: Map<string, string[]>;
  builtin: Set<string>;
  softdeps: Map<string, string[]>;
}

/** Parse modules.dep / modules.builtin / modules.softdep text (pure). */
export function parseModuleIndex(dep: string, builtin: string, softdep: string): ModuleIndex {
  const paths = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const line of dep.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const p = line.slice(0, i).trim();
    paths.set(moduleName(p), p);
    deps.set(p, line.slice(i + 1).trim().split(/\s+/).filter(Boolean));
  }
  const bi = new Set(builtin.split('\n').filter(Boolean).map(moduleName));
  const soft = new Map<string, string[]>();
  for (const line of softdep.split('\n')) {
    const m = /^softdep\s+(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const names = m[2].split(/\s+/).filter((w) => w && !w.endsWith(':')).map((w) => w.replace(/-/g, '_'));
    soft.set(m[1].replace(/-/g, '_'), names);
  }
  return { paths, deps, builtin: bi, softdeps: soft };
}

/** Wanted module names → the set of module files to ship, plus names not found. */
export function resolveModules(idx: ModuleIndex, wanted: string[]): { files: string[]; missing: string[] } {
  const files = new Set<string>();
  const missing: string[] = [];
  const addPath = (p: string) => {
    if (files.has(p)) return;
    files.add(p);
    for (const d of idx.deps.get(p) ?? []) addPath(d);
  };
  const addName = (n: string, soft: boolean) => {
    const name = n.replace(/-/g, '_');
    const p = idx.paths.get(name);
    if (p) {
      addPath(p);
      for (const s of idx.softdeps.get(name) ?? []) addName(s, true);
    } else if (!idx.builtin.has(name) && !soft) missing.push(name);
  };
  for (const w of wanted) addName(w, false);
  return { files: [...files].sort(), missing };
}

export interface ModulesArchive {
  cpio: string;
  key: string;
  missing: string[];
}

export async function buildModulesCpio(kernel: KernelArtifact, wanted: string[], log: (m: string) => void): Promise<ModulesArchive | null> {
  if (!kernel.modulesRoot) return null;
  const modDir = join(kernel.modulesRoot, 'lib', 'modules', kernel.release);
  if (!(await exists(join(modDir, 'modules.dep'))))
    throw new Error(`kernel ${kernel.release} has no modules.dep under ${modDir}: run depmod for it`);
  const read = async (f: string) => ((await exists(join(modDir, f))) ? readFile(join(modDir, f), 'utf8') : '');
  const idx = parseModuleIndex(await read('modules.dep'), await read('modules.builtin'), await read('modules.softdep'));
  const { files, missing } = resolveModules(idx, wanted);
  const key = sha256('modules-v1', kernel.key, ...files).slice(0, 24);
  const dir = cacheDir('modules', key);
  const built = await buildCached(dir, async (tmp) => {
    // usr/lib because the image's /lib is a symlink into /usr.
    const dst = join(tmp, 'root', 'usr', 'lib', 'modules', kernel.release);
    await mkdir(dst, { recursive: true });
    for (const f of files) {
      await mkdir(dirname(join(dst, f)), { recursive: true });
      await copyFile(join(modDir, f), join(dst, f));
    }
    for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo'])
      if (await exists(join(modDir, f))) await copyFile(join(modDir, f), join(dst, f));
    await run('depmod', ['-b', join(tmp, 'root', 'usr'), kernel.release], { timeoutMs: 60000 });
    await writeCpio(join(tmp, 'root'), join(tmp, 'modules.cpio'));
    await rm(join(tmp, 'root'), { recursive: true, force: true });
    await writeFile(join(tmp, 'missing'), missing.join('\n'));
  });
  log(`modules for ${kernel.release}: ${files.length} files${built ? '' : ' (cached)'}${missing.length ? `; not in this kernel: ${missing.join(' ')}` : ''}`);
  return { cpio: join(dir, 'modules.cpio'), key, missing };
}
