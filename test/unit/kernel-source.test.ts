import t from 'tap';
import { cutDebianGitignoreTail, parseSourceSpec } from '../../harness/src/kernel/source.js';
import { firstErrors } from '../../harness/src/kernel/build.js';
import { buildKey } from '../../harness/src/kernel/index.js';
import { SourceError } from '../../harness/src/kernel/errors.js';

t.test('source specs: Debian versions and paths', async (t) => {
  t.same(parseSourceSpec('debian:6.1'), { kind: 'debian', version: '6.1' });
  t.same(parseSourceSpec('6.12'), { kind: 'debian', version: '6.12' });
  t.match(parseSourceSpec('/src/linux'), { kind: 'git', path: '/src/linux' });
  t.throws(() => parseSourceSpec('debian:bookworm'), SourceError);
});

t.test("Debian's blanket .gitignore tail is cut, upstream rules kept", async (t) => {
  const upstream = '# kernel\n*.o\n*.ko\n/vmlinux\n\n# Rust analyzer configuration\n/rust-project.json\n';
  const debian = upstream + '\n#\n# Debian directory (make-kpkg stores build-time files here)\n#\n/*\n!/debian/\n';
  const cut = cutDebianGitignoreTail(debian);
  t.equal(cut.trimEnd(), upstream.trimEnd());
  t.notMatch(cut, /^\/\*$/m);
  t.equal(cutDebianGitignoreTail(upstream), upstream);
});

t.test('firstErrors picks compiler errors before make noise', async (t) => {
  const log = [
    '  CC      fs/dax.o',
    "fs/dax.c:60:9: error: 'foo' undeclared (first use in this function)",
    '   60 |         foo;',
    'make[3]: *** [scripts/Makefile.build:250: fs/dax.o] Error 1',
    'make[2]: *** [scripts/Makefile.build:500: fs] Error 2',
  ].join('\n');
  t.same(firstErrors(log), ["fs/dax.c:60:9: error: 'foo' undeclared (first use in this function)"]);
  t.same(firstErrors('ld: x.o: undefined reference to `bar\'\nmake: *** Error 2'), ["ld: x.o: undefined reference to `bar'"]);
  t.same(firstErrors('make[1]: *** [Makefile:1] Error 2'), ['make[1]: *** [Makefile:1] Error 2']);
});

t.test('build keys depend on commit, series and config only', async (t) => {
  const k = buildKey('c1', 's1', 'cfg');
  t.equal(k, buildKey('c1', 's1', 'cfg'));
  t.not(k, buildKey('c2', 's1', 'cfg'));
  t.not(k, buildKey('c1', null, 'cfg'));
  t.not(k, buildKey('c1', 's1', 'cfg2'));
  t.equal(k.length, 24);
});
