// The kernel pipeline's front door: source + series + config profile →
// a complete, cached KernelArtifact. Asking twice for the same content
// (commit, series, config) builds once; only a complete artifact is ever
// marked good (fsutil.buildCached renames it into place at the very end).
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KernelArtifact, KernelBuildRecord } from '../results/records.js';
import { cacheDir } from '../host/paths.js';
import { buildCached, exists, openCached, sha256, writeJsonAtomic } from '../host/fsutil.js';
import { ensureWorktree, worktreePath, git, parseSourceSpec, resolveCommit, resolveSource, type SourceSpec, type ResolvedSource } from './source.js';
import { applySeries, isRange, loadSeries, revertCommits, revertSeriesPatches, type Series } from './series.js';
import { configureTree, DEFAULT_PROFILE, describeDropped, describeProfile, loadProfile, treeProfile, useTreeConfig, type Profile } from './config.js';
import { buildKernel, objectHistory, rememberObjects } from './build.js';
import { withLock } from './lock.js';
import { dirtyLabel, snapshotWorkingTree, type WorkingState } from './working-tree.js';
import { KernelPipelineError, SeriesError, SourceError } from './errors.js';
import { whichSync } from '../host/proc.js';
import { detailWriter } from '../host/status.ts';
import { ensurePackages, type PackageNeeds } from '../host/apt.js';
import { makeJobs } from '../host/cores.js';
import { withSettings } from '../host/errors.ts';
import { REF, SERIES, SOURCE } from './settings.ts';

export { KernelPipelineError, KernelInputError, SourceError, SeriesError, ConfigError, BuildError, FetchError, PatchApplyError } from './errors.js';
export { parseSourceSpec } from './source.js';
export { loadSeries } from './series.js';
export { loadProfile } from './config.js';
// What the rest of the harness uses besides a build: a git tree's commits, a
// series as read, Debian's stock kernel and its nfit_test, the PVH entry a
// guest boots, module headers for out-of-tree builds, and symbolizing.
export { git, resolveCommit, resolveSource } from './source.js';
export { SERIES_MAX_BYTES, type Series } from './series.js';
export { prepareStockKernel, kernelFromPath } from './stock.js';
export { withNfitTest } from './nfit-stock.js';
export { pvhKernel } from './pvh.js';
export { kbuildReadable } from './make.js';
export { moduleBuildTree, HeadersError } from './headers.js';
export { Addr2lineSymbolizer } from './symbolize.js';
export { compareDebianVersions, compareVersionParts, parseKernelVersion, releaseIndex, versionTriple, type KernelVersion } from './version.js';

export const DEFAULT_SOURCE = 'debian:6.1';

export interface PrepareKernelOptions {
  /** A git tree path, or "debian:X.Y" (default debian:6.1). */
  source?: string | SourceSpec;
  /** Ref in a git tree (default HEAD, or the series' base-commit when present). */
  ref?: string;
  /**
   * Without a ref: build a git tree as it is, uncommitted edits and staged
   * new files included (the CLI's --source PATH). Off by default: a bisection
   * or a nightly builds commits exactly, whatever someone is editing.
   */
  workingTree?: boolean;
  /**
   * An mbox, a directory of .patch files, or a git range A..B in the source
   * tree; or a series already read (a bisection builds subsets of one).
   */
  series?: string | Series;
  /** Commits of the source tree to revert after the series, in this order (a bisection's leave-out check over a range). */
  revert?: string[];
  /** Patches of the series (by number) reverted on top of the whole series (a bisection's revert check over a series). */
  revertPatches?: number[];
  /** Config fragment names from kernels/configs (qemu-q35 is always first). Default ['dax']. */
  config?: string[];
  /** Merge base: tinyconfig (default, fast) or defconfig. */
  configBase?: 'tinyconfig' | 'defconfig';
  /** Continue when Kconfig drops requested options (they are still listed in the record). */
  allowDropped?: boolean;
  /** Parallel make jobs (--jobs); default: the cores the guests this process runs leave free (host/cores.ts). */
  jobs?: number;
  /** Rebuild even when a complete artifact for this content exists. */
  force?: boolean;
  /** Start from an empty O= directory (a cold build; for benchmarks). */
  freshBuildDir?: boolean;
  /** Progress lines (one per step). */
  log?: (line: string) => void;
  /** Raw make output as it arrives (default: the command's --verbose detail, host/status.ts). */
  onBuildOutput?: (chunk: string) => void;
}

/** What prepareKernel resolved before deciding whether to build: enough to name the artifact. */
export interface KernelPlan {
  source: ResolvedSource;
  baseCommit: string;
  series: Series | null;
  profile: Profile;
  key: string;
  artifactDir: string;
  /** The worktree builds of this source use (created on first build). */
  worktree: string;
  /** The O= directory for this (source, profile). */
  buildDir: string;
  /** Resolved commits reverted after the series. */
  reverts: string[];
  /** Patches of the series reverted on top of it, by number. */
  revertPatches: number[];
  /** The tree's uncommitted state when that is what is built (baseCommit is then its snapshot commit). */
  working: WorkingState | null;
  notes: string[];
}

const KEY_VERSION = 'kernel-artifact-v1';

/** Host packages kbuild and the Debian source import need (package → a file it provides). */
export const kernelBuildNeeds: PackageNeeds = {
  make: ['/usr/bin/make'],
  gcc: ['/usr/bin/gcc'],
  flex: ['/usr/bin/flex'],
  bison: ['/usr/bin/bison'],
  bc: ['/usr/bin/bc'],
  'libelf-dev': ['/usr/include/gelf.h'],
  'libssl-dev': ['/usr/include/openssl/ssl.h'],
  git: ['/usr/bin/git'],
  kmod: ['/usr/sbin/depmod'],
  'xz-utils': ['/usr/bin/xz'],
  dpkg: ['/usr/bin/dpkg-deb'],
  cpio: ['/usr/bin/cpio'],
};

export function buildKey(baseCommit: string, seriesHash: string | null, configHash: string, reverts: string[] = []): string {
  // Without reverts the key is what it always was, so cached kernels stay valid.
  return sha256(KEY_VERSION, baseCommit, seriesHash ?? '', configHash, ...(reverts.length ? ['revert', ...reverts] : [])).slice(0, 24);
}

/** The user's kernel inputs, judged without downloading or unpacking anything. */
export interface CheckedKernelInputs {
  spec: SourceSpec;
  /** The user's git tree at --ref (null for a Debian package, or when git is not installed yet). */
  tree: ResolvedSource | null;
  /** A series read from a file or directory; a git range is read once the tree is known. */
  series: Series | null;
  profile: Profile;
}

/**
 * Everything about a kernel request that can be judged before any download,
 * unpack or build: the source spec, the user's tree and --ref, the series
 * file, the config fragments. Each problem is an InputError (exit 2).
 */
export async function checkKernelInputs(opts: PrepareKernelOptions = {}): Promise<CheckedKernelInputs> {
  const spec = typeof opts.source === 'object' ? opts.source : parseSourceSpec(opts.source ?? DEFAULT_SOURCE);
  if (spec.kind === 'debian' && opts.ref) throw new SourceError(withSettings`${REF} does not apply to a Debian package source`, withSettings`drop ${REF}, or pass a git tree with ${SOURCE} PATH`);
  const profile = await loadProfile(opts.config?.length ? opts.config : DEFAULT_PROFILE, opts.configBase ?? 'tinyconfig');
  // Without git yet (a fresh host) the tree is checked once the packages are in.
  const tree = spec.kind === 'git' && whichSync('git') ? await resolveSource(spec, opts.ref) : null;
  let series: Series | null = null;
  if (typeof opts.series === 'object') series = opts.series;
  else if (opts.series) {
    if (isRange(opts.series)) {
      if (spec.kind === 'debian') throw new SeriesError(withSettings`${SERIES} ${opts.series} is a git range, but the source is a Debian package`, withSettings`give the range with ${SOURCE} PATH (your git tree), or pass an mbox or a directory of patches`);
      if (tree) series = await loadSeries(opts.series, tree.repoDir);
    } else series = await loadSeries(opts.series);
  }
  return { spec, tree, series, profile };
}

/** Resolve inputs and compute the content key without touching any worktree. */
export async function planKernel(opts: PrepareKernelOptions = {}, checked?: CheckedKernelInputs): Promise<KernelPlan> {
  const log = opts.log ?? (() => {});
  const inputs = checked ?? (await checkKernelInputs(opts));
  const source = inputs.tree ?? (await resolveSource(inputs.spec, opts.ref, log));
  const notes: string[] = [];
  const series = inputs.series ?? (typeof opts.series === 'string' && opts.series ? await loadSeries(opts.series, source.repoDir) : null);
  if (series) notes.push(...series.notes);

  let baseCommit = source.commit;
  if (!opts.ref && series?.baseCommit) {
    const found = await resolveCommit(source.repoDir, series.baseCommit).catch(() => null);
    if (found) baseCommit = found;
    else notes.push(`series base-commit ${series.baseCommit.slice(0, 12)} is not in ${source.label}; applying on ${source.ref}`);
  } else if (!opts.ref && series?.rangeBase) {
    baseCommit = series.rangeBase;
  }
  // Only where HEAD would be built: a series' own base is a commit the user named.
  const working = opts.workingTree && !opts.ref && baseCommit === source.commit ? await snapshotWorkingTree(source) : null;
  if (working) baseCommit = working.commit;

  let profile = inputs.profile;
  if (source.spec.kind === 'git') {
    const path = join(source.repoDir, '.config');
    const text = await readFile(path, 'utf8').catch(() => null);
    if (useTreeConfig({ workingTree: opts.workingTree, ref: opts.ref, configBase: opts.configBase, treeHasConfig: text !== null })) profile = treeProfile(profile, path, text!);
    else if (text !== null) notes.push(`${path} is not used (${opts.ref ? '--ref builds a commit exactly' : opts.configBase ? `--config-base ${opts.configBase} was given` : 'a commit is built, not the tree as it is'}): config from fragments`);
  }
  const reverts: string[] = [];
  for (const r of opts.revert ?? []) reverts.push(await resolveCommit(source.repoDir, r));
  const revertPatches = opts.revertPatches ?? [];
  if (revertPatches.length && !series) throw new RangeError('revertPatches without a series: nothing to revert');
  const key = buildKey(baseCommit, series?.hash ?? null, profile.hash, [...reverts, ...revertPatches.map((n) => `series-patch:${n}`)]);
  return {
    source,
    baseCommit,
    series,
    profile,
    key,
    artifactDir: cacheDir('kernel', 'artifacts', key),
    worktree: worktreePath(source),
    buildDir: cacheDir('kernel', 'build', `${source.id}-${profile.hash.slice(0, 12)}`),
    reverts,
    revertPatches,
    working,
    notes,
  };
}

function artifactFrom(dir: string, meta: { release: string; label: string; key: string; build: KernelBuildRecord }): KernelArtifact {
  return {
    kind: 'built',
    release: meta.release,
    label: meta.label,
    bzImage: join(dir, 'bzImage'),
    modulesRoot: join(dir, 'modules'),
    systemMap: join(dir, 'System.map'),
    vmlinux: join(dir, 'vmlinux'),
    key: meta.key,
    build: meta.build,
  };
}

async function readArtifact(dir: string, log?: (m: string) => void): Promise<KernelArtifact | null> {
  if (!(await openCached(dir, log))) return null;
  const text = await readFile(join(dir, 'artifact.json'), 'utf8').catch(() => null);
  if (!text) return null;
  const a = JSON.parse(text) as KernelArtifact;
  // Paths are recomputed from where the entry is now, not where it was built.
  return artifactFrom(dir, { release: a.release, label: a.label, key: a.key, build: a.build! });
}

function describe(plan: KernelPlan): string {
  const parts = [plan.source.label];
  if (plan.working) parts.push(`@${dirtyLabel(plan.working.describe, plan.working.files)}`);
  else if (plan.source.spec.kind === 'git') parts.push(`@${plan.baseCommit.slice(0, 12)}`);
  if (plan.series) parts.push(`+ ${plan.series.patches.length} patch(es) v${plan.series.version}`);
  if (plan.reverts.length) parts.push(`- revert ${plan.reverts.map((c) => c.slice(0, 12)).join(' ')}`);
  if (plan.revertPatches.length) parts.push(`- revert patch ${plan.revertPatches.join(', ')}`);
  parts.push(`[${plan.profile.tree ? '.config,' : ''}${plan.profile.fragments.map((f) => f.name).join(',')}]`);
  return parts.join(' ');
}

/**
 * Turn a kernel source, an optional patch series and a config profile into a
 * bootable artifact: bzImage, staged modules (with nfit_test under extra/ and
 * depmod run), vmlinux and System.map. Cached by content; one build at a time.
 */
export async function prepareKernel(opts: PrepareKernelOptions = {}): Promise<KernelArtifact> {
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  // Bad input is found before apt runs or anything is downloaded.
  const checked = await checkKernelInputs(opts);
  await ensurePackages(kernelBuildNeeds, log);
  const plan = await planKernel(opts, checked);
  for (const n of plan.notes) log(`note: ${n}`);

  if (!opts.force) {
    const hit = await readArtifact(plan.artifactDir, log);
    if (hit) {
      log(`cached: ${describe(plan)} → ${plan.artifactDir}`);
      return hit;
    }
  }

  return withLock(cacheDir('kernel', 'locks', 'build'), async () => {
    // Someone else may have built it while we waited.
    if (!opts.force) {
      const hit = await readArtifact(plan.artifactDir);
      if (hit) return hit;
    }
    const label = describe(plan);
    const outDir = plan.buildDir;
    // Read before a fresh build empties the directory: a cold build's count is the one it needs.
    const history = { cold: await objectHistory(outDir, false), incremental: await objectHistory(outDir, true) };
    if (opts.freshBuildDir) await rm(outDir, { recursive: true, force: true });
    const incremental = await exists(join(outDir, 'vmlinux'));
    const expectedObjects = incremental ? history.incremental : history.cold;
    await mkdir(outDir, { recursive: true });
    const logDir = cacheDir('kernel', 'logs');
    await mkdir(logDir, { recursive: true });
    const logPath = join(logDir, `${plan.key}-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);

    let result: KernelArtifact | null = null;
    await buildCached(plan.artifactDir, async (tmp) => {
      const w = plan.working;
      log(`worktree: ${plan.source.label} at ${w ? `${dirtyLabel(w.describe, w.files)}, uncommitted edits of ${w.base.slice(0, 12)} (snapshot ${w.commit.slice(0, 12)})` : plan.baseCommit.slice(0, 12)}`);
      const wt = await ensureWorktree(plan.source, plan.baseCommit);
      if (plan.series) {
        log(`series: applying ${plan.series.patches.length} patch(es) from ${plan.series.source}`);
        await applySeries(wt, plan.series);
      }
      if (plan.reverts.length) {
        log(`revert: ${plan.reverts.map((c) => c.slice(0, 12)).join(' ')}`);
        await revertCommits(wt, plan.reverts);
      }
      if (plan.series && plan.revertPatches.length) {
        log(`revert: patch ${plan.revertPatches.join(', ')} of the series`);
        await revertSeriesPatches(wt, plan.series, plan.revertPatches);
      }
      const head = (await git(wt, ['rev-parse', 'HEAD'])).stdout.trim();

      log(`config: ${describeProfile(plan.profile)}`);
      const tc = Date.now();
      const cfg = await configureTree(wt, outDir, plan.profile, { allowDropped: opts.allowDropped });
      const configMs = Date.now() - tc;
      for (const d of cfg.dropped) log(`warning: dropped ${describeDropped(d)}`);

      // Computed when make starts, not when the run began: guests may have stopped or started since.
      const jobs = makeJobs(opts.jobs);
      const expecting = expectedObjects === null ? 'no earlier build of this config: no ETA' : `${expectedObjects} objects last time`;
      log(`build: make -j${jobs} bzImage modules${incremental ? ' (incremental)' : ' (cold)'}, ${expecting}; log ${logPath}`);
      const out = await buildKernel({ worktree: wt, outDir, stageDir: tmp, logPath, jobs, onOutput: opts.onBuildOutput ?? detailWriter(), expectedObjects });
      // Only the next build's ETA depends on it: never a reason to fail this one.
      await rememberObjects(outDir, incremental, out.objects).catch(() => {});
      await copyFile(logPath, join(tmp, 'build.log'));

      const record: KernelBuildRecord = {
        source: plan.source.label,
        baseCommit: plan.working?.base ?? plan.baseCommit,
        commit: head,
        ...(plan.working
          ? { dirty: true, workingTree: { snapshot: plan.working.commit, describe: dirtyLabel(plan.working.describe, plan.working.files), files: plan.working.files, diffHash: plan.working.diffHash } }
          : {}),
        seriesHash: plan.series?.hash ?? null,
        series: (plan.series?.patches ?? []).map((p) => ({ number: p.number, total: p.total, title: p.title, messageId: p.messageId })),
        configFragments: plan.profile.fragments.map((f) => f.name),
        configBase: plan.profile.tree ? plan.profile.tree.path : plan.profile.base,
        configHash: plan.profile.hash,
        configSource: plan.profile.tree ? 'tree' : 'fragments',
        ...(plan.profile.tree ? { treeConfig: { path: plan.profile.tree.path, sha256: plan.profile.tree.sha256 } } : {}),
        finalConfigHash: cfg.finalHash,
        buildDir: outDir,
        worktree: wt,
        droppedOptions: cfg.dropped.map(describeDropped),
        compiler: out.compiler,
        ccache: out.ccache,
        durationMs: Date.now() - t0,
        makeMs: out.makeMs,
        stepsMs: { config: configMs, ...out.stepsMs },
        incremental,
        nfitModules: out.nfitModules,
        log: logPath,
        builtAt: new Date().toISOString(),
      };
      result = artifactFrom(plan.artifactDir, { release: out.release, label, key: plan.key, build: record });
      await writeJsonAtomic(join(tmp, 'build.json'), record);
      await writeJsonAtomic(join(tmp, 'artifact.json'), result);
    }, { force: opts.force, log });
    const final = result ?? (await readArtifact(plan.artifactDir));
    if (!final) throw new KernelPipelineError('the build finished but left no artifact', `look in ${plan.artifactDir}`);
    log(`built ${final.release} in ${((Date.now() - t0) / 1000).toFixed(1)} s → ${plan.artifactDir}`);
    await stat(final.bzImage);
    return final;
  });
}
