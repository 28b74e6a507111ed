// `dax-harness nightly CONFIG`: argument parsing and the night's summary. The
// work is in workflows/nightly; reports are written beside the night.
import { resolve } from 'node:path';
import { loadNightConfig, parseShard } from '../workflows/nightly/config.ts';
import { runNight } from '../workflows/nightly/index.ts';
import { primitiveRunCell, prepareKernelWith, checkCellInputs, kernelFault } from '../workflows/nightly/run-cell.ts';
import { withNightSignals } from '../workflows/nightly/signals.ts';
import { reportNight } from '../workflows/nightly/reports.ts';
import { defaultResultsRoot } from '../host/paths.ts';
import { InfraError, InputError } from '../host/errors.ts';
import { LIMITS, isSafeId, secondsOption, wholeOption } from '../host/limits.ts';
import { forTerminal } from '../host/terminal.ts';
import { defineCommand, parseCommand } from './command.ts';
import { EXIT, reportError, usageError } from './exit.ts';
import { progressPrinter, verbosityOf } from './progress.ts';

export const NIGHTLY_HELP = `usage: dax-harness nightly CONFIG [options]

Runs the matrix of a config file (YAML): kernels × suites × modes × topologies,
each cell one guest, with per-cell repeat counts. See nightly/example.yaml and
docs/nightly.md. A night lives in RESULTS/nights/<night>/ (night.json, one file
per finished cell, the run directories) and in the index RESULTS/index.sqlite.

Ctrl-C (or SIGTERM) stops every running guest at once and saves their runs as
interrupted. Rerunning the same command after a Ctrl-C or a crash resumes the
unfinished night: finished cells are not run again.

Every test that passed on the baseline (the previous night that ran the cell,
or --baseline) and fails now is rerun, and the night classifies each test:
regression (fails every rerun), flaky (with its rate over the reruns and over
the last nights), fixed, new, still failing; crash signatures never seen
before are new. Expected failures (XFAIL) never count as regressions.

options:
  --guests N             cells (guests) at once (default 1); each guest gets
                         max(1, cores / N) vCPUs unless its topology sets cpus.
                         --jobs N is the older name for it, kept: in nightly
                         it counts guests, not make jobs
  --make-jobs N          make's parallel jobs for the night's kernel builds
                         (default 2; what --jobs means in run and build)
  --shard i/N            run the i-th of N contiguous slices of the matrix (1-based),
                         for a CI job matrix; combine with 'dax-harness merge'
  --night ID             the night's name (default: resume this config's unfinished
                         night, else today's date); shards of one night need the same ID
  --baseline NIGHT       compare every cell with this night
  --rerun-failures N     reruns of a test that passed on the baseline and fails now
                         (default: the config's rerunFailures, else 4)
  --results DIR          results root (default: results/ in the repo, or $DAX_HARNESS_RESULTS)
  --boot-timeout SEC     per guest (default 180, at most 86400)
  --fresh-guests         boot every cell's guest; by default cells that would boot
                         the same guest (kernel, image, topology, command line,
                         shares) run one after another in it, if each left it clean
  --json                 print the night's report (what summary.txt says, as data)

The config's repeat runs a cell's tests that many times in one guest; a test
that passed on the baseline and fails now is rerun in a fresh guest (a failing
boot by booting again).

Writes summary.txt, junit.xml, results.tap, kcidb.json and report.html into the
night's directory and prints the summary (regressions first). Interrupted
(130/143): run the same command again to resume.`;

export const NIGHTLY_SPEC = defineCommand({
  name: 'nightly',
  options: {
    guests: { type: 'string' },
    jobs: { type: 'string' },
    'make-jobs': { type: 'string' },
    shard: { type: 'string' },
    night: { type: 'string' },
    baseline: { type: 'string' },
    'rerun-failures': { type: 'string' },
    results: { type: 'string' },
    'boot-timeout': { type: 'string' },
    'fresh-guests': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  positionals: true,
  manual: NIGHTLY_HELP,
  examples: [
    ['dax-harness nightly nightly/example.yaml', "tonight's matrix, judged against the last night"],
    ['dax-harness nightly my.yaml --guests 2 --make-jobs 8', 'two guests at once, kernels built with make -j8'],
    ['dax-harness nightly my.yaml --shard 1/4 --night 2026-12-07', 'one CI job of four; then dax-harness merge'],
    ['dax-harness nightly my.yaml --json | jq .counts', 'the report as JSON: how many regressions, flakes, fixes'],
  ],
  exit: { 0: 'nothing new failed', 1: 'a regression, a new failing test or a new crash signature' },
});

export async function nightlyCommand(argv: string[]): Promise<number> {
  const a = parseCommand(NIGHTLY_SPEC, argv);
  if (typeof a === 'number') return a;
  if (a.positionals.length !== 1) return usageError('nightly', 'give one config file: dax-harness nightly CONFIG (see nightly/example.yaml)');
  const v = a.values;
  try {
    // Numbers first: they need no file.
    if (v.guests !== undefined && v.jobs !== undefined) throw new InputError('--guests and --jobs are one option in nightly (guests at once): give one; make jobs are --make-jobs');
    const jobs = v.guests !== undefined ? wholeOption(v.guests, '--guests', LIMITS.jobs, 1) : wholeOption(v.jobs, '--jobs', LIMITS.jobs, 1);
    const makeJobs = v['make-jobs'] !== undefined ? wholeOption(v['make-jobs'], '--make-jobs', LIMITS.jobs, 2) : undefined;
    const rerunFailures = v['rerun-failures'] !== undefined ? wholeOption(v['rerun-failures'], '--rerun-failures', LIMITS.rerunFailures, 0) : undefined;
    const bootTimeoutMs = secondsOption(v['boot-timeout'], '--boot-timeout', LIMITS.bootTimeoutS, 180);
    // The id names a directory: checked before the results root or its index is touched.
    if (v.night !== undefined && !isSafeId(v.night)) throw new InputError(`--night "${v.night}" is not a usable name: use letters, digits, . _ - (at most 128)`);
    const shard = v.shard ? parseShard(v.shard) : null;
    const config = await loadNightConfig(a.positionals[0]);
    const resultsRoot = v.results ? resolve(v.results) : defaultResultsRoot();
    const opts = {
      config,
      resultsRoot,
      jobs,
      shard,
      nightId: v.night,
      baseline: v.baseline,
      rerunFailures,
      freshGuests: v['fresh-guests'],
    };
    const progress = progressPrinter({ verbosity: verbosityOf(v) });
    return await withNightSignals(async (signal) => {
      const out = await runNight({ ...opts, progress, signal }, { runCell: primitiveRunCell({ bootTimeoutMs }), prepareKernel: prepareKernelWith({ jobs: makeJobs }), checkCell: checkCellInputs, kernelFault });
      // No reports: they would not fit either.
      if (out.diskFull) return reportError('nightly', new InfraError(`${out.diskFull}: night ${out.nightId} stopped unfinished; free some space and run the same command again to resume it`));
      const night = await reportNight(resultsRoot, out.nightId, out.dir);
      if (v.json) process.stdout.write(JSON.stringify(night.report, null, 2) + '\n');
      else {
        process.stdout.write(forTerminal(night.summary));
        console.log(`reports: ${out.dir}/{summary.txt,junit.xml,results.tap,kcidb.json,report.html}`);
      }
      if (out.interrupted) {
        // On stdout with the summary; beside --json's data, on stderr.
        (v.json ? process.stderr : process.stdout).write(`night ${out.nightId} is unfinished: run the same command again to resume it\n`);
        return EXIT.sigint;
      }
      return night.exitCode;
    }).finally(() => progress.close());
  } catch (e) {
    return reportError('nightly', e);
  }
}
