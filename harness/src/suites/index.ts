// The suite registry: the one list of suites. Workflows and commands ask it
// for names, test ids and --test words; the run primitive asks it for a
// suite by name and never names one. A new suite is a folder beside these
// and one line in BUILTIN.
import { smoke } from './smoke/index.ts';
import { stressors } from './stressors/index.ts';
import { ndctl } from './ndctl/index.ts';
import { SUITE_SETTINGS, SuiteInputError, type ReproFace, type Suite } from './suite.ts';
import { withSettings } from '../host/errors.ts';
import { DAX_FILESYSTEMS, isDaxFs } from './fsdax.ts';

export * from './suite.ts';

const BUILTIN = [smoke, stressors, ndctl] as const;

/** The name of a suite the harness ships. */
export type SuiteName = (typeof BUILTIN)[number]['name'];

const registered: Suite[] = [...BUILTIN];

/** What a run takes without --suite: the first suite registered. */
export const DEFAULT_SUITE: SuiteName = BUILTIN[0].name;

/**
 * Add a suite (tests register toy suites through this); returns the undo.
 * Its name must be new and not contain ':' (it prefixes --test words).
 */
export function registerSuite(s: Suite): () => void {
  if (!/^[a-z][\w-]*$/.test(s.name) || registered.some((r) => r.name === s.name)) throw new Error(`suite name "${s.name}" is taken or not a word`);
  registered.push(s);
  return () => {
    const i = registered.indexOf(s);
    if (i >= 0) registered.splice(i, 1);
  };
}

export function allSuites(): readonly Suite[] {
  return registered;
}

export function suiteNames(): string[] {
  return registered.map((s) => s.name);
}

/** "a, b or c": the names as an error message lists them. */
export function suiteChoices(): string {
  const n = suiteNames();
  return n.length > 1 ? `${n.slice(0, -1).join(', ')} or ${n.at(-1)}` : n.join('');
}

export function isSuiteName(name: string): boolean {
  return registered.some((s) => s.name === name);
}

export function suiteByName(name: string): Suite {
  const s = registered.find((x) => x.name === name);
  if (!s) throw new SuiteInputError(withSettings`${SUITE_SETTINGS.suite} "${name}" is not ${suiteChoices()}`);
  return s;
}

/** The suite a test result belongs to, by its id, for plans named by id. */
export interface Selection {
  suite: Suite;
  /** Test ids, as run prints them. */
  ids: string[];
}

/**
 * --test words → one suite's test ids. A word is a test id or alias a suite
 * owns, `SUITE:WORD`, or a bare suite name (its default tests). Words of two
 * suites are refused: one guest runs one suite. An unknown word is an input
 * error that lists every suite's tests.
 */
export async function selectTests(words: readonly string[], flag = '--test'): Promise<Selection> {
  if (!words.length) throw new SuiteInputError(`${flag} is required: name a test, e.g. ${await exampleIds()}`);
  const owned: Array<{ suite: Suite; word: string }> = [];
  for (const w of words) {
    const m = /^([\w-]+):(.*)$/.exec(w);
    const prefixed = m ? registered.find((s) => s.name === m[1]) : undefined;
    if (m && !prefixed) throw new SuiteInputError(`${flag} "${w}": the suite before ':' must be ${suiteChoices()}`);
    if (prefixed) owned.push({ suite: prefixed, word: m![2]! });
    else if (isSuiteName(w)) owned.push({ suite: suiteByName(w), word: '' });
    else {
      const owner = (await Promise.all(registered.map(async (s) => ((await s.owns(w)) ? s : null)))).find((s) => s !== null);
      if (!owner) throw new SuiteInputError(`${flag} "${w}" is not a test: ${await listings()}`);
      owned.push({ suite: owner, word: w });
    }
  }
  const suites = [...new Set(owned.map((o) => o.suite))];
  if (suites.length > 1) throw new SuiteInputError(`${flag} names tests of ${suites.map((s) => s.name).join(' and ')}: one guest runs tests of one suite; give tests of one of them`);
  const suite = suites[0]!;
  return { suite, ids: await suite.select(owned.map((o) => o.word)) };
}

/** Every suite's tests, one `suite: tests` clause each. */
export async function listings(): Promise<string> {
  return (await Promise.all(registered.map(async (s) => `${s.name}: ${await s.listing()}`))).join('; ');
}

async function exampleIds(): Promise<string> {
  const firsts = await Promise.all(registered.slice(0, 2).map(async (s) => (await s.testIds())[0]));
  return firsts.filter(Boolean).map((i) => `--test ${i}`).join(' or ');
}

/**
 * The suite options of run and shell checked against the registry: the suite
 * exists, a tree option goes with a suite that builds from one, and every
 * --fs is a DAX filesystem. Returns the suite's name.
 */
export function checkSuiteOptions(o: { suite: string; tree?: string; fs?: readonly string[] }): string {
  const s = suiteByName(o.suite);
  const treeSuites = registered.filter((x) => x.tree);
  for (const t of treeSuites) if (o.tree && !s.tree) throw new SuiteInputError(withSettings`${SUITE_SETTINGS.tree(t.tree!.option)} goes with ${SUITE_SETTINGS.suite} ${t.name}`);
  for (const f of o.fs ?? []) if (!isDaxFs(f)) throw new SuiteInputError(withSettings`${SUITE_SETTINGS.fs} "${f}" is not ${DAX_FILESYSTEMS.join(' or ')}`);
  return s.name;
}

/** Each suite's repro face, loaded once for a pure ranking. */
export type ReproCatalogue = ReadonlyArray<{ suite: Suite; face: ReproFace }>;

/**
 * Every registered suite as repro sees it. Suites with a base score (quick,
 * broad ones) come after the specific ones, so on a tie the test that targets
 * the crash is tried first.
 */
export async function reproCatalogue(): Promise<ReproCatalogue> {
  const all = await Promise.all(registered.map(async (suite) => ({ suite, face: await suite.repro() })));
  return [...all.filter((x) => !x.face.base), ...all.filter((x) => x.face.base)];
}
