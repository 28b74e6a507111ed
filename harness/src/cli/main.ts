// dax-harness: one subcommand per file; this only dispatches.
// Commands load on demand: `run` pulls in the whole harness, parse-log only the oracle.
import { harnessVersion, versionText } from '../host/version.ts';
import { reportError, usageError } from './exit.ts';

type Command = (argv: string[]) => Promise<number>;

/** Every command: its one-line summary (the top-level usage) and its module. */
const COMMANDS: ReadonlyArray<readonly [string, string, () => Promise<Command>]> = [
  ['run', "boot a guest with emulated pmem and run DAX tests (default: Debian's stock kernel)", async () => (await import('./run.ts')).runCommand],
  ['parse-log', 'find kernel crash reports in a console log or a pasted crash mail', async () => (await import('./parse-log.ts')).parseLogCommand],
  ['build', 'build a kernel from a tree + patch series + config profile', async () => (await import('./build.ts')).buildCommand],
  ['nightly', "run a config's matrix as one night, judged against earlier nights", async () => (await import('./nightly.ts')).nightlyCommand],
  ['merge', 'combine the shards of one night', async () => (await import('./merge.ts')).mergeCommand],
  ['results', "list, show, diff and report nights and runs; a test's history", async () => (await import('./results.ts')).resultsCommand],
  ['bisect', 'find the patch (or commit) that made a flaky DAX crash appear, or the one that fixed it', async () => (await import('./bisect.ts')).bisectCommand],
  ['repro', 'reproduce a crash from the report as mailed: rank tests from it and run them until it recurs', async () => (await import('./repro.ts')).reproCommand],
  ['shell', "run's guest with a shell in it (or one command: shell -- CMD), the oracle watching", async () => (await import('./shell.ts')).shellCommand],
  ['attach', 'another shell in a guest that is up (run --keep, or a shell session\'s)', async () => (await import('./attach.ts')).attachCommand],
  ['stop', 'end a guest left up by run --keep (or a shell session\'s)', async () => (await import('./attach.ts')).stopCommand],
  ['cache', "list the cache's kernels, images and build trees with sizes and ages; prune them", async () => (await import('./cache.ts')).cacheCommand],
];

export const COMMAND_NAMES = COMMANDS.map(([n]) => n);

export const USAGE = `usage: dax-harness <command> [options]
       dax-harness help <command>     (the same as dax-harness <command> --help)
       dax-harness --version

commands:
${COMMANDS.map(([n, s]) => `  ${n.padEnd(11)} ${s}`).join('\n')}

Run 'dax-harness <command> --help' for a command's manual: its options,
examples and exit codes.`;

function unknown(cmd: string): number {
  return usageError('', `unknown command "${cmd}": use ${COMMAND_NAMES.slice(0, -1).join(', ')} or ${COMMAND_NAMES.at(-1)} (dax-harness --help)`);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`dax-harness ${versionText(await harnessVersion())}\n`);
    return 0;
  }
  if (cmd === 'help' && rest.length) return main([rest[0]!, '--help']);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  const entry = COMMANDS.find(([n]) => n === cmd);
  if (!entry) return unknown(cmd);
  try {
    return await (await entry[2]())(rest);
  } catch (e) {
    // An escaped throw would exit 1, which bisect, repro and parse-log give a meaning to.
    return reportError(cmd, e);
  }
}
