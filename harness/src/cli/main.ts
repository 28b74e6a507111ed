// dax-harness: one subcommand per file; this only dispatches.
// Commands load on demand: `run` pulls in the whole harness, parse-log only the oracle.

const USAGE = `usage: dax-harness <command> [options]

commands:
  run         boot a guest with emulated pmem and run DAX tests (default: Debian's stock kernel)
  parse-log   find kernel crash reports in a console log or a pasted crash mail
  build       build a kernel from a tree + patch series + config profile
  nightly     run a config's matrix as one night, judged against earlier nights
  merge       combine the shards of one night
  results     list, show, diff and report nights and runs; a test's history
  bisect      find the patch (or commit) that made a flaky DAX crash appear, or the one that fixed it
  repro       reproduce a crash from the report as mailed: rank tests from it and run them until it recurs
  shell       run's guest with a shell in it (or one command: shell -- CMD), the oracle watching
  attach      another shell in a guest that is up (run --keep, or a shell session's)
  stop        end a guest left up by run --keep (or a shell session's)
  cache       list the cache's kernels, images and build trees with sizes and ages; prune them

Run 'dax-harness <command> --help' for a command's manual.`;

type Command = (argv: string[]) => Promise<number>;

async function load(name: string): Promise<Command | null> {
  switch (name) {
    case 'run':
      return (await import('./run.ts')).runCommand;
    case 'parse-log':
      return (await import('./parse-log.ts')).parseLogCommand;
    case 'build':
      return (await import('./build.ts')).buildCommand;
    case 'nightly':
      return (await import('./nightly.ts')).nightlyCommand;
    case 'merge':
      return (await import('./merge.ts')).mergeCommand;
    case 'results':
      return (await import('./results.ts')).resultsCommand;
    case 'bisect':
      return (await import('./bisect.ts')).bisectCommand;
    case 'repro':
      return (await import('./repro.ts')).reproCommand;
    case 'cache':
      return (await import('./cache.ts')).cacheCommand;
    case 'shell':
      return (await import('./shell.ts')).shellCommand;
    case 'attach':
      return (await import('./attach.ts')).attachCommand;
    case 'stop':
      return (await import('./attach.ts')).stopCommand;
    default:
      return null;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  const fn = await load(cmd);
  if (!fn) {
    console.error(`dax-harness: unknown command "${cmd}": use run, parse-log, build, nightly, merge or results (dax-harness --help)`);
    return 2;
  }
  try {
    return await fn(rest);
  } catch (e) {
    // An escaped throw would exit 1, which bisect, repro and parse-log give a meaning to.
    console.error(`dax-harness ${cmd}: internal error: ${(e as Error)?.stack ?? String(e)}`);
    return 3;
  }
}
