// `dax-harness build`: argument parsing and printing only; the work is
// kernel/index.ts prepareKernel().
import { LIMITS, wholeOption } from '../host/limits.js';
import { spellSettings } from '../host/errors.ts';
import { prepareKernel, KernelPipelineError, KernelInputError, type PrepareKernelOptions } from '../kernel/index.js';
import { defineCommand, parseCommand } from './command.ts';
import { flagOf, reportError, usageError } from './exit.ts';
import { progressPrinter, verbosityOf } from './progress.ts';
import { seriesArg } from './series-input.ts';

export const BUILD_HELP = `usage: dax-harness build [options]

Build a kernel for the DAX test guests from a kernel source, an optional
patch series and a config profile. The result is cached by content (commit +
series + config): asking for the same thing again returns at once.

Source (where the kernel comes from):
  --source debian:X.Y   Debian's linux-source-X.Y package (default debian:6.1).
                        6.1 comes from the host's bookworm sources; other
                        versions from bookworm-backports or unstable through
                        package lists the harness keeps in its own cache. The
                        package is downloaded (never installed) and imported
                        once into a git repository.
  --source PATH         your own Linux git tree, as it is: uncommitted edits
                        of tracked files and staged new files are built too
                        (never-added files are not); the progress line and
                        build.json say so (describe-dirty, base commit, diff
                        hash). The tree is never modified: the build uses a
                        worktree under the cache. A tree another user owns is
                        trusted for this command only (git safe.directory).
  --ref REF             build exactly this commit, tag or branch of PATH,
                        edits left out (default: the working tree, or the
                        series' base-commit: when it names a commit in PATH).

Patch series (applied with git am on top of the source):
  --series FILE.mbox    an mbox saved from a mail client or written by b4 am.
                        Cover letters and replies are skipped, [PATCH vN M/N]
                        ordered, the newest version kept, duplicates dropped.
  --series DIR          a directory of .patch files (git format-patch output),
                        or of .mbx files and a cover letter (b4 am -o DIR).
  --series -            the mbox on standard input (b4 am -o - MSGID | ...).
  --series A..B         the commits A..B of the --source tree.
  A patch that does not apply stops the build with its number, subject, file
  and hunk; the tree is left at the base commit.

Config (fragments in kernels/configs/, merged like merge_config.sh):
  --config LIST         comma-separated fragment names or paths, later wins
                        (default dax). qemu-q35 is always applied first.
                        Shipped: dax, debug-vm, lockdep, kasan, ndctl (what
                        ndctl's suite and the systemd rootfs need; the default
                        with --suite ndctl), cxl-test (cxl_test for ndctl v80+
                        daxctl-create, 6.3+ trees).
  --config-base BASE    tinyconfig (default, fastest) or defconfig.
  --allow-dropped       go on when Kconfig drops options a fragment asked
                        for (default: stop and name them).

Build:
  --jobs N              parallel make jobs (default: cores minus running guests' vCPUs).
  --force               rebuild even if this exact kernel is cached.
  --json                print the artifact (paths, release, build record) as
                        JSON on stdout.
  --help                this text.

Output: bzImage, modules staged under <modules>/lib/modules/<release>/
(nfit_test modules under extra/, preferred by depmod), vmlinux and
System.map, plus build.json and build.log beside them in the cache
(\${DAX_HARNESS_CACHE:-~/.cache/dax-harness}/kernel/artifacts/<key>/).

Bad input (usage, source, ref, series, config fragment) is found before
anything is downloaded where it can be.`;

export const BUILD_SPEC = defineCommand({
  name: 'build',
  options: {
    source: { type: 'string' },
    ref: { type: 'string' },
    series: { type: 'string' },
    config: { type: 'string' },
    'config-base': { type: 'string' },
    'allow-dropped': { type: 'boolean' },
    jobs: { type: 'string' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  positionals: false,
  manual: BUILD_HELP,
  examples: [
    ['dax-harness build', "Debian's 6.1 source with the dax config"],
    ['dax-harness build --source ~/linux --jobs 16', 'your tree, uncommitted edits included, make -j16'],
    ['dax-harness build --config dax,debug-vm --series ./v3-dax-fix.mbox', 'a mailed series on top, with debug options'],
    ['b4 am -o - MSGID | dax-harness build --series -', 'the series b4 fetched, from standard input'],
    ['dax-harness build --source ~/linux --ref v6.15 --series v6.15..my-branch', 'a branch of your tree, commit-exact'],
  ],
  exit: { 0: 'built (or found in the cache)', 1: 'the kernel did not compile (make, depmod or a module build failed)' },
});

export async function buildCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(BUILD_SPEC, argv);
  if (typeof parsed === 'number') return parsed;
  const values = parsed.values;
  const usage = (what: string) => usageError('build', `${what} — run 'dax-harness build --help'`);
  const base = values['config-base'] as string | undefined;
  if (base !== undefined && base !== 'tinyconfig' && base !== 'defconfig') return usage(`--config-base must be tinyconfig or defconfig, not "${base}"`);
  let jobs: number | undefined;
  try {
    jobs = values.jobs === undefined ? undefined : wholeOption(values.jobs, '--jobs', LIMITS.jobs, 1);
  } catch (e) {
    return reportError('build', e);
  }
  const config = values.config === undefined ? undefined : values.config.split(',').map((s) => s.trim()).filter(Boolean);
  if (config && config.length === 0) return usage('--config needs at least one fragment name');

  const json = Boolean(values.json);
  let series: string | undefined;
  try {
    series = await seriesArg(values.series);
  } catch (e) {
    return reportError('build', e);
  }
  const progress = progressPrinter({ verbosity: verbosityOf(values) });
  const opts: PrepareKernelOptions = {
    source: values.source as string | undefined,
    ref: values.ref as string | undefined,
    workingTree: typeof values.source === 'string' && !values.source.startsWith('debian:') && values.ref === undefined,
    series,
    config,
    configBase: base as PrepareKernelOptions['configBase'],
    allowDropped: Boolean(values['allow-dropped']),
    jobs,
    force: Boolean(values.force),
    // Progress is not prefixed like errors, so the one `dax-harness build:` line stays the verdict.
    log: (l) => progress(l, 'kernel'),
  };
  try {
    const a = await prepareKernel(opts);
    if (json) {
      process.stdout.write(JSON.stringify(a, null, 2) + '\n');
    } else {
      const b = a.build;
      process.stdout.write(
        [
          `kernel    ${a.release}  (${a.label})`,
          `bzImage   ${a.bzImage}`,
          `modules   ${a.modulesRoot}`,
          `vmlinux   ${a.vmlinux}`,
          `System.map ${a.systemMap}`,
          `key       ${a.key}`,
          ...(b ? [`commit    ${b.commit}`, `compiler  ${b.compiler}${b.ccache ? ' (ccache)' : ''}`, `log       ${b.log}`] : []),
        ].join('\n') + '\n',
      );
    }
    return 0;
  } catch (e) {
    if (json && (e instanceof KernelPipelineError || e instanceof KernelInputError))
      process.stdout.write(JSON.stringify({ error: { type: e.name, what: spellSettings(e.whatText, flagOf), hint: spellSettings(e.hintText, flagOf), details: e.details } }, null, 2) + '\n');
    return reportError('build', e, { kernelVerdict: true });
  } finally {
    progress.close();
  }
}
