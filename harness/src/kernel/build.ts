// kbuild out of tree: bzImage + modules into an O= directory kept per
// (source, config) so the next commit or series step is incremental, then the
// nfit_test modules, then everything staged into an artifact directory the
// image builder can copy as is.
import { access, constants, copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createWriteStream, type WriteStream } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { run } from '../host/proc.js';
import { BuildError } from './errors.js';
import { kmake } from './make.js';
import { TEST_TREES, preferExtraModules } from './test-modules.ts';
import { envValue } from '../host/env.ts';
import { ObjectCounter, buildStatus } from '../host/eta.ts';
import { showStatus } from '../host/status.ts';
import { readJson, writeJsonAtomic } from '../host/fsutil.js';

export interface BuildStep {
  worktree: string;
  outDir: string;
  /** Where modules, bzImage, vmlinux and System.map are staged. */
  stageDir: string;
  logPath: string;
  jobs: number;
  onOutput?: (chunk: string) => void;
  /** Objects the kernel step compiled last time (objectHistory); null: unknown, no ETA. */
  expectedObjects?: number | null;
}

export interface BuildOutputs {
  release: string;
  bzImage: string;
  vmlinux: string;
  systemMap: string;
  config: string;
  modulesRoot: string;
  nfitModules: string[];
  compiler: string;
  ccache: boolean;
  /** Objects the kernel step compiled (kbuild's CC and AS lines). */
  objects: number;
  /** Wall time of the make runs (kernel, nfit_test, installs). */
  makeMs: number;
  /** Wall time of each make step, by step name. */
  stepsMs: Record<string, number>;
}

async function onPath(name: string): Promise<string | null> {
  for (const d of (envValue('PATH') ?? '').split(delimiter)) {
    if (!d) continue;
    const p = join(d, name);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** The first lines of a log that say what broke, compiler errors first. */
export function firstErrors(log: string, max = 6): string[] {
  const lines = log.split('\n');
  const pick = (re: RegExp) => lines.filter((l) => re.test(l));
  const compiler = pick(/(: (fatal )?error: |undefined reference to|multiple definition of|^ERROR: modpost: )/);
  if (compiler.length) return compiler.slice(0, max).map((l) => l.trim());
  const make = pick(/(\*\*\* |No space left on device|^make.*Error \d+)/);
  return make.slice(0, max).map((l) => l.trim());
}

/**
 * tools/testing/{nvdimm,cxl} compile drivers/... through relative paths from
 * M=, so objects would land inside the source tree and make later O= builds
 * refuse it. A shadow copy of just those directories in the build dir keeps
 * the worktree pristine; `cp -a` keeps mtimes, so rebuilds stay incremental.
 */
async function shadowTestTree(worktree: string, outDir: string, dirs: readonly string[]): Promise<string> {
  const shadow = join(outDir, 'nfit-shadow');
  for (const d of dirs) {
    await mkdir(join(shadow, d), { recursive: true });
    await run('cp', ['-a', `${join(worktree, d)}/.`, `${join(shadow, d)}/`], { timeoutMs: 300_000 });
  }
  return join(shadow, dirs[0]);
}

/** cxl_test is built only where its config_check.c can pass: the CXL core as a module. */
export function wantsCxlTest(config: string): boolean {
  return /^CONFIG_CXL_BUS=m$/m.test(config) && /^CONFIG_CXL_ACPI=m$/m.test(config) && /^CONFIG_CXL_PMEM=m$/m.test(config);
}

/** make's output passed on, and the objects in it counted into a status line (at most one a second). */
function countingOutput(out: (chunk: string) => void, objects: ObjectCounter, expected: number | null, started: number): (chunk: string) => void {
  let shown = 0;
  return (chunk) => {
    out(chunk);
    const done = objects.push(chunk);
    const t = Date.now();
    if (t - shown < 1000) return;
    shown = t;
    showStatus(buildStatus({ done, expected, elapsedMs: t - started }), 'kernel');
  };
}

/** The file beside a build's O= directory's contents that remembers how many objects its builds compiled, cold and incremental. */
const OBJECTS_FILE = '.dax-harness-objects.json';
type ObjectHistory = { cold?: number; incremental?: number };

/** The objects the last build of this kind in `outDir` compiled; null without one. */
export async function objectHistory(outDir: string, incremental: boolean): Promise<number | null> {
  const h = await readJson<ObjectHistory>(join(outDir, OBJECTS_FILE)).catch(() => null);
  const n = h?.[incremental ? 'incremental' : 'cold'];
  return typeof n === 'number' && n > 0 ? n : null;
}

export async function rememberObjects(outDir: string, incremental: boolean, objects: number): Promise<void> {
  if (objects <= 0) return;
  const h = (await readJson<ObjectHistory>(join(outDir, OBJECTS_FILE)).catch(() => null)) ?? {};
  await writeJsonAtomic(join(outDir, OBJECTS_FILE), { ...h, [incremental ? 'incremental' : 'cold']: objects });
}

export async function buildKernel(s: BuildStep): Promise<BuildOutputs> {
  await mkdir(s.stageDir, { recursive: true });
  const logStream: WriteStream = createWriteStream(s.logPath, { flags: 'a' });
  let writeError: Error | null = null;
  logStream.on('error', (e) => (writeError = e));
  const out = (chunk: string) => {
    logStream.write(chunk);
    s.onOutput?.(chunk);
  };
  const ccachePath = await onPath('ccache');
  const cc = ccachePath ? 'ccache gcc' : undefined;
  const t0 = Date.now();
  const stepsMs: Record<string, number> = {};
  try {
    const objects = new ObjectCounter();
    const step = async (what: string, args: string[], count = false) => {
      out(`\n### dax-harness: make ${args.join(' ')}\n`);
      const ts = Date.now();
      const onOutput = count ? countingOutput(out, objects, s.expectedObjects ?? null, ts) : out;
      const r = await kmake({ worktree: s.worktree, outDir: s.outDir, args, jobs: s.jobs, cc, onOutput, writable: [s.stageDir] }).finally(() => {
        if (count) showStatus('');
      });
      stepsMs[what] = Date.now() - ts;
      out(`### dax-harness: ${what}: ${(stepsMs[what]! / 1000).toFixed(1)} s\n`);
      if (r.exitCode !== 0 || writeError) {
        await new Promise((res) => logStream.end(res));
        const log = await readFile(s.logPath, 'utf8').catch(() => `${r.stdout}\n${r.stderr}`);
        // Compiler paths under O= are absolute worktree paths; tree-relative reads better.
        const errs = firstErrors(log).map((l) => l.split(`${s.worktree}/`).join(''));
        if (/No space left on device/.test(log) || (writeError as NodeJS.ErrnoException | null)?.code === 'ENOSPC') {
          throw new BuildError(`no space left on device while building ${what}`, `free disk space under the cache (${s.outDir}) and retry; nothing was marked as built`, { log: s.logPath, errors: errs });
        }
        throw new BuildError(
          `${what} failed to build${errs.length ? `: ${errs[0]}` : r.timedOut ? ' (timed out)' : ''}`,
          `see ${s.logPath}`,
          { log: s.logPath, errors: errs, exitCode: r.exitCode },
        );
      }
    };

    await step('the kernel', ['bzImage', 'modules'], true);
    const nfitDir = await shadowTestTree(s.worktree, s.outDir, TEST_TREES.nfit);
    await step('nfit_test (tools/testing/nvdimm)', [`M=${nfitDir}`, 'modules']);
    // ndctl v80+'s daxctl-create.sh runs on cxl_test's regions.
    const cxlDir = wantsCxlTest(await readFile(join(s.outDir, '.config'), 'utf8')) ? await shadowTestTree(s.worktree, s.outDir, TEST_TREES.cxl) : null;
    if (cxlDir) await step('cxl_test (tools/testing/cxl)', [`M=${cxlDir}`, 'modules']);

    const modulesRoot = join(s.stageDir, 'modules');
    await rm(modulesRoot, { recursive: true, force: true });
    await step('modules_install', [`INSTALL_MOD_PATH=${modulesRoot}`, 'modules_install']);
    await step('nfit_test modules_install', [`M=${nfitDir}`, `INSTALL_MOD_PATH=${modulesRoot}`, 'INSTALL_MOD_DIR=extra', 'modules_install']);
    if (cxlDir) await step('cxl_test modules_install', [`M=${cxlDir}`, `INSTALL_MOD_PATH=${modulesRoot}`, 'INSTALL_MOD_DIR=extra', 'modules_install']);

    const release = (await readFile(join(s.outDir, 'include/config/kernel.release'), 'utf8')).trim();
    const modDir = join(modulesRoot, 'lib/modules', release);
    // These point back into the cache's worktree and O= dir; an image builder
    // copying with dereference would pull in the whole source tree.
    await rm(join(modDir, 'build'), { force: true });
    await rm(join(modDir, 'source'), { force: true });

    // nfit_test/cxl_test themselves land in extra/test/, the wrapped drivers in extra/.
    const nfitModules = (await readdir(join(modDir, 'extra'), { recursive: true }).catch(() => [] as string[]))
      .filter((f) => f.endsWith('.ko'))
      .map((f) => basename(f).replace(/\.ko$/, ''))
      .sort();
    if (nfitModules.length === 0) {
      throw new BuildError('nfit_test built no modules', `check that the config has the nvdimm drivers as modules; see ${s.logPath}`, { log: s.logPath });
    }
    // The wrapped copies must win over the in-tree drivers of the same name.
    await preferExtraModules(modulesRoot, release, nfitModules, { log: s.logPath });

    const copy = async (from: string, name: string) => {
      const to = join(s.stageDir, name);
      await copyFile(join(s.outDir, from), to);
      return to;
    };
    const bzImage = await copy('arch/x86/boot/bzImage', 'bzImage');
    const vmlinux = await copy('vmlinux', 'vmlinux');
    const systemMap = await copy('System.map', 'System.map');
    const config = await copy('.config', 'config');
    const cfg = await readFile(config, 'utf8');
    const compiler = /^CONFIG_CC_VERSION_TEXT="(.*)"$/m.exec(cfg)?.[1] ?? 'unknown';
    return { release, bzImage, vmlinux, systemMap, config, modulesRoot, nfitModules, compiler, ccache: Boolean(ccachePath), objects: objects.count, makeMs: Date.now() - t0, stepsMs };
  } finally {
    if (!logStream.writableEnded) await new Promise((res) => logStream.end(res));
  }
}
