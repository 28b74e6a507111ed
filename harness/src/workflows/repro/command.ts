// The dax-harness command lines that reproduce a crash, for the report and
// for people to paste. Built as argument arrays; the shell form is for
// display only and is never executed. Pure.
import type { Candidate } from './candidates.ts';

/** `dax-harness run` options that run one candidate once (seconds: how long a stressor loops, when not the manifest's). */
export function runTestArgv(c: Candidate, ndctl: string | null, seconds = 0): string[] {
  if (c.suite === 'smoke') return ['--suite', 'smoke', '--fs', c.fs ?? 'ext4'];
  if (c.suite === 'ndctl') return ['--suite', 'ndctl', '--ndctl', ndctl ?? 'NDCTL_TREE', '--test', c.test!];
  return ['--suite', 'stressors', '--test', c.test!, ...(seconds ? ['--seconds', String(seconds)] : [])];
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
  if (o.seconds && o.candidate.suite === 'stressors') loop.push('--seconds', String(o.seconds));
  if (o.candidate.suite === 'ndctl') loop.push('--ndctl', o.ndctl ?? 'NDCTL_TREE');
  if (o.budget) loop.push('--budget', o.budget);
  if (o.anyCrash) loop.push('--any-crash');
  loop.push(o.report);
  return { once, loop };
}

/** POSIX shell quoting, for showing a command to a person. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
