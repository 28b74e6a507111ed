// Pure parts of fetching Debian's kernel headers for the census module.
import t from 'tap';
import { headerDeps, compilerFromKernelVariables, rewriteIncludes, parseDebianKey } from '../../harness/src/kernel/headers.ts';

t.test('the stock kernel key names the image package and version', async (t) => {
  t.same(parseDebianKey('debian:linux-image-6.1.0-56-amd64:6.1.192-2'), { pkg: 'linux-image-6.1.0-56-amd64', version: '6.1.192-2' });
  t.equal(parseDebianKey('path:abc'), null);
  t.equal(parseDebianKey('0123abcd'), null);
});

t.test("headers' dependencies to unpack, pinned to the headers' version", async (t) => {
  const dep = 'linux-headers-6.1.0-56-common (= 6.1.192-2), linux-kbuild-6.1 (>= 6.1.192-2), linux-compiler-gcc-12-x86';
  t.same(headerDeps(dep, '6.1.192-2'), ['linux-headers-6.1.0-56-common=6.1.192-2', 'linux-kbuild-6.1=6.1.192-2']);
  t.same(headerDeps('', '1'), []);
});

t.test('the compiler kbuild will call', async (t) => {
  const vars = 'override ARCH = x86\noverride KERNELRELEASE = 6.1.0-56-amd64\nCCACHE = ccache\nCC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12\n';
  t.equal(compilerFromKernelVariables(vars), 'gcc-12');
  t.equal(compilerFromKernelVariables('override ARCH = x86\n'), null);
});

t.test("the arch Makefile's absolute include points into the cache", async (t) => {
  t.equal(
    rewriteIncludes('include /usr/src/linux-headers-6.1.0-56-common/Makefile\n', '/cache/h/root/usr/src'),
    'include /cache/h/root/usr/src/linux-headers-6.1.0-56-common/Makefile\n',
  );
  t.equal(rewriteIncludes('obj-m := x.o\n', '/c'), 'obj-m := x.o\n');
});
