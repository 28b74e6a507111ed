// `dax-harness shell`: run's guest for a person (or one command). Parsing,
// the terminal and exit codes here; the work is in workflows/shell.ts.
import { resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { InputError } from '../host/errors.ts';
import { defaultResultsRoot } from '../host/paths.ts';
import { RunInputError, DEFAULT_SUITE, checkSuiteOptions, type DaxFs } from '../workflows/run.ts';
import { runShell, shellExitCode, SHELL_SETUPS, type ShellSetup } from '../workflows/shell.ts';
import { GUEST_OPTIONS, GUEST_HELP, KERNEL_HELP, guestFromArgs } from './run-options.ts';
import { lineForTerminal } from '../host/terminal.ts';
import { defineCommand, parseCommand } from './command.ts';
import { messageOf, reportError } from './exit.ts';
import { progressPrinter, verbosityOf, type Printer } from './progress.ts';

export const SHELL_HELP = `usage: dax-harness shell [options] [-- COMMAND [ARG...]]

Boots the guest 'dax-harness run' would boot (the same kernel, image and topology
options), prepares the namespace and filesystem as a suite would, and opens a
shell in it over ssh with a pty: the window size follows your terminal, and
Ctrl-C, Ctrl-Z and the like reach the guest's programs, not the harness. The
live oracle watches the console meanwhile: a kernel report is printed on the
terminal as it happens and recorded in the run directory (run.json, console.log),
as for any run. Others can join with 'dax-harness attach RUN' while it is up.

With -- COMMAND the command runs in the guest instead (no pty, its output on
yours) and its exit status is the harness's, so that
  git bisect run dax-harness shell --source ~/linux --put ./mytest -- /tmp/mytest
works: see the exit codes below.

${KERNEL_HELP}

guest (as for run; with none of the topology options, the guest of --suite):
${GUEST_HELP}
  --suite NAME           whose guest to boot: smoke (default) or stressors, the initramfs guest;
                         ndctl, the rootfs guest with nfit_test (needs --ndctl PATH)
  --ndctl PATH           your ndctl git tree (built on the host and shared into the guest)

setup:
  --setup MODE           fsdax (default): an fsdax namespace with --fs made on it and
                         mounted -o dax on /mnt/dax (DAX checked on);
                         devdax: a devdax namespace (/dev/daxX.Y); none: nothing
  --fs ext4|xfs          the filesystem for --setup fsdax (default ext4)
  --put FILE             copy a host file to /tmp/ in the guest (executable) first; repeatable
  --results DIR          where the run directory goes (default: results/ in the repo)

With -- COMMAND, when the command could not run or finish: 1 if the kernel
reported (the kernel is bad), 125 if nothing is known (the guest never came up
or the setup failed, with no kernel report: git bisect run skips that commit).`;

export const SHELL_SPEC = defineCommand({
  name: 'shell',
  options: {
    ...GUEST_OPTIONS,
    suite: { type: 'string', default: DEFAULT_SUITE },
    ndctl: { type: 'string' },
    setup: { type: 'string', default: 'fsdax' },
    fs: { type: 'string', default: 'ext4' },
    put: { type: 'string', multiple: true },
    results: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  positionals: false,
  hint: 'a command goes after --',
  manual: SHELL_HELP,
  examples: [
    ['dax-harness shell', 'a shell in the guest, ext4 mounted -o dax on /mnt/dax'],
    ['dax-harness shell --source ~/linux --setup devdax', 'your tree, a devdax namespace'],
    ['git bisect run dax-harness shell --source ~/linux --put ./mytest -- /tmp/mytest', 'bisect with your own test'],
  ],
  exit: {
    0: "interactive: the login shell's exit status (0 when dax-harness stop ended it); with -- COMMAND: the command's",
    1: 'a kernel report ended the guest',
    125: 'with -- COMMAND: nothing known (the guest never came up, no kernel report)',
  },
});

export async function shellCommand(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const mine = dash >= 0 ? argv.slice(0, dash) : argv;
  const command = dash >= 0 ? argv.slice(dash + 1) : null;
  const parsed = parseCommand(SHELL_SPEC, mine);
  if (typeof parsed === 'number') return parsed;
  const a = parsed.values;
  const interactive = command === null;
  const tty = interactive && Boolean(process.stdin.isTTY);
  // In raw mode the terminal does not turn \n into a new line.
  // Guest text (crash titles, reasons) reaches these lines: cleaned, one line each.
  const say = (line: string) => process.stderr.write(`${lineForTerminal(line)}${tty ? '\r\n' : '\n'}`);
  let progress: Printer | undefined;
  try {
    if (command !== null && command.length === 0) throw new RunInputError('nothing after --: give the command to run in the guest');
    const suite = a.suite!;
    checkSuiteOptions({ suite, tree: a.ndctl, fs: [a.fs!] });
    if (!SHELL_SETUPS.includes(a.setup as ShellSetup)) throw new RunInputError(`--setup "${a.setup}" is not ${SHELL_SETUPS.join(', ')}`);
    const put = (a.put ?? []).map((f) => resolve(f));
    for (const f of put) {
      if (!(await stat(f).catch(() => null))?.isFile()) throw new RunInputError(`--put ${f}: no such file (give a file on this host to copy into the guest)`);
    }
    const guest = await guestFromArgs(a);
    progress = progressPrinter({ write: say, verbosity: verbosityOf(a) });
    const out = await runShell({
      plan: {
        ...guest,
        suite,
        ...(a.ndctl ? { ndctl: resolve(a.ndctl) } : {}),
        // Nothing is unmounted under the harness's eyes: the person decides.
        census: false,
      },
      setup: a.setup as ShellSetup,
      fs: a.fs as DaxFs,
      command,
      put,
      resultsRoot: a.results ? resolve(a.results) : defaultResultsRoot(),
      terminal: { stdin: process.stdin, stdout: process.stdout },
      say,
      progress: (phase, msg) => progress!(msg, phase),
    });
    const code = shellExitCode(out);
    say(`run ${out.record.status}${out.record.reason ? ` — ${out.record.reason}` : ''}; details: ${out.runDir}`);
    if (interactive) {
      if (out.record.status === 'interrupted') return code;
      if (out.status === null) return out.record.crashes.some((c) => c.fatal) ? 1 : out.ended && /dax-harness stop/.test(out.ended) ? 0 : 3;
      return out.status;
    }
    return code;
  } catch (e) {
    if (e instanceof InputError || interactive) return reportError('shell', e);
    // git bisect run reads 125 as "this commit cannot be tested": it skips it.
    say(`dax-harness shell: ${messageOf(e).split('\n')[0]}`);
    return 125;
  } finally {
    progress?.close();
  }
}
