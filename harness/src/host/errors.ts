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

export class InfraError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
