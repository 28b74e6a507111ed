// What every command declares once: its options (the parseArgs spec), its
// manual, its examples and the meaning of its exit codes 0 and 1. From that
// one declaration come the --help text (examples and the shared exit-code
// table appended) and the parsing, with one line naming the option and the
// fix (exit 2) for every mistake parseArgs finds, instead of its raw message.
// Every command also takes --quiet and --verbose (OUTPUT_OPTIONS), documented
// once for all in each --help.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { exitCodeHelp, usageError } from './exit.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends Options = Options> {
  /** The command's name, as typed after dax-harness. */
  name: string;
  options: O;
  /** Whether it takes operands (files, ids, subcommands). */
  positionals: boolean;
  /** The manual: usage lines and what each option does. */
  manual: string;
  /** Command lines with what each does; printed under "examples:". */
  examples: ReadonlyArray<readonly [string, string]>;
  /** Said after an unknown option or argument (e.g. where a guest command goes). */
  hint?: string;
  /** What 0 and 1 (and any code of its own above 3) mean for this command. */
  exit: { 0: string; 1?: string; [code: number]: string | undefined };
}

/** The options every command takes: how much it says on stderr. */
export const OUTPUT_OPTIONS = {
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

const OUTPUT_HELP = `every command:
  -q, --quiet           no progress lines: only the result and errors
  -v, --verbose         also the detail that is hidden otherwise (make's output
                        while a kernel builds)`;

/** Declared with the options' literal types kept, so the parsed values are typed; --quiet and --verbose added. */
export function defineCommand<const O extends Options>(spec: CommandSpec<O>): CommandSpec<O & typeof OUTPUT_OPTIONS> {
  return { ...spec, options: { ...spec.options, ...OUTPUT_OPTIONS } };
}

/** The --help text: the manual, the examples, the exit codes. */
export function helpText(spec: CommandSpec): string {
  const width = Math.max(...spec.examples.map(([c]) => c.length));
  // All on one line each when they fit in 100 columns, else each what under its command: one layout per manual.
  const inline = spec.examples.every(([, what]) => width + 6 + what.length <= 100);
  const examples = spec.examples.map(([c, what]) => (inline ? `  ${c.padEnd(width)}  # ${what}` : `  ${c}\n      # ${what}`));
  return [spec.manual.trimEnd(), '', OUTPUT_HELP, '', 'examples:', ...examples, '', exitCodeHelp(spec.exit)].join('\n');
}

/** Edit distance, for "did you mean": options are short, so the square table is nothing. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** The known option nearest to a mistyped one, when it is near enough to be the one meant. */
export function nearestOption(given: string, options: readonly string[]): string | null {
  const name = given.replace(/^-+/, '').split('=')[0]!;
  let best: string | null = null;
  let bestD = Infinity;
  for (const o of options) {
    const d = o.startsWith(name) && name.length >= 3 ? 0.5 : distance(name, o);
    if (d < bestD) [best, bestD] = [o, d];
  }
  return best !== null && bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : null;
}

const QUOTE = /["'`]/;

/**
 * One line for a parseArgs error: the option (or argument) it is about and
 * what to type instead. parseArgs' own text is several lines, speaks of
 * "positional arguments" and does not know the command.
 */
export function argsErrorLine(spec: CommandSpec, argv: readonly string[], e: Error & { code?: string }): string {
  const quoted = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  const token = quoted.split(' ')[0]!;
  const see = `see dax-harness ${spec.name} --help${spec.hint ? `; ${spec.hint}` : ''}`;
  // A quote left in a word: the shell (or a CI file) did not remove it.
  const stray = argv.find((a) => QUOTE.test(a) && (a === token || a.startsWith(`${token}=`) || a === quoted));
  const quoteNote = stray !== undefined ? `; ${JSON.stringify(stray)} holds a quote character the shell did not remove: check the quoting` : '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const near = nearestOption(token, Object.keys(spec.options));
      return `unknown option '${token}'${near ? `: did you mean --${near}?` : ''}${quoteNote} (${see})`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted}': ${spec.name} takes options only${quoteNote} (${see})`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      if (/does not take an argument/.test(e.message)) return `${token} takes no value: give ${token.split('=')[0]} alone (${see})`;
      if (/ambiguous/.test(e.message)) {
        const next = argv[argv.indexOf(token) + 1];
        return `${token} needs a value, but ${JSON.stringify(next ?? '')} follows it: give one, or write ${token}=VALUE for a value that starts with a dash (${see})`;
      }
      return `${token} needs a value: ${token} VALUE (${see})`;
    }
    default:
      return `${e.message.split('\n')[0]} (${see})`;
  }
}

/**
 * argv → the options and operands the spec declares, or the exit status when
 * there is nothing more to do: 0 after printing --help, 2 after a one-line
 * usage error.
 */
export function parseCommand<const O extends Options>(spec: CommandSpec<O>, argv: readonly string[]) {
  try {
    const r = parseArgs({ args: argv as string[], options: spec.options, strict: true, allowPositionals: true });
    if ((r.values as Record<string, unknown>).help === true) {
      process.stdout.write(helpText(spec as unknown as CommandSpec) + '\n');
      return 0;
    }
    const v = r.values as Record<string, unknown>;
    if (v.quiet === true && v.verbose === true) return usageError(spec.name, `--quiet and --verbose ask for opposites: give one (see dax-harness ${spec.name} --help)`);
    if (!spec.positionals && r.positionals.length) {
      const e = Object.assign(new Error(`Unexpected argument '${r.positionals[0]}'`), { code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' });
      return usageError(spec.name, argsErrorLine(spec as unknown as CommandSpec, argv, e));
    }
    return r;
  } catch (e) {
    return usageError(spec.name, argsErrorLine(spec as unknown as CommandSpec, argv, e as Error & { code?: string }));
  }
}
