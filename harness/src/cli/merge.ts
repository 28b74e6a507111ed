// `dax-harness merge DIR...`: the shards of one night into one night.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { mergeNights, NightlyInputError } from '../workflows/nightly/index.ts';
import { defaultResultsRoot } from '../host/paths.ts';
import { ResultsIndex } from '../results/db.ts';
import { writeNightReports } from '../results/reporters/index.ts';
import { formatNightSummary } from '../results/reporters/text.ts';
import { nightExitCode } from '../results/report.ts';
import { forTerminal, lineForTerminal } from '../host/terminal.ts';

export const MERGE_HELP = `usage: dax-harness merge [--into RESULTS] DIR...

Combines the shards of one night (each DIR a night directory written by
'dax-harness nightly --shard i/N --night ID', or a results root holding one
night) into one night under RESULTS/nights/ID, as if it had run unsharded: the
same cells, runs, classification and reports. Writes the reports beside it and
prints the summary; a missing shard is named.

options:
  --into DIR   results root to merge into (default: results/ in the repo, or $DAX_HARNESS_RESULTS);
               its earlier nights are the history the merged night is judged against

Exit codes as for 'dax-harness nightly' (0, 1, 3), 2 for bad input.`;

export async function mergeCommand(argv: string[]): Promise<number> {
  let a;
  try {
    a = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { into: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } });
  } catch (e) {
    console.error(`dax-harness merge: ${(e as Error).message.split('\n')[0]} (see dax-harness merge --help)`);
    return 2;
  }
  if (a.values.help) {
    console.log(MERGE_HELP);
    return 0;
  }
  if (!a.positionals.length) {
    console.error('dax-harness merge: give the shard directories to merge (see dax-harness merge --help)');
    return 2;
  }
  const into = a.values.into ? resolve(a.values.into) : defaultResultsRoot();
  try {
    const out = await mergeNights(a.positionals, into, (m) => process.stderr.write(`${lineForTerminal(m)}\n`));
    if (out.missing.length) console.error(`dax-harness merge: shard(s) ${out.missing.join(', ')} missing: the night is marked unfinished`);
    const index = await ResultsIndex.open(into);
    try {
      const report = await writeNightReports(index, out.nightId, out.dir);
      process.stdout.write(forTerminal(formatNightSummary(report)));
      console.log(`reports: ${out.dir}`);
      return nightExitCode(report);
    } finally {
      index.close();
    }
  } catch (e) {
    if (e instanceof NightlyInputError) {
      console.error(`dax-harness merge: ${lineForTerminal(e.message)}`);
      return 2;
    }
    console.error(`dax-harness merge: internal error: ${(e as Error).stack ?? String(e)}`);
    return 3;
  }
}
