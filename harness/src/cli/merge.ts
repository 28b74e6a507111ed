// `dax-harness merge DIR...`: the shards of one night into one night.
import { resolve } from 'node:path';
import { mergeNights } from '../workflows/nightly/index.ts';
import { reportNight } from '../workflows/nightly/reports.ts';
import { defaultResultsRoot } from '../host/paths.ts';
import { forTerminal } from '../host/terminal.ts';
import { defineCommand, parseCommand } from './command.ts';
import { reportError, usageError } from './exit.ts';
import { progressPrinter, verbosityOf } from './progress.ts';

export const MERGE_HELP = `usage: dax-harness merge [--results RESULTS] [--json] DIR...

Combines the shards of one night (each DIR a night directory written by
'dax-harness nightly --shard i/N --night ID', or a results root holding one
night) into one night under RESULTS/nights/ID, as if it had run unsharded: the
same cells, runs, classification and reports. Writes the reports beside it and
prints the summary; a missing shard is named.

options:
  --results DIR  results root to merge into (default: results/ in the repo, or $DAX_HARNESS_RESULTS);
                 its earlier nights are the history the merged night is judged against.
                 --into DIR is its older name, still taken
  --json         print the merged night's report as JSON instead of the summary`;

export const MERGE_SPEC = defineCommand({
  name: 'merge',
  options: {
    results: { type: 'string' },
    into: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  positionals: true,
  manual: MERGE_HELP,
  examples: [
    ['dax-harness merge shard-1/ shard-2/ shard-3/ shard-4/', "the four CI jobs' night, merged into results/"],
    ['dax-harness merge --results /srv/nights --json shard-*/', 'into the nights kept on a server, the report as JSON'],
  ],
  exit: { 0: 'nothing new failed (as for dax-harness nightly)', 1: 'a regression, a new failing test or a new crash signature' },
});

export async function mergeCommand(argv: string[]): Promise<number> {
  const a = parseCommand(MERGE_SPEC, argv);
  if (typeof a === 'number') return a;
  if (!a.positionals.length) return usageError('merge', 'give the shard directories to merge (see dax-harness merge --help)');
  const { results, into: alias, json } = a.values;
  if (results !== undefined && alias !== undefined && resolve(results) !== resolve(alias)) return usageError('merge', '--results and --into name one directory (--into is its older name): give one');
  const given = results ?? alias;
  const into = given ? resolve(given) : defaultResultsRoot();
  try {
    const progress = progressPrinter({ verbosity: verbosityOf(a.values), global: false });
    const out = await mergeNights(a.positionals, into, (m) => progress(m));
    if (out.missing.length) console.error(`dax-harness merge: shard(s) ${out.missing.join(', ')} missing: the night is marked unfinished`);
    const night = await reportNight(into, out.nightId, out.dir);
    if (json) process.stdout.write(JSON.stringify(night.report, null, 2) + '\n');
    else {
      process.stdout.write(forTerminal(night.summary));
      console.log(`reports: ${out.dir}`);
    }
    return night.exitCode;
  } catch (e) {
    return reportError('merge', e);
  }
}
