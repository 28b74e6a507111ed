// Which tests to try for a reported crash, ranked, each with the reasons it
// was picked: the tests the report names, the program that crashed, the
// functions on its stack (weighted by how few tests drive them) and the
// filesystem or mode it ran on. Names are the ones `dax-harness run` takes.
import { aliasFrame } from '../../oracle/index.ts';
import { listings, selectTests, type ReproCatalogue, type ReproTest, type SuiteName } from '../../suites/index.ts';
import { InputError, withSettings } from '../../host/errors.ts';
import type { DaxFs } from '../../suites/fsdax.ts';
import type { ReportFacts } from './facts.ts';
import { SUITE_SETTINGS } from '../../suites/suite.ts';

/** One test to try: what `dax-harness run` calls it, and why it is on the list. */
export interface Candidate {
  /** The test id as run prints it, unique across suites; what --test takes for run, bisect and repro. */
  id: string;
  suite: SuiteName;
  fs: DaxFs | null;
  score: number;
  reasons: string[];
  /** Why it cannot run with the given options (e.g. ndctl's tests need --ndctl), or null. */
  blocked: string | null;
}

export interface CandidateOptions {
  catalogue: ReproCatalogue;
  /** Whether the user gave the tree a suite builds its tests from (ndctl's). */
  tree: boolean;
  /** Only these ids (from --test); empty: rank them all. */
  only?: readonly string[];
}

const NAMED = 100;
const PROGRAM = 60;
const TARGET_MATCH = 15;
const TARGET_MISMATCH = -40;
const PATH_WEIGHT = 12;

interface Entry {
  c: Candidate;
  t: ReproTest;
  base: { score: number; why: string } | null;
  tree: { option: string; what: string } | null;
}

/** Every test a repro may try, suite by suite as the catalogue orders them. */
function entries(catalogue: ReproCatalogue): Entry[] {
  return catalogue.flatMap(({ suite, face }) =>
    face.tests.map((t) => ({ c: { id: t.id, suite: suite.name as SuiteName, fs: t.target.fs, score: 0, reasons: [], blocked: null }, t, base: face.base, tree: suite.tree })),
  );
}

/** Names --test accepts for repro. */
export function candidateIds(catalogue: ReproCatalogue): string[] {
  return entries(catalogue).map((e) => e.c.id);
}

/**
 * --test words → candidate ids. A word is what bisect and run take too (an id
 * as run prints it, SUITE:NAME, a suite's name, the older spellings each suite
 * keeps); a family (a stressor without its target) names all its targets.
 */
export async function resolveTestNames(given: readonly string[], catalogue: ReproCatalogue): Promise<string[]> {
  const ids = candidateIds(catalogue);
  const out: string[] = [];
  for (const g of given) {
    let selected: string[] = [];
    try {
      selected = (await selectTests([g])).ids;
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
    }
    const hits = ids.filter((id) => selected.some((s) => id === s || id.startsWith(`${s}.`)));
    if (hits.length === 0) {
      const base = g.replace(/^[\w-]+:/, '').split('.')[0]!;
      const near = base ? ids.filter((id) => id.includes(base)).slice(0, 4) : [];
      throw new InputError(withSettings`${SUITE_SETTINGS.test} "${g}" is not a test repro knows: ${near.length ? `did you mean ${near.join(', ')}?` : await listings()}`);
    }
    for (const h of hits) if (!out.includes(h)) out.push(h);
  }
  return out;
}

/** Refuses, without the tree option, a chosen test of a suite that builds its tests from a tree. */
export function checkTreeGiven(only: readonly string[], catalogue: ReproCatalogue): void {
  for (const id of only) {
    const tree = catalogue.find((x) => x.face.tests.some((t) => t.id === id))?.suite.tree;
    if (tree) throw new InputError(withSettings`${SUITE_SETTINGS.test} ${id} needs ${SUITE_SETTINGS.tree(tree.option)} PATH (${tree.what})`);
  }
}

/** Whether a candidate's target agrees with the report's filesystem/mode/reflink; null when the report does not say. */
function targetAgrees(t: ReproTest, f: ReportFacts): { agrees: boolean; what: string } | null {
  const { mode, fs, reflink } = t.target;
  if (f.mode === 'devdax') {
    if (mode === 'fsdax') return { agrees: false, what: 'runs on fsdax, the crash is on device-dax' };
    return { agrees: true, what: 'runs on device-dax, as the crash did' };
  }
  if (f.fs) {
    if (mode === 'devdax') return { agrees: false, what: `runs on device-dax, the crash is on ${f.fs}` };
    if (fs && fs !== f.fs) return { agrees: false, what: `runs on ${fs}, the crash is on ${f.fs}` };
    if (!fs) return null;
    if (f.reflink && !reflink) return { agrees: false, what: 'xfs without reflink, the crash is on shared (reflinked) extents' };
    return { agrees: true, what: `runs on ${fs}${reflink ? ' with reflink' : ''}, as the crash did` };
  }
  return null;
}

/**
 * The candidates ranked best first. Scores add up: named in the report,
 * the crashing program, stack functions the test drives (rarer ones weigh
 * more), and the filesystem/mode it runs on. Ties keep the manifest order.
 */
export function rankCandidates(f: ReportFacts, o: CandidateOptions): Candidate[] {
  const all = entries(o.catalogue);
  // A function that only one test drives says more than one every test drives.
  const drivers = new Map<string, number>();
  for (const { t } of all) for (const fn of new Set(t.paths.map(aliasFrame))) drivers.set(fn, (drivers.get(fn) ?? 0) + 1);
  const onStack = new Set(f.functions.map(aliasFrame));

  for (const { c, t, base, tree } of all) {
    for (const m of f.tests) {
      if (m.suite !== c.suite || (m.name !== c.id && m.name !== t.family)) continue;
      if (m.how === 'text') {
        // "pmd_pte_mix.xfs" says more than "pmd_pte_mix".
        c.score += m.name === c.id ? NAMED : NAMED * 0.8;
        c.reasons.push(`the report names ${m.name}`);
      } else {
        c.score += PROGRAM;
        c.reasons.push(`the crashing process (Comm: ${f.comm}) is the program of ${m.label ?? m.name}`);
      }
      break;
    }
    const hits = [...new Set(t.paths.map(aliasFrame))].filter((fn) => onStack.has(fn));
    if (hits.length > 0) {
      const w = hits.reduce((s, fn) => s + PATH_WEIGHT / (drivers.get(fn) ?? 1), 0);
      c.score += Math.round(w * 10) / 10;
      const names = hits.map((h) => (h.startsWith('~') ? f.functions.find((s) => aliasFrame(s) === h) ?? h : h));
      c.reasons.push(`drives ${names.slice(0, 4).join(', ')}${names.length > 4 ? ` (+${names.length - 4})` : ''} from the stack`);
    }
    const tgt = targetAgrees(t, f);
    if (tgt) {
      c.score += tgt.agrees ? TARGET_MATCH : TARGET_MISMATCH;
      c.reasons.push(tgt.what);
    }
    if (base) {
      c.score += base.score;
      c.reasons.push(base.why);
    }
    if (tree && !o.tree) c.blocked = `needs --${tree.option} PATH (${c.suite}'s tests run from ${tree.what})`;
  }
  const cands = all.map((e) => e.c);
  const order = new Map(cands.map((c, i) => [c.id, i]));
  let ranked = cands.filter((c) => c.score > 0).sort((a, b) => b.score - a.score || order.get(a.id)! - order.get(b.id)!);
  if (o.only?.length) {
    ranked = o.only.map((id) => {
      const c = cands.find((x) => x.id === id)!;
      if (c.score <= 0) c.reasons.push('asked for with --test');
      return c;
    });
  }
  return ranked;
}
