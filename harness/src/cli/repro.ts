// `dax-harness repro REPORT|-`: the options parsed and checked, one call into
// workflows/repro/workflow.ts (which checks the rest before a guest or a
// download, plans, loops and records), the outcome printed, the exit status.
import { resolve } from 'node:path';
import { readFile, stat, access, constants } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { InputError } from '../host/errors.ts';
import { parseDuration, kernelChoice, whole, KERNEL_OPTIONS, type KernelArgs } from './run-options.ts';
import { LIMITS } from '../host/limits.ts';

export { parseDuration };
import { defaultResultsRoot } from '../host/paths.ts';
import { checkKernelInputs } from '../kernel/index.ts';
import type { KernelChoice } from '../workflows/run.ts';
import type { Accel } from '../results/records.ts';
import { WHOLE_INPUT_LIMIT } from '../workflows/repro/report.ts';
import { resolveTestNames } from '../workflows/repro/candidates.ts';

export { resolveTestNames };
import { reproWorkflow, type ReproDeps as WorkflowDeps, type ReproOutcome } from '../workflows/repro/workflow.ts';
import { formatPlan } from '../workflows/repro/text.ts';
import { forTerminal } from '../host/terminal.ts';
import { defineCommand, parseCommand } from './command.ts';
import { EXIT, interruptedCode, reportError } from './exit.ts';
import { progressPrinter, verbosityOf, type Printer } from './progress.ts';
import { readCapped, seriesArg } from './series-input.ts';

export const REPRO_HELP = `usage: dax-harness repro [options] REPORT|-

Reproduces a reported kernel crash. REPORT is the text as it reached you (a
file, or - for standard input): a console log, a dmesg or journal dump, an
e-mail (MIME, quoted-printable, attachments), a log pasted indented, quoted or
wrapped by a mail client, a lore.kernel.org mbox thread, a syzbot report.

The crash is found with the oracle (dax-harness parse-log shows what it
sees); the tests to try are ranked from what the report says: the tests it
names (dax-ext4.sh, pmd_pte_mix.xfs...), the program that crashed (Comm:),
the functions on its stack and the filesystem they belong to. They then run
in turns, weighted by rank, in one booted guest (a fresh boot after a crash)
until the same crash comes back or the budget ends. "The same crash" survives
kernel and series revisions: offsets, line numbers, .isra/.constprop clones,
inlining and the function renames of dax-test-spec §4 do not matter. Any other
crash met on the way is recorded and reported, and the search goes on.

what to reproduce:
  --crash N              which crash of REPORT (default: the first one its sender
                         pasted, not quoted); numbered as dax-harness parse-log prints them
  --test NAME            try only this test (repeatable), named as run prints it: pmd_pte_mix.ext4,
                         dax-smoke.xfs, dax-ext4.sh (needs --ndctl); a stressor (all its targets);
                         or SUITE:NAME (stressors:pmd_pte_mix, smoke:xfs, ndctl:mmap.sh)
  --ndctl PATH           your ndctl git tree: lets ndctl's dax tests be tried (dax-ext4.sh...)
  --any-crash            stop at any crash, not only the reported one

how long:
  --budget DURATION      time for the whole search, boots and builds included:
                         90s, 30m, 2h, 1h30m, 2d (default 30m, at most 1w)
  --confirm N            after the first reproduction, run that test N more times
                         to measure how often it crashes (default 4; 0: stop at once)
  --seconds N            how long each stressor loops per run (default: the manifest's)

kernel (as for run; default: the Debian kernel closest to the report's version,
and the output says how close):
  --kernel PATH [--modules DIR]   your bzImage (and its modules tree)
  --kernel-package NAME  a Debian kernel package
  --source debian:X.Y|PATH [--ref REF] [--series MBOX|DIR|A..B] [--config LIST]
  [--config-base tinyconfig|defconfig] [--allow-dropped] [--jobs N]
                         build it with the kernel pipeline (as dax-harness build;
                         --jobs: make's parallel jobs, default 2)

other:
  --accel kvm|tcg        skip the KVM probe
  --seed N               pattern seed for the tests (default 1)
  --results DIR          where run directories go (default: results/)
  --dry-run              print the plan (the crash, the tests ranked with their
                         reasons, the kernel) and stop: no guest, no download
  --json                 print the outcome (or with --dry-run the plan) as JSON

Output: reproduced or not; the crash met beside the reported one, field by
field (title, assertion, page-dump fields, frames that agree and differ); the
rate over the reproducing test's runs with its 95% interval; time to the
first reproduction; every other crash met; what was tried; and the exact
dax-harness commands that reproduce it. All of it is kept in RESULTS/repro-ID/:
repro.json (rewritten after every pass, so an interrupted search still says
what it tried), summary.txt, the report as given, and runs/ with each guest's
run directory (console.log, run.json, test logs).

No test that could run is exit 3, as the guest or QEMU breaking is.`;

export const REPRO_SPEC = defineCommand({
  name: 'repro',
  options: {
    crash: { type: 'string' },
    test: { type: 'string', multiple: true },
    ndctl: { type: 'string' },
    'any-crash': { type: 'boolean', default: false },
    budget: { type: 'string' },
    confirm: { type: 'string' },
    seconds: { type: 'string' },
    ...KERNEL_OPTIONS,
    accel: { type: 'string' },
    seed: { type: 'string' },
    results: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  positionals: true,
  manual: REPRO_HELP,
  examples: [
    ['dax-harness repro crash.mbox', 'the first crash of a saved mail, on the Debian kernel nearest its version'],
    ['b4 mbox -o - MSGID | dax-harness repro -', 'a lore thread, from standard input'],
    ['dax-harness repro --dry-run --json crash.txt', 'the plan only: the crash and the tests ranked, as JSON'],
    ['dax-harness repro --source ~/linux --budget 2h crash.txt', 'on your tree, for up to two hours'],
  ],
  exit: { 0: 'reproduced (with --any-crash: a crash was met)', 1: 'not reproduced within the budget' },
});

/** The workflow's injected pieces, and standard input (REPORT or --series -). */
export type ReproDeps = WorkflowDeps & { stdin?: Readable };

async function readInput(file: string, stdin: Readable): Promise<string> {
  if (file === '-') return (await readCapped(stdin, WHOLE_INPUT_LIMIT, `standard input is over ${WHOLE_INPUT_LIMIT >> 20} MiB: give the crash mail or the part of the log with the crash`)).toString('utf8');
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read REPORT ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
  if (st.isDirectory()) throw new InputError(`REPORT ${file} is a directory: give the file with the crash (a log or a mail)`);
  if (st.size > WHOLE_INPUT_LIMIT) throw new InputError(`REPORT ${file} is over ${WHOLE_INPUT_LIMIT >> 20} MiB: give the crash mail or the part of the log with the crash`);
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read REPORT ${file}: ${(e as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
}

/** The kernel options as given: the choice for the guest and the argv that repeats it. Null when none was given. */
export async function kernelFromArgs(a: KernelArgs, stdin?: Readable): Promise<{ choice: KernelChoice; argv: string[] } | null> {
  const choice = kernelChoice(a);
  if (choice.kind === 'path') {
    await access(choice.bzImage, constants.R_OK).catch(() => {
      throw new InputError(`--kernel ${a.kernel}: no readable file there (give the bzImage, e.g. arch/x86/boot/bzImage)`);
    });
    return { choice, argv: ['--kernel', choice.bzImage, ...(choice.modules ? ['--modules', choice.modules] : [])] };
  }
  if (choice.kind === 'stock') return choice.pkg ? { choice, argv: ['--kernel-package', choice.pkg] } : null;
  if (choice.kind !== 'build') return null;
  const o = choice.opts;
  if (o.series === '-') o.series = await seriesArg('-', stdin);
  // A mistyped fragment, a missing series or a bad ref is found now, before anything is fetched.
  await checkKernelInputs(o);
  const argv: string[] = [];
  for (const [k, v] of [['--source', o.source], ['--ref', o.ref], ['--series', o.series], ['--config', a.config], ['--config-base', a['config-base']]] as const) if (typeof v === 'string' && v) argv.push(k, v);
  if (o.allowDropped) argv.push('--allow-dropped');
  return { choice, argv };
}

const REAL: ReproDeps = {
  debianKernels: async () => (await import('../workflows/repro/debian.ts')).debianKernels(),
};

export async function reproCommand(argv: string[], deps: ReproDeps = REAL): Promise<number> {
  const parsed = parseCommand(REPRO_SPEC, argv);
  if (typeof parsed === 'number') return parsed;
  const { values: a, positionals } = parsed;
  const stdin = deps.stdin ?? process.stdin;
  const now = deps.now ?? Date.now;
  const verbosity = verbosityOf(a);
  let progress: Printer | null = null;
  let out: ReproOutcome;
  try {
    if (positionals.length === 0) throw new InputError('REPORT is missing: give the file with the crash (a console log or the mail), or - to read it from standard input');
    if (positionals.length > 1) throw new InputError(`one REPORT at most, got ${positionals.length}: ${positionals.join(' ')}`);
    const report = positionals[0]!;
    const budgetMs = parseDuration(a.budget ?? '30m', '--budget');
    const confirm = whole(a.confirm, '--confirm', LIMITS.confirm, 4);
    const crash = a.crash !== undefined ? whole(a.crash, '--crash', LIMITS.crashIndex, 1) : undefined;
    const seconds = whole(a.seconds, '--seconds', LIMITS.stressSeconds, 0);
    const seed = whole(a.seed, '--seed', LIMITS.seed, 1);
    if (a.accel !== undefined && a.accel !== 'kvm' && a.accel !== 'tcg') throw new InputError(`--accel "${a.accel}" is not kvm or tcg`);
    out = await reproWorkflow(
      {
        report,
        tests: a.test,
        ndctl: a.ndctl,
        crash,
        budgetMs,
        budget: a.budget,
        confirm,
        seconds,
        seed,
        accel: a.accel as Accel | undefined,
        anyCrash: a['any-crash'],
        dryRun: a['dry-run'],
        resultsRoot: a.results ? resolve(a.results) : defaultResultsRoot(),
        argv: ['dax-harness', 'repro', ...argv],
        givenKernel: async () => {
          if (report === '-' && a.series === '-') throw new InputError('REPORT and --series both read standard input: save one of them to a file');
          return kernelFromArgs(a, stdin);
        },
        readText: () => readInput(report, stdin),
        onPlan: (plan) => {
          if (verbosity !== 'quiet') process.stderr.write(forTerminal(formatPlan(plan)));
          // Seconds count from the search's start, not from the planning.
          progress?.close();
          progress = progressPrinter({ now, verbosity });
        },
        progress: (line) => progress?.(line),
      },
      { ...deps, now },
    );
  } catch (e) {
    // Never exit 1 here: that is "not reproduced".
    return reportError('repro', e);
  } finally {
    (progress as Printer | null)?.close();
  }
  if (out.kind === 'planned') {
    const plan = out.plan;
    if (a.json) process.stdout.write(JSON.stringify({ plan: { ...plan, facts: { ...plan.facts, crash: { source: plan.facts.crash.source, report: plan.facts.crash.report } } } }, null, 2) + '\n');
    else process.stdout.write(forTerminal(formatPlan(plan)));
    return 0;
  }
  if (out.kind === 'interrupted') return interruptedCode(out.reason);
  if (a.json) process.stdout.write(JSON.stringify(out.summary, null, 2) + '\n');
  else process.stdout.write(forTerminal(out.text) + `results: ${out.dir}\n`);
  if (out.summary.found) return EXIT.ok;
  return out.stop === 'no-tests' ? EXIT.infra : EXIT.verdict;
}
