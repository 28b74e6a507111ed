// `dax-harness repro REPORT|-`: argument parsing, input checks (all before a
// guest or a download), the plan, progress and the outcome. The work is in
// workflows/repro; the guest the loop runs in is injected (deps.openGuest).
import { resolve, join } from 'node:path';
import { readFile, stat, access, constants } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { InfraError, InputError } from '../host/errors.ts';
import { parseDuration, kernelChoice, whole, KERNEL_OPTIONS, type KernelArgs } from './run-options.ts';
import { LIMITS } from '../host/limits.ts';

export { parseDuration };
import { setInterruptHandler } from '../host/proc.ts';
import { ReproDir } from '../workflows/repro/record.ts';
import { defaultResultsRoot } from '../host/paths.ts';
import { checkKernelInputs } from '../kernel/index.ts';
import type { KernelChoice } from '../workflows/cell/index.ts';
import type { Accel } from '../results/records.ts';
import { readReport, WHOLE_INPUT_LIMIT } from '../workflows/repro/report.ts';
import { planRepro, reproCatalogue, summarise, type ReproPlan } from '../workflows/repro/plan.ts';
import { checkTreeGiven, resolveTestNames, type Candidate } from '../workflows/repro/candidates.ts';

export { resolveTestNames };
import { reproLoop, type ReproGuest } from '../workflows/repro/loop.ts';
import type { DebianKernel } from '../workflows/repro/kernels.ts';
import { formatPlan, formatSummary } from '../workflows/repro/text.ts';
import { forTerminal } from '../host/terminal.ts';
import { defineCommand, parseCommand } from './command.ts';
import { EXIT, interruptedCode, reportError } from './exit.ts';
import { progressPrinter } from './progress.ts';
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

/** What the guest side gets to boot and run the loop's tests. */
export interface ReproGuestPlan {
  kernel: KernelChoice;
  /** The tests the loop may ask for (their suites: smoke, stressors, ndctl). */
  candidates: Candidate[];
  ndctl: string | null;
  /** Stressor seconds (0: the manifest's); pattern seed. */
  seconds: number;
  seed: number;
  accel?: Accel;
  /** Where the guests' run directories go. */
  resultsRoot: string;
  progress: (line: string) => void;
  /** Aborted on ^C/SIGTERM: the guest stops the cell in flight. */
  signal?: AbortSignal;
}

export interface ReproDeps {
  /** Debian's kernels (apt), for choosing one when the user names none. */
  debianKernels?: () => Promise<DebianKernel[]>;
  /** Boot the guest the loop runs in. */
  openGuest?: (plan: ReproGuestPlan) => Promise<ReproGuest>;
  stdin?: Readable;
  now?: () => number;
}


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

/** The kernel choice for argv picked from Debian's list (or the stock default). */
function choiceFromArgv(argv: readonly string[]): KernelChoice {
  const i = argv.indexOf('--kernel-package');
  if (i >= 0) return { kind: 'stock', pkg: argv[i + 1] };
  const s = argv.indexOf('--source');
  if (s >= 0) return { kind: 'build', opts: { source: argv[s + 1] } };
  return { kind: 'stock' };
}

const REAL: ReproDeps = {
  debianKernels: async () => (await import('../workflows/repro/debian.ts')).debianKernels(),
};

export async function reproCommand(argv: string[], deps: ReproDeps = REAL): Promise<number> {
  const parsed = parseCommand(REPRO_SPEC, argv);
  if (typeof parsed === 'number') return parsed;
  const { values: a, positionals } = parsed;
  const budgetText = a.budget ?? '30m';
  let plan: ReproPlan;
  let kernel: KernelChoice;
  let budgetMs: number;
  let confirm: number;
  let report: string;
  let reportText: string | null = null;
  try {
    if (positionals.length === 0) throw new InputError('REPORT is missing: give the file with the crash (a console log or the mail), or - to read it from standard input');
    if (positionals.length > 1) throw new InputError(`one REPORT at most, got ${positionals.length}: ${positionals.join(' ')}`);
    report = positionals[0]!;
    budgetMs = parseDuration(budgetText, '--budget');
    confirm = whole(a.confirm, '--confirm', LIMITS.confirm, 4);
    const crash = a.crash !== undefined ? whole(a.crash, '--crash', LIMITS.crashIndex, 1) : undefined;
    whole(a.seconds, '--seconds', LIMITS.stressSeconds, 0);
    whole(a.seed, '--seed', LIMITS.seed, 1);
    if (a.accel !== undefined && a.accel !== 'kvm' && a.accel !== 'tcg') throw new InputError(`--accel "${a.accel}" is not kvm or tcg`);
    const catalogue = await reproCatalogue();
    const only = a.test ? await resolveTestNames(a.test, catalogue) : undefined;
    const ndctl = a.ndctl ? resolve(a.ndctl) : null;
    if (ndctl) {
      await access(join(ndctl, 'meson.build')).catch(() => {
        throw new InputError(`--ndctl ${a.ndctl} has no meson.build: give the top of an ndctl git tree`);
      });
    }
    if (!ndctl) checkTreeGiven(only ?? [], catalogue);
    if (report === '-' && a.series === '-') throw new InputError('REPORT and --series both read standard input: save one of them to a file');
    const given = await kernelFromArgs(a, deps.stdin ?? process.stdin);
    const text = await readInput(report, deps.stdin ?? process.stdin);
    reportText = text;
    const input = await readReport(text);
    const debianKernels = given ? null : deps.debianKernels ? await deps.debianKernels() : null;
    plan = planRepro(input, { catalogue, ndctl, only, crash, kernelArgv: given?.argv ?? null, debianKernels });
    kernel = given?.choice ?? choiceFromArgv(plan.kernel.argv);
    if (plan.kernel.pick?.kernel.kind === 'source') await checkKernelInputs({ source: plan.kernel.pick.kernel.argv[1] });
    if (!a['dry-run'] && plan.candidates.length === 0)
      throw new InputError(`no test to try for ${plan.facts.title}${plan.blocked.length ? `: ${plan.blocked[0]!.id} ${plan.blocked[0]!.blocked}` : ': name one with --test'}`);
  } catch (e) {
    // Never exit 1 here: that is "not reproduced".
    return reportError('repro', e);
  }

  if (a['dry-run']) {
    if (a.json) process.stdout.write(JSON.stringify({ plan: { ...plan, facts: { ...plan.facts, crash: { source: plan.facts.crash.source, report: plan.facts.crash.report } } } }, null, 2) + '\n');
    else process.stdout.write(forTerminal(formatPlan(plan)));
    return 0;
  }
  process.stderr.write(forTerminal(formatPlan(plan)));
  const now = deps.now ?? Date.now;
  const started = now();
  const progress = progressPrinter({ now });
  const seconds = whole(a.seconds, '--seconds', LIMITS.stressSeconds, 0);
  const ndctl = a.ndctl ? resolve(a.ndctl) : null;
  const dir = await ReproDir.create(a.results ? resolve(a.results) : defaultResultsRoot(), { argv: ['dax-harness', 'repro', ...argv], given: report, text: reportText ?? '', plan });
  progress(`repro in ${dir.dir}`);
  // From standard input, the commands that reproduce it point at the copy kept with the results.
  const reportPath = report === '-' ? dir.record.report.copy : report;
  const stop = new AbortController();
  setInterruptHandler(async (sig) => {
    stop.abort(new Error(`interrupted by ${sig}`));
    await dir.finish('interrupted', `interrupted by ${sig}`, null).catch(() => {});
  });
  let loop;
  try {
    const guest = await (deps.openGuest ?? openCellGuest)({ kernel, candidates: plan.candidates, ndctl, seconds, seed: whole(a.seed, '--seed', LIMITS.seed, 1), accel: a.accel as Accel | undefined, resultsRoot: dir.runsRoot, progress, signal: stop.signal });
    // Preparing the guest (a kernel build included) is part of the budget.
    loop = await reproLoop(guest, {
      want: plan.facts.crash.report,
      candidates: plan.candidates,
      budgetMs: budgetMs - (now() - started),
      anyCrash: a['any-crash'],
      confirm,
      now,
      onPass: (p) => {
        progress(
          `pass ${p.index + 1} ${p.test}: ${p.infraError ? `guest broke: ${p.infraError}` : p.status}${p.crashes.length ? ` — ${p.crashes.map((c) => `${c.title} (${c.verdict})`).join('; ')}` : ''}`,
        );
        void dir.pass(p).catch(() => {});
      },
    });
  } catch (e) {
    if (stop.signal.aborted) return interruptedCode(String((stop.signal.reason as Error)?.message));
    const msg = e instanceof Error ? e.message : String(e);
    await dir.finish('infra-error', msg, null);
    const known = e instanceof InputError || e instanceof InfraError;
    return reportError('repro', known ? e : new InfraError(`could not run the tests: ${msg.split('\n')[0]!}`));
  }
  const summary = summarise(plan, loop, { report: reportPath, ndctl, budget: a.budget, anyCrash: a['any-crash'], seconds });
  const human = formatSummary(summary, { budget: budgetText });
  const status = summary.reproduced ? 'reproduced' : summary.found ? 'other-crash' : loop.stop === 'no-tests' ? 'infra-error' : 'not-reproduced';
  await dir.finish(status, summary.found ? summary.found.title : loop.stop, summary, human + `\nresults: ${dir.dir}\n`);
  if (a.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else process.stdout.write(forTerminal(human) + `results: ${dir.dir}\n`);
  if (summary.found) return EXIT.ok;
  return loop.stop === 'no-tests' ? EXIT.infra : EXIT.verdict;
}

/** The real guest side: the run primitive (workflows/repro/guest.ts). */
async function openCellGuest(p: ReproGuestPlan): Promise<ReproGuest> {
  const { CellReproGuest } = await import('../workflows/repro/guest.ts');
  return new CellReproGuest({ kernel: p.kernel, ndctl: p.ndctl, seconds: p.seconds, seed: p.seed, accel: p.accel, runsRoot: p.resultsRoot, progress: p.progress, signal: p.signal });
}
