// `dax-harness nightly CONFIG`: argument parsing and the night's summary. The
// work is in workflows/nightly; reports are written beside the night.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { loadNightConfig, parseShard, ConfigError } from '../workflows/nightly/config.ts';
import { runNight, NightlyInputError } from '../workflows/nightly/index.ts';
import { primitiveRunCell, prepareKernelOnce, checkCellInputs, kernelFault } from '../workflows/nightly/run-cell.ts';
import { withNightSignals } from '../workflows/nightly/signals.ts';
import { defaultResultsRoot } from '../host/paths.ts';
import { ResultsIndex } from '../results/db.ts';
import { writeNightReports } from '../results/reporters/index.ts';
import { formatNightSummary } from '../results/reporters/text.ts';
import { nightExitCode } from '../results/report.ts';
import { InputError } from '../host/errors.ts';
import { LIMITS, isSafeId, secondsOption, wholeOption } from '../host/limits.ts';
import { forTerminal, lineForTerminal } from '../host/terminal.ts';

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
  --jobs N               cells (guests) at once (default 1); each guest gets
                         max(1, cores / N) vCPUs unless its topology sets cpus
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

The config's repeat runs a cell's tests that many times in one guest; a test
that passed on the baseline and fails now is rerun in a fresh guest (a failing
boot by booting again).

Writes summary.txt, junit.xml, results.tap, kcidb.json and report.html into the
night's directory and prints the summary (regressions first).
Exit codes: 0 nothing new failed, 1 a regression, a new failing test or a new
crash signature, 2 bad input, 3 the harness could not run or judge some cells,
130 interrupted (run the same command again to resume).`;

function fail(msg: string): number {
  console.error(`dax-harness nightly: ${lineForTerminal(msg)}`);
  return 2;
}

export async function nightlyCommand(argv: string[]): Promise<number> {
  let a;
  try {
    a = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        jobs: { type: 'string' },
        shard: { type: 'string' },
        night: { type: 'string' },
        baseline: { type: 'string' },
        'rerun-failures': { type: 'string' },
        results: { type: 'string' },
        'boot-timeout': { type: 'string' },
        'fresh-guests': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    return fail(`${(e as Error).message.split('\n')[0]} (see dax-harness nightly --help)`);
  }
  if (a.values.help) {
    console.log(NIGHTLY_HELP);
    return 0;
  }
  if (a.positionals.length !== 1) return fail('give one config file: dax-harness nightly CONFIG (see nightly/example.yaml)');
  const v = a.values;
  try {
    // Numbers first: they need no file.
    const jobs = wholeOption(v.jobs, '--jobs', LIMITS.jobs, 1);
    const rerunFailures = v['rerun-failures'] !== undefined ? wholeOption(v['rerun-failures'], '--rerun-failures', LIMITS.rerunFailures, 0) : undefined;
    const bootTimeoutMs = secondsOption(v['boot-timeout'], '--boot-timeout', LIMITS.bootTimeoutS, 180);
    // The id names a directory: checked before the results root or its index is touched.
    if (v.night !== undefined && !isSafeId(v.night)) return fail(`--night "${v.night}" is not a usable name: use letters, digits, . _ - (at most 128)`);
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
    const started = Date.now();
    const progress = (m: string) => process.stderr.write(`${((Date.now() - started) / 1000).toFixed(1).padStart(7)}s ${lineForTerminal(m)}\n`);
    return await withNightSignals(async (signal) => {
      const out = await runNight({ ...opts, progress, signal }, { runCell: primitiveRunCell({ bootTimeoutMs }), prepareKernel: prepareKernelOnce, checkCell: checkCellInputs, kernelFault });
      // No reports: they would not fit either.
      if (out.diskFull) {
        console.error(`dax-harness nightly: ${out.diskFull}: night ${out.nightId} stopped unfinished; free some space and run the same command again to resume it`);
        return 3;
      }
      const index = await ResultsIndex.open(resultsRoot);
      try {
        const report = await writeNightReports(index, out.nightId, out.dir);
        process.stdout.write(forTerminal(formatNightSummary(report)));
        console.log(`reports: ${out.dir}/{summary.txt,junit.xml,results.tap,kcidb.json,report.html}`);
        if (out.interrupted) {
          console.log(`night ${out.nightId} is unfinished: run the same command again to resume it`);
          return 130;
        }
        return nightExitCode(report);
      } finally {
        index.close();
      }
    });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof NightlyInputError || e instanceof InputError) return fail(e.message);
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') {
      console.error(`dax-harness nightly: no space left on the device holding the results (${(e as NodeJS.ErrnoException).path ?? 'results'}): free some space and run the same command again to resume`);
      return 3;
    }
    console.error(`dax-harness nightly: internal error: ${(e as Error).stack ?? String(e)}`);
    return 3;
  }
}
