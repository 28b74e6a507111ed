// The package check by name that the test command's pretest uses: what dpkg
// has not installed is listed, and a host without dpkg is an error, never a pass.
import t from 'tap';
import { missingByName, HostSetupError } from '../../harness/src/host/apt.ts';

t.test('packages dpkg has not installed are listed, installed ones are not', async (t) => {
  // dpkg itself is installed wherever dpkg-query runs.
  t.same(await missingByName(['dpkg', 'no-such-pkg-daxh']), ['no-such-pkg-daxh']);
});

t.test('no dpkg: the list cannot be checked, and that is an error naming it', async (t) => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await t.rejects(missingByName(['tmux']), HostSetupError);
    await t.rejects(missingByName(['tmux']), /no dpkg to check the packages tmux: install them/);
  } finally {
    process.env.PATH = path;
  }
});
