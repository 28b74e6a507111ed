// What follows a night, run or merged from shards: every report written
// beside it from the results index, the summary a user reads, and the
// night's verdict as an exit status. Once here, so `nightly` and `merge`
// cannot drift apart on what a finished night produces.
import { ResultsIndex } from '../../results/db.ts';
import { formatNightSummary, writeNightReports } from '../../results/reporters/index.ts';
import { nightExitCode, type NightReport } from '../../results/report.ts';

export interface NightReports {
  report: NightReport;
  /** summary.txt's text. */
  summary: string;
  /** 0 nothing new failed, 1 something new failed, 3 a cell could not run. */
  exitCode: number;
}

/** Write the reports of night `nightId` into `dir` (its directory under `resultsRoot`). */
export async function reportNight(resultsRoot: string, nightId: string, dir: string): Promise<NightReports> {
  const index = await ResultsIndex.open(resultsRoot);
  try {
    const report = await writeNightReports(index, nightId, dir);
    return { report, summary: formatNightSummary(report), exitCode: nightExitCode(report) };
  } finally {
    index.close();
  }
}
