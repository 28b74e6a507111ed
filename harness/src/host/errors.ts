// The one base class for bad input: anything the user can fix by changing the
// command line, a file they pointed at, or their host setup. CLIs map it to a
// one-line message and exit 2 in one place; every other error is the
// harness's or the machine's problem (exit 3, or 1 for a failed build).

export class InputError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
