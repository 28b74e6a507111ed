// The dax-harness command lines that reproduce a crash, for the report and
// for people to paste. Built as argument arrays; the shell form is for
// display only and is never executed. Pure.
import type { Candidate } from './candidates.ts';
import { suiteByName } from '../../suites/index.ts';

/** `dax-harness run` options that run one candidate once (seconds: how long a stressor loops, when not the manifest's). */
export function runTestArgv(c: Candidate, tree: string | null, seconds = 0): string[] {
  const suite = suiteByName(c.suite);
  const { tests, filesystems } = suite.planTests([c.id]);
  return [
    '--suite',
    suite.name,
    ...treeArgv(c, tree),
    ...(filesystems ? ['--fs', filesystems.join(',')] : ['--test', ...(tests ?? [])]),
    ...(seconds && suite.takesSeconds ? ['--seconds', String(seconds)] : []),
  ];
}

/** The option naming the tree a candidate's suite builds its tests from (a placeholder when none was given). */
function treeArgv(c: Candidate, tree: string | null): string[] {
  const t = suiteByName(c.suite).tree;
  return t ? [`--${t.option}`, tree ?? `${t.option.toUpperCase()}_TREE`] : [];
}

export interface ReproCommands {
  /** One run of the test that reproduced it. */
  once: string[];
  /** The loop that reproduces it until it crashes: repro with only that test. */
  loop: string[];
}

/** The commands for a test that reproduced a crash, on the kernel chosen by `kernelArgv`. */
export function reproCommands(o: { report: string; kernelArgv: readonly string[]; candidate: Candidate; ndctl: string | null; budget?: string; anyCrash?: boolean; seconds?: number }): ReproCommands {
  const once = ['dax-harness', 'run', ...o.kernelArgv, ...runTestArgv(o.candidate, o.ndctl, o.seconds)];
  const loop = ['dax-harness', 'repro', ...o.kernelArgv, '--test', o.candidate.id];
  if (o.seconds && suiteByName(o.candidate.suite).takesSeconds) loop.push('--seconds', String(o.seconds));
  loop.push(...treeArgv(o.candidate, o.ndctl));
  if (o.budget) loop.push('--budget', o.budget);
  if (o.anyCrash) loop.push('--any-crash');
  loop.push(o.report);
  return { once, loop };
}

export { shellQuote } from '../../host/terminal.ts';
