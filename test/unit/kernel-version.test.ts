// The one kernel-version module: release strings read and compared, and
// Debian package versions ordered as dpkg orders them.
import t from 'tap';
import { compareDebianVersions, compareReleases, compareVersionParts, parseDebianVersion, parseKernelVersion, releaseIndex, versionTriple } from '../../harness/src/kernel/version.ts';

t.test('dpkg ordering: each list is strictly ascending', async (t) => {
  const chains = [
    // Debian policy's own example for ~: ~~ < ~~a < ~ < (nothing) < a
    ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0a'],
    // letters sort before other characters; the end before both
    ['1.0', '1.0a', '1.0+', '1.0+b1'],
    // digit runs compare as numbers, leading zeros aside
    ['1.2.9', '1.2.10', '9.99', '10.0'],
    // a backport (~bpo) comes before the release it is taken from; a binNMU (+b1) after
    ['6.12.6-1~bpo12+1', '6.12.6-1', '6.12.6-1+b1', '6.12.6-2'],
    // Debian's kernel ABI bumps and stable updates
    ['6.1.0-27', '6.1.0-28', '6.1.123-1', '6.1.128-1'],
    // an upstream release candidate packaged with ~
    ['6.13~rc7-1~exp1', '6.13-1~exp1', '6.13.1-1'],
    // the epoch outweighs everything after it
    ['99.0', '1:0.1', '1:0.2', '2:0.0'],
  ];
  for (const chain of chains)
    for (let i = 0; i + 1 < chain.length; i++) {
      t.ok(compareDebianVersions(chain[i]!, chain[i + 1]!) < 0, `${chain[i]} < ${chain[i + 1]}`);
      t.ok(compareDebianVersions(chain[i + 1]!, chain[i]!) > 0, `${chain[i + 1]} > ${chain[i]}`);
    }
});

t.test('dpkg equality: a zero epoch, an absent revision and leading zeros change nothing', async (t) => {
  for (const [a, b] of [['1.0', '0:1.0'], ['1.0', '1.0-0'], ['1.01', '1.1'], ['6.1.0-28', '6.1.0-28']]) t.equal(compareDebianVersions(a!, b!), 0, `${a} = ${b}`);
  t.not(compareDebianVersions('1.0', '1.0-1'), 0, 'a revision of 1 is more than none');
});

t.test('dpkg splits epoch at the first colon and revision at the last hyphen', async (t) => {
  t.same(parseDebianVersion('1:6.12.6-1~bpo12+1'), { epoch: 1, upstream: '6.12.6', revision: '1~bpo12+1' });
  t.same(parseDebianVersion('2.0-rc1-3'), { epoch: 0, upstream: '2.0-rc1', revision: '3' });
  t.same(parseDebianVersion('6.1'), { epoch: 0, upstream: '6.1', revision: '' });
});

t.test('sorting Debian kernels newest first by dpkg rules, not by their upstream part only', async (t) => {
  const vs = ['6.1.0-27', '6.1.0-28', '6.1.0-9'];
  t.same([...vs].sort((a, b) => compareDebianVersions(b, a)), ['6.1.0-28', '6.1.0-27', '6.1.0-9']);
});

t.test('release strings', async (t) => {
  t.same(parseKernelVersion('6.15.0-rc3+'), { major: 6, minor: 15, patch: 0, rc: 3, release: '6.15.0-rc3+' });
  t.equal(parseKernelVersion('6.1.0-28-amd64')!.patch, null, "Debian's ABI-style .0 is no stable update");
  t.equal(parseKernelVersion('6.1.123')!.patch, 123);
  t.equal(parseKernelVersion('v6.14')!.minor, 14, 'a tag');
  t.equal(parseKernelVersion('linux'), null);
  t.same(versionTriple('6.1.0-28-amd64'), [6, 1, 0]);
  t.same(versionTriple('6.15'), [6, 15, 0]);
  t.equal(versionTriple('rc'), null);
  t.ok(compareReleases('6.1.123', '6.1.99') > 0, 'numbers, not text');
  t.ok(compareReleases('6.10', '6.9') > 0);
  t.equal(compareReleases('6.1', '6.1.0'), 0, 'a missing part is 0');
  t.ok(compareVersionParts([5, 19], [6, 0]) < 0);
  t.equal(releaseIndex(6, 0) - releaseIndex(5, 19), 1, '5.19 was followed by 6.0');
  t.equal(releaseIndex(5, 0) - releaseIndex(4, 20), 1, '4.20 by 5.0');
});
