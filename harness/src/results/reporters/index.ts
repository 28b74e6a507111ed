// Every report of a night, written next to it (atomically) from the index.
import { join, relative } from 'node:path';
import { writeFileAtomic } from '../../host/fsutil.ts';
import type { ResultsIndex } from '../db.ts';
import { loadNightReport, type NightReport } from '../report.ts';
import { formatNightSummary } from './text.ts';
import { formatJunit } from './junit.ts';
import { formatTap } from './tap.ts';
import { formatKcidb } from './kcidb.ts';
import { formatHtml } from './html.ts';

export { formatNightSummary };
export { kcidbPatchsetHash } from './kcidb.ts';

export const REPORT_FILES = { text: 'summary.txt', junit: 'junit.xml', tap: 'results.tap', kcidb: 'kcidb.json', html: 'report.html' } as const;
export type ReportFormat = keyof typeof REPORT_FILES;

/** One report as text; `outDir` is where the file will live (the HTML links run directories relative to it). */
export function renderReport(r: NightReport, format: ReportFormat, resultsRoot: string, outDir: string): string {
  switch (format) {
    case 'text':
      return formatNightSummary(r);
    case 'junit':
      return formatJunit(r);
    case 'tap':
      return formatTap(r);
    case 'kcidb':
      return formatKcidb(r);
    case 'html': {
      const base = relative(outDir, resultsRoot);
      return formatHtml(r, { linkBase: base ? `${base}/` : '' });
    }
  }
}

export async function writeNightReports(index: ResultsIndex, nightId: string, outDir: string): Promise<NightReport> {
  const r = loadNightReport(index, nightId);
  for (const [format, file] of Object.entries(REPORT_FILES) as [ReportFormat, string][])
    await writeFileAtomic(join(outDir, file), renderReport(r, format, index.root, outDir));
  return r;
}
