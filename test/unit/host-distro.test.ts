import t from 'tap';
import { candidatePaths, familyOf, installLine, isDebianProper, packageName, parseOsRelease } from '../../harness/src/host/distro.ts';

const os = (text: string) => familyOf(parseOsRelease(text));

t.test('the family from os-release: ID, else ID_LIKE', async (t) => {
  t.equal(os('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'), 'debian');
  t.equal(os('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n'), 'debian');
  t.equal(os('ID=linuxmint\nID_LIKE="ubuntu debian"\n'), 'debian');
  t.equal(os('ID=fedora\nVERSION_ID=40\n'), 'fedora');
  t.equal(os('ID="rocky"\nID_LIKE="rhel centos fedora"\n'), 'fedora');
  t.equal(os('ID=arch\n'), 'arch');
  t.equal(os("ID='manjaro'\nID_LIKE=arch\n"), 'arch');
  t.equal(os('ID=nixos\n'), 'unknown');
  t.equal(os(''), 'unknown');
});

t.test("each family's names in the install line", async (t) => {
  const needs = ['qemu-system-x86', 'e2fsprogs', 'xfsprogs', 'bubblewrap', 'busybox-static', 'dropbear-bin', 'ndctl', 'daxctl', 'gcc-12'];
  t.equal(installLine(needs, 'debian'), 'apt-get install -y --no-install-recommends qemu-system-x86 e2fsprogs xfsprogs bubblewrap busybox-static dropbear-bin ndctl daxctl gcc-12');
  t.equal(installLine(needs, 'fedora'), 'dnf install -y qemu-system-x86-core e2fsprogs xfsprogs bubblewrap busybox dropbear ndctl daxctl gcc');
  t.equal(installLine(needs, 'arch'), 'pacman -S --needed qemu-system-x86 e2fsprogs xfsprogs bubblewrap busybox dropbear ndctl gcc', 'ndctl and daxctl are one Arch package');
  t.match(installLine(['libelf-dev'], 'unknown'), /libelf-dev \(Debian's names\)/);
  t.equal(packageName('libssl-dev', 'fedora'), 'openssl-devel');
  t.equal(packageName('libssl-dev', 'arch'), 'openssl');
});

t.test("a Debian multiarch path is looked for where Fedora and Arch keep it", async (t) => {
  t.same(candidatePaths('/usr/lib/x86_64-linux-gnu/libc.a'), ['/usr/lib/x86_64-linux-gnu/libc.a', '/usr/lib64/libc.a', '/usr/lib/libc.a']);
  t.same(candidatePaths('/usr/bin/qemu-system-x86_64'), ['/usr/bin/qemu-system-x86_64']);
});

t.test("only Debian itself fetches Debian's kernel with its own apt", async (t) => {
  t.equal(isDebianProper(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')), true);
  // Ubuntu is in the apt family, but its archive has no linux-image-amd64.
  t.equal(isDebianProper(parseOsRelease('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n')), false);
  t.equal(isDebianProper(parseOsRelease('ID="debian"\n')), true);
  t.equal(isDebianProper(parseOsRelease('ID=fedora\n')), false);
  t.equal(isDebianProper(parseOsRelease('')), false);
});
