// `dax-harness bisect`: argument parsing, input checks (all before anything
// is built), progress and the summary. The bisection is workflows/bisect; the
// environment that builds kernels and boots guests is workflows/bisect's
// GuestEnvironment unless a caller injects another (makeEnv: tests, benches).
import { resolve } from 'node:path';
import { defaultResultsRoot } from '../host/paths.ts';
import { LIMITS, wholeOption, type Range } from '../host/limits.ts';
import { DEFAULTS } from '../workflows/bisect/engine.ts';
import { BisectInputError, checkSecondsGoWith, loadRangeInput, loadSeriesInput, parseTests } from '../workflows/bisect/input.ts';
import { readSaved, restorePlan, runBisectWorkflow, type BisectPlan, type MakeEnv } from '../workflows/bisect/workflow.ts';
import { summaryText } from '../workflows/bisect/report.ts';
import type { BadMeaning } from '../workflows/bisect/types.ts';
import { GuestEnvironment } from '../workflows/bisect/environment.ts';
import { forTerminal } from '../host/terminal.ts';
import { defineCommand, parseCommand } from './command.ts';
import { EXIT, reportError } from './exit.ts';
import { progressPrinter, verbosityOf } from './progress.ts';
import { seriesArg } from './series-input.ts';

/**
 * Exit status of a culprit the statistics named confidently that no check
 * could verify because of the tree's shape: not 1, which a script (git bisect
 * run, CI) reads as "no culprit".
 */
export const UNVERIFIABLE = 4;

export const BISECT_HELP = `usage: dax-harness bisect --series MBOX|DIR --test TEST [options]
       dax-harness bisect --good REF --bad REF --source PATH --test TEST [options]
       dax-harness bisect --resume DIR [budgets]

Finds the patch of a series (or the commit of a git range) after which TEST
shows the bug, or with --reverse the one after which it stops. Built for bugs
that crash only some of the time: every verdict rests on repeated runs and the
result carries a confidence.

What to bisect:
  --series MBOX|DIR     a patch series: an mbox (b4 am, a mail client) or a
                        directory of .patch files. Step k is the base plus the
                        first k patches; step 0 is the base.
  --source debian:X.Y|PATH  the kernel the series applies to (default
                        debian:6.1), or the git tree holding --good/--bad
  --ref REF             base commit in --source PATH for --series (default HEAD,
                        or the series' base-commit when PATH has it)
  --good REF --bad REF  a git range of --source PATH: its first-parent commits
                        between the good and the bad end
  --reverse             find the fix: the base (with --good/--bad: --bad, the
                        older end) shows the bug, the full series (--good, the
                        newer end) does not
  --config LIST         config fragments, as in dax-harness build (default dax;
                        dax,ndctl for ndctl tests), the same for every step
  --config-base BASE    tinyconfig (default) or defconfig

What to run at each step (one booted guest, the test repeated in it; a
reboot only after a crash):
  --test TEST           repeatable; all of one suite; the name run prints, or SUITE:NAME:
                          dax-smoke.xfs, smoke:xfs       the DAX smoke on one filesystem
                          NAME[.TARGET], stressors:NAME  a stressor of suites/stressors/manifest.json
                          dax-ext4.sh, ndctl:NAME        a test of ndctl's dax suite (needs --ndctl)
  --ndctl PATH          your ndctl git tree, for ndctl:NAME tests
  --seconds N           how long each stressor loops per run (default 0: one pass)

What counts as bad:
  (default)             a crash whose match key equals the one seen most often
                        on the bad end; other crashes are recorded as noise
  --match KEY           the bug's match key (dax-harness parse-log --json on
                        the crash mail), instead of learning it on the bad end
  --any-crash           any kernel crash
  --any-failure         any kernel crash or test failure

How the verdicts work: the bad end is tested first, until it has crashed
${DEFAULTS.endCrashes} times, to measure how often the bug shows; a ${DEFAULTS.rateLevel * 100}% lower bound on
that rate sets how many clean runs a good verdict needs: at least 10, and
enough that a bug of that rate would have shown with ≥ 95% probability (more,
so that all the good verdicts together still reach --confidence; many more
when the rate is low). A step is bad after 2 matching crashes. A step that
does not build, or does not boot where the bad end did, is skipped; infra
errors are retried and never counted; a step that builds the same kernel as
another (a comment or documentation patch) reuses its runs. Each line of
progress prints the running confidence: a conservative lower bound on the
chance that no good verdict was a missed bug (each clean kernel counted as if
it carried the bug at the rate's lower bound; docs/bisect.md has its
calibration). The named patch is verified before it is reported as
confident: its parent is clean (with --reverse: still shows the bug, and the
good end is tested clean), and then one check of a fallback chain, each tried
only when the one before cannot be made (does not apply, build or boot):
  leave-out   the series without it is clean (for a range: skipped, see revert)
  revert      the series (the range's bad end) with it reverted on top, by
              git revert, is clean: this applies where a later patch only
              sits near its lines (as KernelCI verifies)
  isolation   the culprit alone against its parent: the parent with twice
              the clean runs a search step needs
bisect.json's verification says which check verified it (by) and every
check tried with why (attempts). A leave-out or revert that still shows the
bug is evidence against the patch: unconfirmed, exit 1. When none of the
checks could be made because the later patches depend on the culprit (the
common case in a real series) and the statistics named it at --confidence,
the status is unverifiable and the exit ${UNVERIFIABLE}, not 1: there is a culprit.

How sure, how much:
  --confidence P        confidence needed to name a culprit (default ${DEFAULTS.targetConfidence})
  --max-runs N          runs one step may take before it is skipped (default ${DEFAULTS.maxRunsPerStep})
  --max-builds N        stop after N builds (resumable)
  --max-boots N         stop after N guest boots (resumable)
  --max-total-runs N    stop after N runs in all (resumable)
  --resume DIR          continue the bisection saved in DIR; budgets, --max-runs
                        and --confidence may be given again, nothing else

Output:
  --results DIR         where results/bisect-<id>/ goes (default: results/)
  --json                print bisect.json instead of the summary

How a step is built and run: the kernel pipeline of dax-harness build
applies the step's patches (or checks out the commit, or reverts it with
git revert) in one worktree and builds into one O= directory with the same
config for every step, so a step costs an incremental make, not a cold
build; a kernel whose bzImage and modules hash like another step's is that
step's kernel. The tests then run through the run primitive of dax-harness
run, repeated in one booted guest; after any kernel report the next run
boots a fresh guest (a WARN_ON_ONCE would stay quiet, a leaked reference
would stay leaked). Run records go under bisect-<id>/runs/.

Writes bisect-<id>/state.json (after every action: what --resume reads),
bisect.json (the culprit with number, subject, author and link, confidence,
every step's builds, runs, crashes and rate, builds and boots used, the
verification) and summary.txt; on SIGINT/SIGTERM both are written with
what was learnt so far (status interrupted) before the exit.`;

/** A budget: a whole number from 1 (0 would stop before the first step). */
function positive(v: string | undefined, name: string, range: Range = LIMITS.budgetCount): number | undefined {
  return v === undefined ? undefined : wholeOption(v, name, range, 0);
}

export const BISECT_SPEC = defineCommand({
  name: 'bisect',
  options: {
    series: { type: 'string' },
    source: { type: 'string' },
    ref: { type: 'string' },
    good: { type: 'string' },
    bad: { type: 'string' },
    reverse: { type: 'boolean', default: false },
    config: { type: 'string' },
    'config-base': { type: 'string' },
    test: { type: 'string', multiple: true },
    ndctl: { type: 'string' },
    seconds: { type: 'string' },
    match: { type: 'string' },
    'any-crash': { type: 'boolean', default: false },
    'any-failure': { type: 'boolean', default: false },
    confidence: { type: 'string' },
    'max-runs': { type: 'string' },
    'max-builds': { type: 'string' },
    'max-boots': { type: 'string' },
    'max-total-runs': { type: 'string' },
    resume: { type: 'string' },
    results: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  positionals: false,
  manual: BISECT_HELP,
  examples: [
    ['dax-harness bisect --series v3-dax.mbox --test pmd_pte_mix.xfs', 'the patch of a series after which the stressor crashes'],
    ['dax-harness bisect --source ~/linux --good v6.14 --bad v6.15 --test smoke:xfs', 'the commit of a range'],
    ['dax-harness bisect --series fix.mbox --reverse --test smoke:ext4', 'the patch that fixed it'],
    ['dax-harness bisect --resume results/bisect-ID --max-builds 40', 'go on with a larger budget'],
  ],
  exit: {
    0: 'a culprit named with confidence, verified by one check of the chain',
    1: 'no confident culprit (the summary says why; a budget stop says how to resume)',
    [UNVERIFIABLE]: "a culprit named at the target confidence, but no check could verify it because of the tree's shape (status unverifiable)",
  },
});

export interface BisectCommandDeps {
  /** The environment that builds and tests steps (default: kernel pipeline + run primitive). */
  makeEnv?: MakeEnv;
}

const guestEnvironment: MakeEnv = (plan, ctx) => new GuestEnvironment(plan, ctx);

export async function bisectCommand(argv: string[], deps: BisectCommandDeps = {}): Promise<number> {
  const parsed = parseCommand(BISECT_SPEC, argv);
  if (typeof parsed === 'number') return parsed;
  const a = parsed.values;
  let plan: BisectPlan;
  let settings;
  let resume;
  try {
    let target: number | undefined;
    if (a.confidence !== undefined) {
      target = Number(a.confidence);
      if (!/^0?\.\d+$/.test(a.confidence) || !(target >= 0.5 && target < 1)) throw new BisectInputError(`--confidence "${a.confidence}" must be a number from 0.5 to below 1, e.g. 0.95`);
    }
    const maxRuns = positive(a['max-runs'], '--max-runs', { min: 1, max: LIMITS.maxRunsPerStep.max });
    if (maxRuns !== undefined && maxRuns < LIMITS.maxRunsPerStep.min) throw new BisectInputError(`--max-runs ${maxRuns} is below the ${LIMITS.maxRunsPerStep.min} clean runs any good verdict needs`);
    settings = {
      targetConfidence: target,
      maxRunsPerStep: maxRuns,
      budget: { builds: positive(a['max-builds'], '--max-builds'), boots: positive(a['max-boots'], '--max-boots'), runs: positive(a['max-total-runs'], '--max-total-runs') },
    };

    if (a.resume !== undefined) {
      const given = (['series', 'source', 'ref', 'good', 'bad', 'config', 'config-base', 'test', 'ndctl', 'seconds', 'match', 'results'] as const).filter((k) => a[k] !== undefined);
      if (a.reverse) given.push('reverse' as never);
      if (a['any-crash']) given.push('any-crash' as never);
      if (a['any-failure']) given.push('any-failure' as never);
      if (given.length) throw new BisectInputError(`--resume takes what to bisect from its state.json: drop --${given.join(', --')}`);
      const dir = resolve(a.resume);
      const saved = await readSaved(dir);
      plan = await restorePlan(saved);
      resume = { dir, saved };
    } else {
      const range = a.good !== undefined || a.bad !== undefined;
      if (a.series !== undefined && range) throw new BisectInputError('--series and --good/--bad both given: bisect either a series or a git range');
      if (a.series === undefined && !range) throw new BisectInputError('nothing to bisect: give --series MBOX|DIR, or --good REF --bad REF --source PATH');
      if (range && (a.good === undefined || a.bad === undefined)) throw new BisectInputError(`--${a.good === undefined ? 'good' : 'bad'} is missing: a range needs both --good REF and --bad REF`);
      if (range && a.source === undefined) throw new BisectInputError('--good/--bad need --source PATH, the git tree that holds them');
      if (range && a.ref !== undefined) throw new BisectInputError('--ref goes with --series (the range starts at its older end)');
      const base = a['config-base'];
      if (base !== undefined && base !== 'tinyconfig' && base !== 'defconfig') throw new BisectInputError(`--config-base "${base}" is not tinyconfig or defconfig`);
      if (a.match !== undefined && (a['any-crash'] || a['any-failure'])) throw new BisectInputError('--match names one crash; --any-crash/--any-failure widen it to all: give one of them');
      if (a['any-crash'] && a['any-failure']) throw new BisectInputError('--any-failure already includes every crash: drop --any-crash');
      const bad: BadMeaning = a['any-failure'] ? 'any-failure' : a['any-crash'] ? 'any-crash' : 'match';
      const seconds = a.seconds === undefined ? 0 : positive(a.seconds, '--seconds', { min: 1, max: LIMITS.stressSeconds.max })!;
      const tests = await parseTests(a.test ?? [], a.ndctl);
      if (a.seconds !== undefined) checkSecondsGoWith(tests);
      const direction = a.reverse ? 'fix' : 'cause';
      const input = range ? await loadRangeInput(a.source!, a.good!, a.bad!, direction) : await loadSeriesInput((await seriesArg(a.series))!);
      const source = a.source === undefined ? 'debian:6.1' : a.source.startsWith('debian:') ? a.source : resolve(a.source);
      plan = {
        direction,
        input,
        source,
        ref: a.ref ?? null,
        config: a.config ? a.config.split(',').map((s) => s.trim()).filter(Boolean) : null,
        configBase: (base as BisectPlan['configBase']) ?? null,
        tests,
        ndctl: a.ndctl ? resolve(a.ndctl) : null,
        seconds,
        bad,
        matchKey: a.match ?? null,
      };
    }
  } catch (e) {
    // Never exit 1 here: that is "no culprit", and a script would believe it.
    return reportError('bisect', e);
  }

  const progress = progressPrinter({ verbosity: verbosityOf(a) });
  try {
    const { record, dir } = await runBisectWorkflow(
      plan,
      { resultsRoot: a.results ? resolve(a.results) : defaultResultsRoot(), makeEnv: deps.makeEnv ?? guestEnvironment, progress, settings },
      resume,
    );
    if (a.json) process.stdout.write(JSON.stringify(record, null, 2) + '\n');
    else {
      process.stdout.write(forTerminal(summaryText(record)) + '\n');
      process.stdout.write(`details: ${dir}${record.status === 'budget' ? ` (continue: dax-harness bisect --resume ${dir} with a larger budget)` : ''}\n`);
    }
    if (record.confident) return EXIT.ok;
    return record.status === 'infra-error' ? EXIT.infra : record.status === 'unverifiable' ? UNVERIFIABLE : EXIT.verdict;
  } catch (e) {
    return reportError('bisect', e);
  } finally {
    progress.close();
  }
}
