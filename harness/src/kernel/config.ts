// Config profiles: fragments under kernels/configs merged onto a tinyconfig
// (or defconfig) base the way scripts/kconfig/merge_config.sh does, then
// checked: Kconfig silently drops what it cannot satisfy, and a dropped
// option (a typo, an unmet dependency, a symbol this version lacks) must be
// reported by name rather than discovered as a missing feature in the guest.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../host/paths.js';
import { exists, sha256, sha256File } from '../host/fsutil.js';
import { writeFileAtomic } from '../host/fsutil.js';
import { BuildError, ConfigError } from './errors.js';
import { git } from './source.js';
import { kmake } from './make.js';
import { envValue } from '../host/env.ts';
import { withSettings } from '../host/errors.ts';
import { ALLOW_DROPPED } from './settings.ts';

/** `y`, `m`, a number or quoted string; null for "is not set". */
export type ConfigValue = string | null;
export type ConfigMap = Map<string, ConfigValue>;

export const BASE_FRAGMENT = 'qemu-q35';
export const DEFAULT_PROFILE = ['dax'];

export function fragmentsDir(): string {
  return envValue('DAX_HARNESS_CONFIGS') ?? join(repoRoot, 'kernels', 'configs');
}

export interface Fragment {
  name: string;
  text: string;
  options: ConfigMap;
}

export interface Profile {
  base: 'tinyconfig' | 'defconfig';
  fragments: Fragment[];
  /** Hash of the base and every fragment's text, in order: part of the build key. */
  hash: string;
  /** The user's tree's own .config, the base in place of `base` (treeProfile). */
  tree?: { path: string; text: string; sha256: string };
}

/**
 * Is the tree's own .config the base? Only for a tree built as it is (the
 * CLI's --source PATH without --ref: bisect and nightly build commits, which
 * a file outside git must not change), only when it has one, and not when
 * the user chose a base with --config-base.
 */
export function useTreeConfig(o: { workingTree?: boolean; ref?: string; configBase?: string; treeHasConfig: boolean }): boolean {
  return Boolean(o.workingTree) && !o.ref && o.configBase === undefined && o.treeHasConfig;
}

/**
 * The profile with the tree's .config as its base: the fragments (qemu-q35,
 * which the guest needs to boot, and the suite's) are still merged over it.
 * The hash covers the .config's text, so the build key and the O= directory
 * change with it.
 */
export function treeProfile(profile: Profile, path: string, text: string): Profile {
  const textHash = sha256(text);
  return {
    ...profile,
    tree: { path, text, sha256: textHash },
    hash: sha256('tree-config', textHash, ...profile.fragments.flatMap((f) => [f.name, f.text])),
  };
}

/** What the log and the build label say about the config: base + fragments. */
export function describeProfile(profile: Profile): string {
  const base = profile.tree ? `${profile.tree.path} (the tree's own)` : profile.base;
  return [base, ...profile.fragments.map((f) => f.name)].join(' + ');
}

export interface Requested {
  value: ConfigValue;
  from: string;
}

export interface Dropped {
  name: string;
  requested: ConfigValue;
  actual: ConfigValue | undefined;
  from: string;
  /** False when no Kconfig file in the tree defines the symbol (likely a typo). */
  known?: boolean;
}

/** Parse a fragment or a .config. Lines that are neither options nor comments are errors. */
export function parseConfig(text: string, name = 'fragment', strict = true): ConfigMap {
  const out: ConfigMap = new Map();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const notSet = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (notSet) {
      out.set(notSet[1]!, null);
      return;
    }
    if (line.startsWith('#')) return;
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (set) {
      out.set(set[1]!, set[2]!);
      return;
    }
    if (strict) {
      throw new ConfigError(`${name}:${i + 1}: "${line}" is not a config line`, 'write CONFIG_NAME=value or "# CONFIG_NAME is not set"');
    }
  });
  return out;
}

export function renderConfig(map: ConfigMap): string {
  let s = '';
  for (const [k, v] of map) s += v === null ? `# ${k} is not set\n` : `${k}=${v}\n`;
  return s;
}

/**
 * merge_config.sh semantics: each fragment's options replace earlier
 * definitions (base or an earlier fragment) and are appended; later wins.
 * Returns the merged map, what was finally requested, and the overrides.
 */
export function mergeFragments(base: ConfigMap, fragments: Fragment[]): { merged: ConfigMap; requested: Map<string, Requested>; overrides: string[] } {
  const merged: ConfigMap = new Map(base);
  const requested = new Map<string, Requested>();
  const overrides: string[] = [];
  for (const f of fragments) {
    for (const [k, v] of f.options) {
      const prev = requested.get(k);
      if (prev && prev.value !== v) overrides.push(`${k}: ${show(prev.value)} (${prev.from}) overridden by ${show(v)} (${f.name})`);
      merged.delete(k);
      merged.set(k, v);
      requested.set(k, { value: v, from: f.name });
    }
  }
  return { merged, requested, overrides };
}

function show(v: ConfigValue | undefined): string {
  return v === null || v === undefined ? 'n' : v;
}

/** Every requested option whose final value differs; "not set" is satisfied by absence. */
export function verifyConfig(requested: Map<string, Requested>, final: ConfigMap): Dropped[] {
  const dropped: Dropped[] = [];
  for (const [name, r] of requested) {
    const actual = final.get(name);
    const ok = r.value === null ? actual === undefined || actual === null : actual === r.value;
    if (!ok) dropped.push({ name, requested: r.value, actual, from: r.from });
  }
  return dropped;
}

export function describeDropped(d: Dropped): string {
  const what = d.known === false ? 'no such Kconfig symbol in this tree' : `got ${show(d.actual)}`;
  return `${d.name}=${show(d.requested)} (${d.from}): ${what}`;
}

export async function loadProfile(names: string[], base: Profile['base'] = 'tinyconfig', dir = fragmentsDir()): Promise<Profile> {
  const list = [BASE_FRAGMENT, ...names.filter((n) => n !== BASE_FRAGMENT)];
  const fragments: Fragment[] = [];
  for (const n of list) {
    const path = n.includes('/') ? n : join(dir, n.endsWith('.config') ? n : `${n}.config`);
    if (!(await exists(path))) {
      const { readdir } = await import('node:fs/promises');
      const have = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.config')).map((f) => f.replace(/\.config$/, ''));
      throw new ConfigError(`no config fragment "${n}"`, `choose from: ${have.join(', ')} (or give a path to a .config fragment)`);
    }
    const text = await readFile(path, 'utf8');
    fragments.push({ name: n.includes('/') ? path : n, text, options: parseConfig(text, path) });
  }
  return { base, fragments, hash: sha256(base, ...fragments.flatMap((f) => [f.name, f.text])) };
}

/** Look the dropped symbols up in the tree's Kconfig files, to tell typos from unmet dependencies. */
async function markUnknown(worktree: string, dropped: Dropped[]): Promise<void> {
  if (dropped.length === 0) return;
  const syms = dropped.map((d) => d.name.replace(/^CONFIG_/, ''));
  const r = await git(worktree, ['grep', '-h', '-E', '-o', `^\\s*(menu)?config\\s+(${syms.join('|')})\\s*$`, '--', '*Kconfig*'], { reject: false });
  const defined = new Set(r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[1]).filter(Boolean));
  for (const d of dropped) d.known = defined.has(d.name.replace(/^CONFIG_/, ''));
}

export interface ConfigureResult {
  configPath: string;
  dropped: Dropped[];
  overrides: string[];
  /** sha256 of the final .config file (plain, as sha256File computes it). */
  finalHash: string;
}

/**
 * Write the merged and verified .config into the O= directory. When the
 * directory already holds this profile's .config, only olddefconfig runs (the
 * tree's Kconfig may have changed between commits), which keeps a series step
 * or a bisection step from rewriting the config and triggering a full rebuild.
 */
export async function configureTree(
  worktree: string,
  outDir: string,
  profile: Profile,
  opts: { allowDropped?: boolean; onOutput?: (c: string) => void } = {},
): Promise<ConfigureResult> {
  const configPath = join(outDir, '.config');
  const stampPath = join(outDir, 'dax-harness-config.json');
  const stamp = await readFile(stampPath, 'utf8').then((t) => JSON.parse(t) as { hash: string }).catch(() => null);
  const { requested, overrides } = mergeFragments(new Map(), profile.fragments);

  const step = async (args: string[]) => {
    const r = await kmake({ worktree, outDir, args, timeoutMs: 600_000, onOutput: opts.onOutput });
    if (r.exitCode !== 0) {
      const tail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
      throw new BuildError(`make ${args.join(' ')} failed: ${tail}`, 'check that flex, bison, bc and a C compiler are installed and the tree configures by hand');
    }
  };

  if (!(stamp?.hash === profile.hash && (await exists(configPath)))) {
    if (profile.tree) await writeFile(configPath, profile.tree.text);
    else await step([profile.base]);
    const base = parseConfig(await readFile(configPath, 'utf8'), configPath, false);
    const { merged } = mergeFragments(base, profile.fragments);
    await writeFile(configPath, renderConfig(merged));
  }
  await step(['olddefconfig']);

  const finalText = await readFile(configPath, 'utf8');
  const dropped = verifyConfig(requested, parseConfig(finalText, configPath, false));
  await markUnknown(worktree, dropped);
  if (dropped.length && !opts.allowDropped) {
    await writeFileAtomic(stampPath, JSON.stringify({ hash: 'unverified' }));
    throw new ConfigError(
      `config options dropped by Kconfig: ${dropped.map(describeDropped).join('; ')}`,
      withSettings`fix the fragment (typo, or add the options they depend on), or pass ${ALLOW_DROPPED}`,
      { dropped },
    );
  }
  await writeFileAtomic(stampPath, JSON.stringify({ hash: profile.hash, names: profile.fragments.map((f) => f.name), dropped }, null, 2));
  // Of the file's bytes exactly, so others can compare it with sha256File(.config).
  return { configPath, dropped, overrides, finalHash: await sha256File(configPath) };
}
