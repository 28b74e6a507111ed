// The oracle's corpus and the figures quoted about it, computed in one place so
// that test/unit/oracle-corpus.test.ts and `npm run bench:parse` print the same
// numbers: logs, where each came from (origin), agreement, and false reports
// on the clean logs.
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseLog } from '../harness/src/oracle/index.js';
import type { CrashReport } from '../harness/src/results/records.js';

export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../harness/src/oracle/corpus');

/**
 * Where a corpus log came from: `real` was captured from our own guests (its
 * provenance says which run and kernel), `hand-made` was written from the
 * kernel's printk formats, `seed` is the project's seed crash mail.
 */
export const ORIGINS = ['real', 'hand-made', 'seed'] as const;
export type Origin = (typeof ORIGINS)[number];

export interface Expected {
  description: string;
  origin: Origin;
  /** For a real capture: how it was made (the test or command, the kernel, the date). */
  provenance?: { source: string; kernel: string; captured: string; command?: string };
  reports: Array<Record<string, unknown>>;
}

export interface CorpusLog {
  name: string;
  text: string;
  expected: Expected;
}

export function loadCorpus(dir = CORPUS_DIR): CorpusLog[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort()
    .map((f) => {
      const name = f.replace(/\.log$/, '');
      return { name, text: readFileSync(join(dir, f), 'utf8'), expected: JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as Expected };
    });
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Agreement as the yardstick counts it: the expected number of reports, each with the expected title, alternative titles and corrupted flag. */
function agrees(log: CorpusLog, got: readonly CrashReport[]): boolean {
  const want = log.expected.reports;
  return got.length === want.length && want.every((w, i) => same(got[i]!.title, w.title) && same(got[i]!.altTitles, w.altTitles) && same(got[i]!.corrupted, w.corrupted));
}

export interface CorpusSummary {
  logs: number;
  agree: number;
  disagree: string[];
  byOrigin: Record<Origin, number>;
  clean: { logs: number; bytes: number; realLogs: number; realBytes: number; reports: number };
}

export function summarize(logs: readonly CorpusLog[], parse: (text: string) => CrashReport[] = parseLog): CorpusSummary {
  const s: CorpusSummary = { logs: logs.length, agree: 0, disagree: [], byOrigin: { real: 0, 'hand-made': 0, seed: 0 }, clean: { logs: 0, bytes: 0, realLogs: 0, realBytes: 0, reports: 0 } };
  for (const l of logs) {
    const got = parse(l.text);
    if (agrees(l, got)) s.agree++;
    else s.disagree.push(l.name);
    s.byOrigin[l.expected.origin] = (s.byOrigin[l.expected.origin] ?? 0) + 1;
    if (l.expected.reports.length > 0) continue;
    const bytes = Buffer.byteLength(l.text);
    s.clean.logs++;
    s.clean.bytes += bytes;
    s.clean.reports += got.length;
    if (l.expected.origin === 'real') {
      s.clean.realLogs++;
      s.clean.realBytes += bytes;
    }
  }
  return s;
}

export function formatSummary(s: CorpusSummary): string {
  const kb = (b: number) => `${(b / 1024).toFixed(0)} KB`;
  return (
    `corpus: ${s.logs} logs (${ORIGINS.map((o) => `${s.byOrigin[o]} ${o}`).join(', ')}); ` +
    `agreement ${s.agree}/${s.logs} (title, alternative titles, corrupted flag)${s.disagree.length ? `, differ: ${s.disagree.join(', ')}` : ''}; ` +
    `${s.clean.reports} reports on ${s.clean.logs} clean logs (${kb(s.clean.bytes)}; real: ${s.clean.realLogs} logs, ${kb(s.clean.realBytes)})`
  );
}
