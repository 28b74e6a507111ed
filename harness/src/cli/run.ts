// `dax-harness run`: argument parsing, progress and the result table. All the
// work happens in workflows/run.ts.
import { resolve } from 'node:path';
import { runWorkflow, RunInputError, DEFAULT_SUITE, checkSuiteOptions, type DaxFs } from '../workflows/run.ts';
import { defaultResultsRoot } from '../host/paths.ts';
import { formatTable } from '../results/table.ts';
import { GUEST_OPTIONS, GUEST_HELP, KERNEL_HELP, guestFromArgs, parseDuration, whole as int } from './run-options.ts';
import { LIMITS, secondsOption } from '../host/limits.ts';
import { KEEP_HELP, runKept } from './run-keep.ts';
import type { KeeperStart } from '../workflows/keeper.ts';
import { forTerminal } from '../host/terminal.ts';
import { defineCommand, parseCommand } from './command.ts';
import { EXIT, interruptedCode, reportError } from './exit.ts';
import { progressPrinter, verbosityOf, type Printer } from './progress.ts';

export const RUN_HELP = `usage: dax-harness run [options]

Boots a QEMU q35 guest with emulated NVDIMMs and runs a suite in it. The default
suite makes an fsdax namespace and runs the DAX smoke on ext4 and xfs mounted -o dax (PMD/PTE/MAP_SYNC mmap with pattern
checks). With no options: Debian's stock kernel (fetched with apt-get download
into the cache, never installed), the 'initramfs' image, one 2050M NVDIMM with a
2M label area, 2G of RAM, 2 vCPUs, KVM if a probe boot works, else TCG.

${KERNEL_HELP}

guest (with none of the topology options, --suite ndctl gets the guest ndctl's tests need:
a 6 GiB labelled NVDIMM, memmap=3G!6G and 1G!9G legacy pmem, 1 GiB soft-reserved RAM for dax_hmem,
12 GiB RAM in 2 NUMA nodes, and nfit_test's modules preferred over the kernel's own nvdimm drivers):
${GUEST_HELP}

tests:
  --suite NAME           smoke (default): the DAX smoke on ext4 and xfs;
                         stressors: the DAX stressor matrix (suites/stressors/manifest.json);
                         ndctl: ndctl's meson 'ndctl:dax' suite from --ndctl (boots the rootfs image)
  --test NAME            only this test of the suite; repeatable
  --ndctl PATH           your ndctl git tree (built on the host, out of tree, shared into the guest)
  --hang-timeout SEC     ndctl tests with meson's timeout disabled are stopped after this (default 1800)
  --fs LIST              filesystems for the DAX smoke, comma-separated (default ext4,xfs)
  --no-census            skip the refcount census after each unmount (on by default)
  --seconds N            how long each stressor loops (default 0: one pass)
  --seed N               pattern seed (default 1)
  --repeat N             run the suite's tests N times in one booted guest (a fresh boot after
                         a crash ends a guest); results carry the pass number
  --known FILE           your known-outcome list (repeatable), read after suites/known-outcomes.txt
                         and suites/stressors/manifest.json: an outcome it expects is XFAIL, not FAIL

output:
  --results DIR          where run directories go (default: results/ in the repo)
  --json                 print run.json instead of the table
${KEEP_HELP}

Every console line from QEMU's start goes through the crash oracle: a kernel report while the
guest boots is a crash on the 'boot' step (exit 1), a guest that never comes up without one is an
infrastructure error naming the phase it stopped after. Verdicts: PASS, FAIL, SKIP, XFAIL (a known
outcome: manifest or known-outcome list, with its reason), XPASS (an expected failure that passed:
shown, not failing the run), ERROR (the harness or the guest broke).

Writes results/<run-id>/run.json (with the harness's version and commit), console.log
and tests/<test>.log.`;

export const RUN_SPEC = defineCommand({
  name: 'run',
  options: {
    ...GUEST_OPTIONS,
    suite: { type: 'string', default: DEFAULT_SUITE },
    test: { type: 'string', multiple: true },
    ndctl: { type: 'string' },
    'hang-timeout': { type: 'string' },
    fs: { type: 'string', default: 'ext4,xfs' },
    seconds: { type: 'string' },
    seed: { type: 'string' },
    results: { type: 'string' },
    json: { type: 'boolean', default: false },
    'no-census': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'keep-idle': { type: 'string' },
    repeat: { type: 'string' },
    known: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h', default: false },
  },
  positionals: false,
  manual: RUN_HELP,
  examples: [
    ['dax-harness run', "the DAX smoke on Debian's stock kernel"],
    ['dax-harness run --source ~/linux --jobs 16', 'your tree as it is, uncommitted edits included, built with make -j16'],
    ['dax-harness run --suite stressors --test pmd_pte_mix --repeat 5', 'one stressor, five passes in one guest'],
    ['dax-harness run --suite ndctl --ndctl ~/ndctl', "ndctl's dax tests in the rootfs guest"],
    ['dax-harness run --keep --keep-idle 1h', 'keep the guest up afterwards for dax-harness attach'],
  ],
  exit: { 0: 'no unexpected outcome', 1: 'a test failed unexpectedly, the kernel reported, or it did not compile' },
});

export async function runCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(RUN_SPEC, argv);
  if (typeof parsed === 'number') return parsed;
  const a = parsed.values;
  let print: Printer | undefined;
  try {
    const suite = a.suite!;
    const fsList = a.fs!.split(',').filter(Boolean);
    checkSuiteOptions({ suite, tree: a.ndctl, fs: fsList });
    // Numbers first: they need no file, no git and no network.
    const repeat = int(a.repeat, '--repeat', LIMITS.repeat, 1);
    const hangMs = secondsOption(a['hang-timeout'], '--hang-timeout', LIMITS.hangTimeoutS, 1800);
    const seconds = int(a.seconds, '--seconds', LIMITS.stressSeconds, 0);
    const seed = int(a.seed, '--seed', LIMITS.seed, 1);
    if (a['keep-idle'] !== undefined && !a.keep) throw new RunInputError('--keep-idle goes with --keep');
    if (a['keep-idle'] !== undefined) parseDuration(a['keep-idle'], '--keep-idle', LIMITS.keepIdleMs);
    const guest = await guestFromArgs(a);
    print = progressPrinter({ verbosity: verbosityOf(a) });
    const progress = (phase: string, msg: string) => print!(msg, phase);
    const options: KeeperStart['options'] = {
      ...guest,
      suite,
      census: !a['no-census'],
      repeat,
      known: (a.known ?? []).map((f) => resolve(f)),
      tests: a.test,
      ndctl: a.ndctl ? resolve(a.ndctl) : undefined,
      hangMs,
      resultsRoot: a.results ? resolve(a.results) : defaultResultsRoot(),
      filesystems: fsList as DaxFs[],
      seconds,
      seed,
    };
    const { record, runDir, after } = a.keep
      ? await runKept(options, a['keep-idle'], progress)
      : { ...(await runWorkflow({ ...options, progress })), after: [] };
    if (a.json) console.log(JSON.stringify(record, null, 2));
    else {
      console.log(forTerminal(formatTable(record)));
      console.log(`details: ${runDir}`);
    }
    for (const l of after) console.log(l);
    switch (record.status) {
      case 'pass':
        return 0;
      case 'fail':
        return 1;
      case 'interrupted':
        return interruptedCode(record.reason);
      default:
        return EXIT.infra;
    }
  } catch (e) {
    return reportError('run', e, { kernelVerdict: true });
  } finally {
    print?.close();
  }
}
