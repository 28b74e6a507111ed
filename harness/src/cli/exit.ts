// The one mapping from how a command ended to its exit status, shared by every
// command. 0 and 1 are each command's verdict (documented in its --help: a run
// that passed or failed, a crash reproduced or not, a culprit named or not);
// everything else means the same in every command:
//   2    bad input (an InputError), said in one line naming the fix, found
//        before anything is downloaded or booted where it can be;
//   3    the command could not reach a verdict: the machine, a download, an
//        image build, a guest or QEMU failed (an InfraError, a full disk), or
//        a harness bug (its stack is printed);
//   130  interrupted by SIGINT (Ctrl-C), 143 by SIGTERM.
// A command may add a verdict of its own above 3, in its spec's exit table
// (bisect's 4: a culprit that no check could verify because of the tree's shape).
// One error is a verdict where the command's 1 is one on the kernel under
// test: a kernel that does not compile (BuildError) is 1 in run and build (as
// a nightly cell it fails the cell), and 3 where 1 answers another question
// (repro: not reproduced; bisect: no culprit). Nothing else thrown becomes 1:
// scripts (git bisect run, CI) read 1 as the command's verdict.
import { InfraError, InputError, SettingError } from '../host/errors.ts';
import { BuildError } from '../kernel/errors.ts';
import { lineForTerminal } from '../host/terminal.ts';

export const EXIT = { ok: 0, verdict: 1, input: 2, infra: 3, sigint: 130, sigterm: 143 } as const;

export interface ExitOptions {
  /** The command's 1 is a verdict on the kernel under test (run, build): a kernel that does not compile is one. */
  kernelVerdict?: boolean;
}

/** The exit status for an error that ended a command. */
export function exitCodeOf(e: unknown, o: ExitOptions = {}): number {
  if (e instanceof InputError) return EXIT.input;
  if (o.kernelVerdict && e instanceof BuildError) return EXIT.verdict;
  return EXIT.infra;
}

/** 130 for SIGINT, 143 for SIGTERM, from the reason an interrupted run recorded. */
export function interruptedCode(reason: string | null | undefined): number {
  return /SIGTERM/.test(reason ?? '') ? EXIT.sigterm : EXIT.sigint;
}

/** The flag that gives each plan setting a workflow may name in an input error. */
const SETTING_FLAGS: Readonly<Record<string, string>> = {
  sshPort: '--ssh-port',
  repeat: '--repeat',
  // The topology's (vm/topology.ts), by the nightly config's key names.
  cpus: '--cpus',
  mem: '--mem',
  numa: '--numa',
  nvdimms: '--nvdimms',
  nvdimmSize: '--nvdimm-size',
  memmap: '--memmap',
  append: '--append',
  // A kernel choice's (kernel/settings.ts).
  source: '--source',
  ref: '--ref',
  series: '--series',
  kernel: '--kernel',
  modules: '--modules',
  kernelPackage: '--kernel-package',
  allowDropped: '--allow-dropped',
  // A suite's (suites/suite.ts SUITE_SETTINGS); ndctl is its tree option.
  suite: '--suite',
  test: '--test',
  fs: '--fs',
  ndctl: '--ndctl',
  // The workflows' (workflows/settings.ts).
  good: '--good',
  bad: '--bad',
  reverse: '--reverse',
  resume: '--resume',
  seconds: '--seconds',
  night: '--night',
  shard: '--shard',
  baseline: '--baseline',
  results: '--results',
  crash: '--crash',
};

/** A setting as the CLI spells it: the flag that gives it (a key without one stays as it is). */
export const flagOf = (key: string): string => SETTING_FLAGS[key] ?? key;

/** An error's message as a command says it: a plan setting by the flag that gives it. */
export function messageOf(e: unknown): string {
  if (e instanceof SettingError && SETTING_FLAGS[e.setting]) return e.named(SETTING_FLAGS[e.setting]!);
  if (e instanceof InputError || e instanceof InfraError) return e.spelled(flagOf);
  return e instanceof Error ? e.message : String(e);
}

function oneLine(s: string): string {
  return lineForTerminal(s.replace(/\s*\n\s*/g, ' ').trim());
}

/** What the user reads for an error: one line for the known kinds, the stack for a harness bug. */
export function errorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (e instanceof InputError || e instanceof InfraError) return oneLine(messageOf(e));
  if (err?.code === 'ENOSPC') {
    return `no space left on the device holding ${err.path ?? 'the results or the cache'}: free some space there (or choose --results, or DAX_HARNESS_CACHE, on a larger disk) and run the same command again`;
  }
  return `internal error: ${err?.stack ?? String(e)}`;
}

/** Print `dax-harness CMD: <error>` (`dax-harness:` without a command) on stderr and return the exit status for it. */
export function reportError(cmd: string, e: unknown, o: ExitOptions = {}): number {
  process.stderr.write(`dax-harness${cmd ? ` ${cmd}` : ''}: ${errorText(e)}\n`);
  return exitCodeOf(e, o);
}

/** A usage mistake found by the command itself: one line, exit 2. */
export function usageError(cmd: string, msg: string): number {
  return reportError(cmd, new InputError(msg));
}

/** The exit-code section of a command's --help: its own 0 and 1, then the shared rest. */
export function exitCodeHelp(own: { 0: string; 1?: string; [code: number]: string | undefined }): string {
  const rows: Array<[string, string]> = [
    ['0', own[0]],
    ...(own[1] ? [['1', own[1]] as [string, string]] : []),
    ['2', 'bad input (usage, a file or tree given, host setup): one line naming the fix'],
    ['3', 'no verdict: the machine, a download, an image build, QEMU or the guest failed'],
    ...Object.entries(own)
      .filter(([k]) => Number(k) > 3)
      .map(([k, v]) => [k, v ?? ''] as [string, string]),
    ['130/143', 'interrupted (SIGINT/SIGTERM)'],
  ];
  return ['Exit codes:', ...rows.map(([c, m]) => `  ${c.padEnd(8)}${m}`)].join('\n');
}
