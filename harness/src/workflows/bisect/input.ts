// What a bisection walks over, read and checked before anything is built: a
// patch series (steps = base + first k patches) or a git range (steps = its
// first-parent commits), and the tests a step runs.
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BisectPatchRef } from '../../results/records.ts';
import { InputError } from '../../host/errors.ts';
import { loadSeries } from '../../kernel/index.ts';
import type { Series } from '../../kernel/series.ts';
import { git, parseSourceSpec, resolveCommit, resolveSource } from '../../kernel/source.ts';
import { checkStressorTestNames } from '../../suites/stressors/stressor-manifest.ts';
import type { Direction } from './types.ts';

export class BisectInputError extends InputError {}

export type BisectSuite = 'smoke' | 'stressors' | 'ndctl';

export interface BisectTests {
  suite: BisectSuite;
  /** Test names as the run workflow takes them (--test); for the smoke, the filesystems. */
  tests: string[];
  /** As the user wrote them, for the record. */
  given: string[];
}

/**
 * TEST is SUITE:NAME (smoke:ext4, smoke:xfs, stressors:pmd_pte_mix,
 * ndctl:dax-ext4.sh) or a bare stressor name; all from one suite, because a
 * step boots one guest for all of them.
 */
export async function parseTests(given: string[], ndctl: string | undefined): Promise<BisectTests> {
  if (!given.length) throw new BisectInputError('--test is required: name the test that shows the bug, e.g. --test smoke:ext4 or --test stressors:pmd_pte_mix');
  const parsed = given.map((t) => {
    const m = /^(smoke|stressors|ndctl):(.+)$/.exec(t);
    if (m) return { suite: m[1] as BisectSuite, name: m[2]! };
    if (t === 'smoke') return { suite: 'smoke' as const, name: '' };
    if (t.includes(':')) throw new BisectInputError(`--test "${t}": the suite before ':' must be smoke, stressors or ndctl`);
    return { suite: 'stressors' as const, name: t };
  });
  const suites = [...new Set(parsed.map((p) => p.suite))];
  if (suites.length > 1) throw new BisectInputError(`--test names from ${suites.join(' and ')}: a bisection runs tests of one suite; give tests of one of them`);
  const suite = suites[0]!;
  const names = parsed.map((p) => p.name);
  if (suite === 'smoke') {
    const fs = names.length === 1 && names[0] === '' ? ['ext4', 'xfs'] : names;
    for (const f of fs) if (f !== 'ext4' && f !== 'xfs') throw new BisectInputError(`--test smoke:${f}: the smoke runs on ext4 or xfs`);
    return { suite, tests: fs, given };
  }
  if (suite === 'stressors') {
    try {
      await checkStressorTestNames(names);
    } catch (e) {
      throw new BisectInputError(`--test: ${(e as Error).message}`);
    }
  }
  if (suite === 'ndctl') {
    if (!ndctl) throw new BisectInputError('--test ndctl:NAME needs --ndctl PATH (your ndctl git tree)');
    const ok = await access(join(resolve(ndctl), 'meson.build')).then(() => true, () => false);
    if (!ok) throw new BisectInputError(`--ndctl ${ndctl} has no meson.build: give the top of an ndctl git tree`);
  } else if (ndctl) throw new BisectInputError('--ndctl goes with --test ndctl:NAME');
  return { suite, tests: names, given };
}

export interface SeriesInput {
  kind: 'series';
  /** The mbox or directory, absolute. */
  spec: string;
  series: Series;
  patches: BisectPatchRef[];
}

export interface RangeInput {
  kind: 'range';
  spec: string;
  repo: string;
  /** The older end (step 0) and the newer end (step k), resolved. */
  from: string;
  to: string;
  /** First-parent commits after `from`, oldest first: step i is commits[i-1]. */
  commits: string[];
  patches: BisectPatchRef[];
}

export type StepsInput = SeriesInput | RangeInput;

export function loreLink(messageId: string | null): string | null {
  if (!messageId) return null;
  const id = messageId.trim().replace(/^<|>$/g, '');
  return id ? `https://lore.kernel.org/r/${encodeURIComponent(id).replace(/%40/g, '@')}` : null;
}

export async function loadSeriesInput(path: string): Promise<SeriesInput> {
  const spec = resolve(path);
  const series = await loadSeries(spec);
  return {
    kind: 'series',
    spec,
    series,
    patches: series.patches.map((p) => ({ number: p.number, subject: p.title, author: p.from, link: loreLink(p.messageId), commit: null })),
  };
}

/**
 * A git range: for a cause bisection from --good (old) to --bad (new); for a
 * fix (--reverse) from --bad (old, crashes) to --good (new, fixed).
 */
export async function loadRangeInput(source: string, good: string, bad: string, direction: Direction): Promise<RangeInput> {
  const spec = parseSourceSpec(source);
  if (spec.kind !== 'git') throw new BisectInputError(`--good/--bad need --source PATH, a git tree, not ${source}`);
  const [oldRef, newRef] = direction === 'cause' ? [good, bad] : [bad, good];
  const src = await resolveSource(spec, newRef);
  const repo = src.repoDir;
  const from = await resolveCommit(repo, oldRef);
  const to = src.commit;
  const anc = await git(repo, ['merge-base', '--is-ancestor', from, to], { reject: false });
  if (anc.exitCode !== 0) {
    const [o, n] = direction === 'cause' ? ['--good', '--bad'] : ['--bad', '--good'];
    throw new BisectInputError(`${o} ${oldRef} is not an ancestor of ${n} ${newRef}${direction === 'fix' ? ' (with --reverse the older end is --bad)' : ''}: give the older end first`);
  }
  // Fields split by NUL, records by RS (0x1e): subjects may hold anything else.
  const log = await git(repo, ['log', '--first-parent', '--reverse', '--format=%H%x00%s%x00%an <%ae>%x00%(trailers:key=Link,valueonly,separator=%x20)%x1e', `${from}..${to}`]);
  const rows = log.stdout.split('\x1e').map((r) => r.trim()).filter(Boolean);
  if (!rows.length) throw new BisectInputError(`${oldRef}..${newRef} holds no commits: the ends are the same commit`);
  const commits: string[] = [];
  const patches: BisectPatchRef[] = rows.map((row, i) => {
    const [hash, subject, author, link] = row.split('\x00');
    commits.push(hash!);
    return { number: i + 1, subject: subject ?? '', author: author ?? '', link: link?.trim().split(/\s+/)[0] || null, commit: hash! };
  });
  return { kind: 'range', spec: `${oldRef}..${newRef}`, repo, from, to, commits, patches };
}
