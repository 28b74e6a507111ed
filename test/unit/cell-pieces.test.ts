// Pieces of the run primitive that need no guest: a setting refused below
// the CLI reads with the CLI's flag, the fault module is asked for by its
// command-line word only, and a cut test's signal fires for the command
// running now while later commands get a fresh one.
import t from 'tap';
import { SettingError, InputError } from '../../harness/src/host/errors.ts';
import { messageOf, errorText, exitCodeOf } from '../../harness/src/cli/exit.ts';
import { PortInUseError } from '../../harness/src/vm/machine.ts';
import { prepareHarnessModules, wantsFaults } from '../../harness/src/suites/harness-modules.ts';
import { TestSignal } from '../../harness/src/workflows/cell/stall.ts';
import type { KernelArtifact } from '../../harness/src/results/records.ts';

t.test('a setting below the CLI is said in prose; the CLI says its flag', async (t) => {
  const e = new SettingError('repeat', 'the repeat count', 0, 'is not a whole number of 1 or more');
  t.ok(e instanceof InputError);
  t.equal(e.message, 'the repeat count 0 is not a whole number of 1 or more');
  t.equal(messageOf(e), '--repeat 0 is not a whole number of 1 or more');
  t.equal(errorText(e), '--repeat 0 is not a whole number of 1 or more');
  t.equal(exitCodeOf(e), 2);
  // A setting the CLI gives no flag for keeps the workflow's words.
  const other = new SettingError('budget', 'the budget', 5, 'is too small');
  t.equal(messageOf(other), 'the budget 5 is too small');
  t.equal(messageOf(new Error('plain')), 'plain');
});

t.test('a port taken when QEMU binds it reads like one taken at the check', async (t) => {
  const e = new PortInUseError(2222);
  t.equal(e.message, 'the ssh port 2222 is taken on 127.0.0.1: pick another or leave it out to get a free one');
  t.equal(messageOf(e), '--ssh-port 2222 is taken on 127.0.0.1: pick another or leave it out to get a free one');
});

t.test('the fault module is wanted only for its command-line word', async (t) => {
  t.equal(wantsFaults(['daxh.fault=warn']), true);
  t.equal(wantsFaults(['quiet', 'daxh.fault=softlockup:100']), true);
  t.equal(wantsFaults(['quiet', 'daxh.faults=1', 'xdaxh.fault=warn']), false);
  t.equal(wantsFaults([]), false);
  // Nothing asked: nothing is built (a kernel that cannot build modules is never touched).
  const kernel = { key: 'k', release: '6.1.0' } as KernelArtifact;
  t.same(await prepareHarnessModules(kernel, { census: false, cmdline: ['quiet'] }, () => {}), { census: null, bootFiles: [] });
});

t.test('a cut fires the running command and leaves later ones a fresh signal', async (t) => {
  const pass = new AbortController();
  const s = new TestSignal(pass.signal);
  const first = s.signal;
  s.cut(new Error('stall'));
  t.equal(first.aborted, true);
  t.equal((first.reason as Error).message, 'stall');
  const second = s.signal;
  t.not(second, first);
  t.equal(second.aborted, false);
  pass.abort(new Error('pass over'));
  t.equal(second.aborted, true);
  t.equal((second.reason as Error).message, 'pass over');
  // After the pass ended, a cut still leaves no live signal behind.
  s.cut(new Error('late'));
  t.equal(s.signal.aborted, true);
});
