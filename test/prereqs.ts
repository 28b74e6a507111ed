// `npm test`'s first step (npm runs the pretest script before test): the
// host packages of test/host-packages.txt, through the harness's own package
// check. As root they are installed, as the harness does for its commands;
// otherwise, or where they cannot be checked (no dpkg), one line says what to
// install and the test command stops with exit 2, before hundreds of tests
// fail for a missing tool or pass without having run.
import { readFileSync } from 'node:fs';
import { ensureNamedPackages } from '../harness/src/host/apt.ts';
import { InputError } from '../harness/src/host/errors.ts';

const wanted = readFileSync(new URL('./host-packages.txt', import.meta.url), 'utf8')
  .split('\n')
  .map((l) => l.replace(/#.*/, '').trim())
  .flatMap((l) => (l ? l.split(/\s+/) : []));

try {
  await ensureNamedPackages(wanted, (m) => console.error(`npm test: ${m}`));
} catch (e) {
  if (!(e instanceof InputError)) throw e;
  console.error(`npm test: ${e.message}`);
  process.exit(2);
}
