import t from 'tap';
import { availableParallelism } from 'node:os';
import { defaultMakeJobs, guestStarted, makeJobs, runningGuestCpus } from '../../harness/src/host/cores.ts';

t.test('default -j: cores minus the vCPUs of running guests, at least 1', async (t) => {
  t.equal(defaultMakeJobs(16, 0), 16);
  t.equal(defaultMakeJobs(16, 4), 12);
  t.equal(defaultMakeJobs(2, 2), 1, 'guests using every core still leave one job');
  t.equal(defaultMakeJobs(2, 8), 1, 'more vCPUs than cores: still one job');
  t.equal(defaultMakeJobs(1, 0), 1);
});

t.test('running guests are counted while they run', async (t) => {
  t.equal(runningGuestCpus(), 0);
  const a = guestStarted(2);
  const b = guestStarted(3);
  t.equal(runningGuestCpus(), 5);
  a();
  t.equal(runningGuestCpus(), 3);
  a();
  t.equal(runningGuestCpus(), 3, 'ending a guest twice does not uncount another');
  b();
  t.equal(runningGuestCpus(), 0);
});

t.test('an explicit --jobs wins; otherwise the default is computed at the call', async (t) => {
  t.equal(makeJobs(7), 7);
  const cores = availableParallelism();
  t.equal(makeJobs(), Math.max(1, cores));
  const off = guestStarted(1);
  t.equal(makeJobs(), Math.max(1, cores - 1));
  off();
});
