// The contract every suite meets. A suite is a plugin: it owns its name, its
// test ids (exactly as `run` prints them: the one name --test, nightly
// configs, bisect, repro, known-outcome lists and reports use), how --test
// words map to those ids, its modes, what it needs before boot, how it runs a
// pass, and which kernel functions each test drives. Workflows and commands
// ask the registry (index.ts) and never write a suite's name.
import type { KernelArtifact, TestResult, Topology } from '../results/records.ts';
import type { MachineSpec } from '../vm/qemu-args.ts';
import { InputError, setting } from '../host/errors.ts';
import type { DaxFs } from './fsdax.ts';
import type { SuiteContext } from './context.ts';

/** What a plan says about its suite. */
export interface SuiteInputs {
  tests?: string[];
  filesystems?: DaxFs[];
  /** The user's tree for a suite that builds its tests from one (its `tree` option). */
  ndctl?: string;
  /** Harness limit for a test whose own timeout is disabled. */
  hangMs?: number;
}

/** The fields of a plan that choose a suite's tests. */
export type PlanTests = Pick<SuiteInputs, 'tests' | 'filesystems'>;

export interface SuiteNeeds {
  image: string;
  topology: Topology;
  /** Kernel command-line words. */
  cmdline: string[];
  /** Kernel modules the guest needs beyond the image's. */
  modules: string[];
  /** Config fragments for a kernel the pipeline builds for this suite (when the user chose none). */
  kernelFragments: string[] | null;
}

export class SuiteInputError extends InputError {}

/**
 * The settings a suite's input errors name (with withSettings): the CLI
 * spells them as its flags (--suite, --test, --fs, --ndctl), a nightly cell
 * as its config keys (suite, tests, modes, ndctl).
 */
export const SUITE_SETTINGS = {
  suite: setting('suite'),
  test: setting('test'),
  fs: setting('fs'),
  /** A suite's tree option (ndctl), by its option/config key. */
  tree: (option: string) => setting(option),
} as const;

/** A suite made ready for one kernel: what the guest must get at boot, and the test runner. */
export interface PreparedSuite {
  kernel: KernelArtifact;
  shares?: MachineSpec['shares'];
  run(ctx: SuiteContext, onResult: (r: TestResult) => Promise<void>): Promise<void>;
}

/** Where a test runs, for matching a crash report's filesystem or mode. */
export interface TestTarget {
  fs: DaxFs | null;
  mode: 'fsdax' | 'devdax' | 'both';
  reflink: boolean;
}

/** One test repro may try: where it runs and the kernel functions it drives. */
export interface ReproTest {
  id: string;
  /** The name a report may use for it and its siblings (a stressor without its target), or null. */
  family: string | null;
  target: TestTarget;
  paths: readonly string[];
}

/** A test a crash report names in its text, or whose program is the crashing process. */
export interface ReproMention {
  /** A test id or a family. */
  name: string;
  how: 'text' | 'comm';
  /** Where the named test runs, when the name says (for inferring the crash's filesystem or mode). */
  target: TestTarget | null;
  /** How a reason names it, when not by its bare name ("ndctl's mmap.sh"). */
  label?: string;
}

/** What repro reads of a suite, synchronously once loaded: repro's ranking is pure. */
export interface ReproFace {
  tests: ReproTest[];
  mentions(text: string, comm: string | null): ReproMention[];
  /**
   * A score and reason each of its tests gets whatever the report says (a
   * quick, broad suite worth a try): such suites rank after the specific ones on a tie.
   */
  base: { score: number; why: string } | null;
}

export interface Suite {
  readonly name: string;
  /** Its tests, for error messages and help: ids, or families of them ("NAME[.TARGET]"). */
  listing(): Promise<string>;
  /** Test ids as run prints them, every one the suite knows without the user's input. */
  testIds(): Promise<string[]>;
  /** Whether a --test word (its `suite:` prefix already taken off) names tests of this suite. */
  owns(word: string): Promise<boolean>;
  /**
   * --test words this suite owns → test ids; the empty word (the bare suite
   * name) means its default tests. Throws SuiteInputError on a word it cannot run.
   */
  select(words: string[]): Promise<string[]>;
  /** The plan fields (tests or filesystems) that run these test ids. */
  planTests(ids: readonly string[]): PlanTests;
  /** The id of a test result (what `run` printed for it). */
  idOf(r: Pick<TestResult, 'name' | 'params'>): string;
  /** The nightly matrix's mode axis: the modes the suite takes, or null (one cell, mode 'all'). */
  modes(): Promise<readonly string[] | null>;
  /**
   * A nightly config entry's modes and tests checked (a problem goes to bad(key
   * under the entry, message), which throws); returns the entry's modes.
   */
  nightly(entry: { modes?: string[]; tests?: string[] }, defaultModes: readonly string[], bad: (key: string, msg: string) => never): Promise<string[]>;
  /** The test ids a nightly cell of this mode runs (tests: the config's list, or undefined for the defaults). */
  cellTests(mode: string, tests: readonly string[] | undefined): Promise<string[] | undefined>;
  /** A path the suite's tests come from (ndctl's git tree): the option/config key that names it, and its check. */
  readonly tree: { option: string; what: string; check(path: string): Promise<void> } | null;
  /** Whether --seconds (the stressors' loop time) means anything to it. */
  readonly takesSeconds: boolean;
  /** Its tests as repro ranks them against a crash report: targets, kernel functions, how reports name them. */
  repro(): Promise<ReproFace>;

  needs(inputs: SuiteInputs): SuiteNeeds;
  /** Input checks that need no download and no build: bad input is exit 2 before any work. */
  check(inputs: SuiteInputs): Promise<void>;
  /** Host-side work that does not depend on the kernel (e.g. building ndctl); runs before the kernel is fetched. */
  prepareHost(inputs: SuiteInputs, log: (m: string) => void): Promise<unknown>;
  /** Kernel-dependent preparation (e.g. nfit_test for this kernel). */
  prepare(inputs: SuiteInputs, host: unknown, kernel: KernelArtifact, log: (m: string) => void): Promise<PreparedSuite>;
}

/** A name as a word of a report's text: not inside a longer name, dots and dashes included. */
export function wordIn(name: string): RegExp {
  return new RegExp(`(?<![\\w.-])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`);
}

/** A process name as a crash report prints it: TASK_COMM_LEN cuts it to 15 characters ("odirect_into_da"). */
export function commIs(program: string, comm: string): boolean {
  return program === comm || (comm.length === 15 && program.startsWith(comm));
}
