// What a bisection walks over, read and checked before anything is built: a
// patch series (steps = base + first k patches) or a git range (steps = its
// first-parent commits), and the tests a step runs.
import { resolve } from 'node:path';
import type { BisectPatchRef } from '../../results/records.ts';
import { InputError, textOf, withSettings } from '../../host/errors.ts';
import { git, loadSeries, parseSourceSpec, resolveCommit, resolveSource, type Series } from '../../kernel/index.ts';
import { SUITE_SETTINGS, SuiteInputError, allSuites, selectTests, suiteByName, type SuiteName } from '../../suites/index.ts';
import type { Direction } from './types.ts';
import { SOURCE } from '../../kernel/settings.ts';
import { BAD, GOOD, REVERSE, SECONDS } from '../settings.ts';

export class BisectInputError extends InputError {}

export interface BisectTests {
  /** A registered suite's name. */
  suite: SuiteName;
  /** Test ids as run prints them (a saved bisection may hold a smoke's bare filesystems). */
  tests: string[];
  /** As the user wrote them, for the record. */
  given: string[];
}

/**
 * TEST is a test id as run prints it (dax-smoke.xfs, pmd_pte_mix.ext4,
 * dax-ext4.sh), SUITE:NAME (smoke:ext4, stressors:pmd_pte_mix,
 * ndctl:dax-ext4.sh), a bare stressor name or a suite's name; all from one
 * suite, because a step boots one guest for all of them.
 */
export async function parseTests(given: string[], tree: string | undefined): Promise<BisectTests> {
  let sel;
  try {
    sel = await selectTests(given);
  } catch (e) {
    if (!(e instanceof SuiteInputError)) throw e;
    throw new BisectInputError(e.text);
  }
  const { suite, ids } = sel;
  if (suite.tree) {
    if (!tree) throw new BisectInputError(withSettings`${SUITE_SETTINGS.test} ${suite.name}:NAME needs ${SUITE_SETTINGS.tree(suite.tree.option)} PATH (${suite.tree.what})`);
    try {
      await suite.tree.check(tree);
    } catch (e) {
      throw new BisectInputError(textOf(e));
    }
  } else if (tree) {
    const owner = allSuites().find((s) => s.tree);
    throw new BisectInputError(withSettings`${SUITE_SETTINGS.tree(owner?.tree?.option ?? 'tree')} goes with ${SUITE_SETTINGS.test} ${owner?.name}:NAME`);
  }
  return { suite: suite.name as SuiteName, tests: ids, given };
}

/** --seconds (how long a stressor loops) means something only to a suite that takes it. */
export function checkSecondsGoWith(t: BisectTests): void {
  if (suiteByName(t.suite).takesSeconds) return;
  const takers = allSuites().filter((s) => s.takesSeconds).map((s) => s.name);
  throw new BisectInputError(withSettings`${SECONDS} goes with tests of ${takers.join(' or ')}`);
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
  if (spec.kind !== 'git') throw new BisectInputError(withSettings`${GOOD}/${BAD} need ${SOURCE} PATH, a git tree, not ${source}`);
  const [oldRef, newRef] = direction === 'cause' ? [good, bad] : [bad, good];
  const src = await resolveSource(spec, newRef);
  const repo = src.repoDir;
  const from = await resolveCommit(repo, oldRef);
  const to = src.commit;
  const anc = await git(repo, ['merge-base', '--is-ancestor', from, to], { reject: false });
  if (anc.exitCode !== 0) {
    const [o, n] = direction === 'cause' ? [GOOD, BAD] : [BAD, GOOD];
    throw new BisectInputError(withSettings`${o} ${oldRef} is not an ancestor of ${n} ${newRef}${direction === 'fix' ? withSettings` (with ${REVERSE} the older end is ${BAD})` : ''}: give the older end first`);
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
