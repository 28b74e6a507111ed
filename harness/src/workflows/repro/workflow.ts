// The repro workflow, from a checked request to an outcome: the tests the
// user named and the ndctl tree checked, the report read and planned, a
// Debian kernel chosen when none is given; then (unless a dry run) the guest
// opened, the loop run within the budget and everything recorded in
// RESULTS/repro-ID/. The guest is injected (deps.openGuest) so tests run the
// whole sequence without booting anything; the CLI only parses and prints.
import { resolve, join } from 'node:path';
import { access } from 'node:fs/promises';
import { InfraError, InputError, withSettings } from '../../host/errors.ts';
import { setInterruptHandler } from '../../host/proc.ts';
import { checkKernelInputs } from '../../kernel/index.ts';
import type { KernelChoice } from '../run.ts';
import type { Accel } from '../../results/records.ts';
import { ReproDir } from './record.ts';
import { readReport } from './report.ts';
import { planRepro, reproCatalogue, summarise, type ReproPlan, type ReproSummary } from './plan.ts';
import { checkTreeGiven, resolveTestNames, type Candidate } from './candidates.ts';
import { reproLoop, type LoopResult, type ReproGuest } from './loop.ts';
import type { DebianKernel } from './kernels.ts';
import { formatSummary } from './text.ts';
import { SUITE_SETTINGS } from '../../suites/suite.ts';

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
  now?: () => number;
}

/** The kernel the user's options choose, and the options that repeat it. */
export interface GivenKernel {
  choice: KernelChoice;
  argv: string[];
}

/** A repro as the user asked for it, its numbers already checked. */
export interface ReproRequest {
  /** REPORT as given (a path, or - for standard input). */
  report: string;
  /** --test names, as given. */
  tests?: readonly string[];
  /** --ndctl, as given. */
  ndctl?: string;
  crash?: number;
  budgetMs: number;
  /** --budget as given (repeated in the commands that reproduce it). */
  budget?: string;
  confirm: number;
  seconds: number;
  seed: number;
  accel?: Accel;
  anyCrash: boolean;
  dryRun: boolean;
  resultsRoot: string;
  /** The command line, kept in repro.json. */
  argv: string[];
  /**
   * The kernel options turned into a choice (null: none given, Debian's is
   * chosen). Called once the tests and the ndctl tree are checked, so that
   * mistakes are reported in the order the manual lists the options.
   */
  givenKernel: () => Promise<GivenKernel | null>;
  /** The report's text (called after the kernel options are checked). */
  readText: () => Promise<string>;
  /** Before the guest: the plan, for the user to read while it boots. */
  onPlan?: (plan: ReproPlan) => void;
  progress: (line: string) => void;
}

export type ReproOutcome =
  | { kind: 'planned'; plan: ReproPlan }
  | { kind: 'interrupted'; reason: string }
  | { kind: 'finished'; plan: ReproPlan; summary: ReproSummary; stop: LoopResult['stop']; text: string; dir: string };

/** The kernel choice for argv picked from Debian's list (or the stock default). */
function choiceFromArgv(argv: readonly string[]): KernelChoice {
  const i = argv.indexOf('--kernel-package');
  if (i >= 0) return { kind: 'stock', pkg: argv[i + 1] };
  const s = argv.indexOf('--source');
  if (s >= 0) return { kind: 'build', opts: { source: argv[s + 1] } };
  return { kind: 'stock' };
}

/** Everything judged before a guest or a download: InputError for each mistake. */
async function prepare(r: ReproRequest, deps: ReproDeps): Promise<{ plan: ReproPlan; kernel: KernelChoice; text: string; ndctl: string | null }> {
  const catalogue = await reproCatalogue();
  const only = r.tests ? await resolveTestNames(r.tests, catalogue) : undefined;
  const ndctl = r.ndctl ? resolve(r.ndctl) : null;
  if (ndctl) {
    await access(join(ndctl, 'meson.build')).catch(() => {
      throw new InputError(withSettings`${SUITE_SETTINGS.tree('ndctl')} ${r.ndctl} has no meson.build: give the top of an ndctl git tree`);
    });
  }
  if (!ndctl) checkTreeGiven(only ?? [], catalogue);
  const given = await r.givenKernel();
  const text = await r.readText();
  const input = await readReport(text);
  const debianKernels = given ? null : deps.debianKernels ? await deps.debianKernels() : null;
  const plan = planRepro(input, { catalogue, ndctl, only, crash: r.crash, kernelArgv: given?.argv ?? null, debianKernels });
  const kernel = given?.choice ?? choiceFromArgv(plan.kernel.argv);
  if (plan.kernel.pick?.kernel.kind === 'source') await checkKernelInputs({ source: plan.kernel.pick.kernel.argv[1] });
  if (!r.dryRun && plan.candidates.length === 0)
    throw new InputError(withSettings`no test to try for ${plan.facts.title}${plan.blocked.length ? `: ${plan.blocked[0]!.id} ${plan.blocked[0]!.blocked}` : withSettings`: name one with ${SUITE_SETTINGS.test}`}`);
  return { plan, kernel, text, ndctl };
}

/**
 * A repro from request to outcome. Bad input throws an InputError before
 * anything is booted or downloaded; a guest or QEMU that fails throws an
 * InfraError once repro.json says so.
 */
export async function reproWorkflow(r: ReproRequest, deps: ReproDeps = {}): Promise<ReproOutcome> {
  const { plan, kernel, text, ndctl } = await prepare(r, deps);
  if (r.dryRun) return { kind: 'planned', plan };
  r.onPlan?.(plan);
  const now = deps.now ?? Date.now;
  const started = now();
  const dir = await ReproDir.create(r.resultsRoot, { argv: r.argv, given: r.report, text, plan });
  r.progress(`repro in ${dir.dir}`);
  // From standard input, the commands that reproduce it point at the copy kept with the results.
  const reportPath = r.report === '-' ? dir.record.report.copy : r.report;
  const stop = new AbortController();
  setInterruptHandler(async (sig) => {
    stop.abort(new Error(`interrupted by ${sig}`));
    await dir.finish('interrupted', `interrupted by ${sig}`, null).catch(() => {});
  });
  let loop: LoopResult;
  try {
    const guest = await (deps.openGuest ?? openCellGuest)({ kernel, candidates: plan.candidates, ndctl, seconds: r.seconds, seed: r.seed, accel: r.accel, resultsRoot: dir.runsRoot, progress: r.progress, signal: stop.signal });
    // Preparing the guest (a kernel build included) is part of the budget.
    loop = await reproLoop(guest, {
      want: plan.facts.crash.report,
      candidates: plan.candidates,
      budgetMs: r.budgetMs - (now() - started),
      anyCrash: r.anyCrash,
      confirm: r.confirm,
      now,
      onPass: (p) => {
        r.progress(
          `pass ${p.index + 1} ${p.test}: ${p.infraError ? `guest broke: ${p.infraError}` : p.status}${p.crashes.length ? ` — ${p.crashes.map((c) => `${c.title} (${c.verdict})`).join('; ')}` : ''}`,
        );
        void dir.pass(p).catch(() => {});
      },
    });
  } catch (e) {
    if (stop.signal.aborted) return { kind: 'interrupted', reason: String((stop.signal.reason as Error)?.message) };
    const msg = e instanceof Error ? e.message : String(e);
    await dir.finish('infra-error', msg, null);
    if (e instanceof InputError || e instanceof InfraError) throw e;
    throw new InfraError(`could not run the tests: ${msg.split('\n')[0]!}`);
  }
  const summary = summarise(plan, loop, { report: reportPath, ndctl, budget: r.budget, anyCrash: r.anyCrash, seconds: r.seconds });
  const human = formatSummary(summary, { budget: r.budget ?? '30m' });
  const status = summary.reproduced ? 'reproduced' : summary.found ? 'other-crash' : loop.stop === 'no-tests' ? 'infra-error' : 'not-reproduced';
  await dir.finish(status, summary.found ? summary.found.title : loop.stop, summary, human + `\nresults: ${dir.dir}\n`);
  return { kind: 'finished', plan, summary, stop: loop.stop, text: human, dir: dir.dir };
}

/** The real guest side: the run primitive (workflows/repro/guest.ts). */
async function openCellGuest(p: ReproGuestPlan): Promise<ReproGuest> {
  const { CellReproGuest } = await import('./guest.ts');
  return new CellReproGuest({ kernel: p.kernel, ndctl: p.ndctl, seconds: p.seconds, seed: p.seed, accel: p.accel, runsRoot: p.resultsRoot, progress: p.progress, signal: p.signal });
}
