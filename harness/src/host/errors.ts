// The harness's error hierarchy, in two halves that the CLI maps to exit codes
// in one place (cli/exit.ts):
// - InputError: anything the user can fix by changing the command line, a file
//   they pointed at, or their host setup (exit 2, one line naming the fix);
// - InfraError: good input, but the machine or a tool under the harness failed
//   (a download, an image build, a full disk, a guest environment): exit 3.
// Anything else that escapes is a harness bug: exit 3 with its stack.

export class InputError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Bad input in one setting of a plan. A workflow says it by the setting's
 * name ("the ssh port 22 is taken ..."), knowing nothing of flags; the CLI
 * says it by the flag that gave it (`named`), so the user reads the word
 * they typed.
 */
export class SettingError extends InputError {
  constructor(
    /** The plan field it is about (sshPort, repeat). */
    readonly setting: string,
    /** How the setting reads in prose ("the ssh port"). */
    what: string,
    readonly value: unknown,
    /** What is wrong and the fix, after the value ("is taken on 127.0.0.1: pick another"). */
    readonly problem: string,
  ) {
    super(`${what} ${String(value)} ${problem}`);
  }

  /** The message with the setting called by another name (a command's flag). */
  named(name: string): string {
    return `${name} ${String(this.value)} ${this.problem}`;
  }
}

export class InfraError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
