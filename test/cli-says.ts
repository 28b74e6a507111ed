// What the CLI prints for an error thrown below it: settings the error names
// spelled as the CLI's flags (cli/exit.ts). Tests of those errors check this
// text, which is what a user reads, beside the bare message.
import { messageOf } from '../harness/src/cli/exit.ts';

export const cliSays = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return messageOf(e);
  }
  return 'no error';
};
