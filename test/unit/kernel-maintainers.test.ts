// Maintainers for a report's Cc: the parser on outputs of the shape
// get_maintainer.pl prints, and the runner on a tree whose script is ours: it
// gets the options and the names it should, the names a patch could turn into
// options or paths outside the tree never reach it, and it runs sandboxed
// (the tree is read-only to it). Trees without the script or MAINTAINERS give
// an empty list and say why.
import t from 'tap';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getMaintainers, parseMaintainers, usableFile } from '../../harness/src/kernel/maintainers.ts';

t.test('the parser: names, quoted names, bare lists, each address once, noise skipped', async (t) => {
  const out = [
    'Ann Example <ann@example.org>',
    '"Rafael Q. Person" <rqp@example.net>',
    '"Last, First" <lf@example.com>',
    'Bo Reviewer <bo@example.org> (reviewer:FILESYSTEM DAX)',
    'linux-fsdevel@vger.example.org (open list:FILESYSTEM DAX)',
    'nvdimm@lists.example.dev',
    'ANN@example.org',
    'Warning: Unknown option --xyz',
    '',
    'Name Without Address',
  ].join('\n');
  t.same(parseMaintainers(out), [
    { name: 'Ann Example', address: 'ann@example.org' },
    { name: 'Rafael Q. Person', address: 'rqp@example.net' },
    { name: 'Last, First', address: 'lf@example.com' },
    { name: 'Bo Reviewer', address: 'bo@example.org' },
    { name: null, address: 'linux-fsdevel@vger.example.org' },
    { name: null, address: 'nvdimm@lists.example.dev' },
  ]);
  t.same(parseMaintainers(''), []);
});

t.test('file names a patch could abuse are not handed over', async (t) => {
  for (const f of ['fs/dax.c', 'include/linux/mm.h', 'Documentation/x y.rst']) t.ok(usableFile(f), f);
  for (const f of ['', '/etc/passwd', '../outside', 'fs/../../x', '--git', '-f', 'a\nb', 'tab\there']) t.notOk(usableFile(f), JSON.stringify(f));
});

function tree(opts: { maintainers?: boolean; script?: string | null } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'daxh-maint-'));
  // A kernel tree is readable by others, as a clone makes it (mkdtemp's is not): the script runs as the sandbox user under root.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'fs'));
  mkdirSync(join(dir, 'scripts'));
  mkdirSync(join(dir, 'mm'));
  writeFileSync(join(dir, 'fs', 'dax.c'), '');
  writeFileSync(join(dir, 'mm', 'memremap.c'), '');
  if (opts.maintainers !== false) writeFileSync(join(dir, 'MAINTAINERS'), 'FILESYSTEM DAX\nF:\tfs/dax.c\n');
  if (opts.script !== null) {
    const p = join(dir, 'scripts', 'get_maintainer.pl');
    writeFileSync(p, opts.script ?? SCRIPT);
    chmodSync(p, 0o755);
  }
  return dir;
}

// Stands in for the kernel's script: a line that is no address (its
// arguments), the entries a real one prints, and a try at what a hostile
// tree's script might do (write into the tree).
const SCRIPT = `#!/usr/bin/perl
open(my $f, '>', 'written-by-script') and print $f "x";
print "ARGS: ", join("|", @ARGV), "\\n";
print "Dan Example <dan\\@example.org>\\n";
print "\\"Doe, Jane\\" <jane\\@example.com>\\n";
print "nvdimm\\@lists.example.dev\\n";
`;

t.test('the tree script, sandboxed: options, names, and nothing written', async (t) => {
  const dir = tree();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await getMaintainers(dir, ['fs/dax.c', 'mm/memremap.c', 'mm/gone.c', '--git', '../../etc/passwd', 'fs/dax.c']);
  t.equal(r.reason, null);
  t.same(r.addresses, [
    { name: 'Dan Example', address: 'dan@example.org' },
    { name: 'Doe, Jane', address: 'jane@example.com' },
    { name: null, address: 'nvdimm@lists.example.dev' },
  ]);
  t.notOk(existsSync(join(dir, 'written-by-script')), 'the tree is read-only to the script');
});

t.test('what the script is given', async (t) => {
  // The script echoes its arguments as the name of an address, so they come back through the parser.
  const dir = tree({ script: '#!/usr/bin/perl\nprint "\\"", join(" ", @ARGV), "\\" <args\\@example.org>\\n";\n' });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await getMaintainers(dir, ['mm/gone.c', 'fs/dax.c', '--git', '../../etc/passwd', 'fs/dax.c', 'mm/memremap.c']);
  t.equal(r.addresses[0]?.name, '--no-rolestats --no-git --no-git-fallback -f -- mm fs/dax.c mm/memremap.c',
    'no roles, no git; the names after --; a deleted file stands as its directory; option look-alikes and climbs out left out; each name once');
});

t.test('trees that cannot say: an empty list and the reason', async (t) => {
  const noMaint = tree({ maintainers: false });
  const noScript = tree({ script: null });
  const failing = tree({ script: '#!/usr/bin/perl\nprint STDERR "The current directory does not appear to be a linux kernel source tree.\\n";\nexit 1;\n' });
  t.teardown(() => [noMaint, noScript, failing].forEach((d) => rmSync(d, { recursive: true, force: true })));
  t.match(await getMaintainers(noMaint, ['fs/dax.c']), { addresses: [], reason: /has no MAINTAINERS file/ });
  t.match(await getMaintainers(noScript, ['fs/dax.c']), { addresses: [], reason: /has no scripts\/get_maintainer\.pl/ });
  t.match(await getMaintainers(failing, ['fs/dax.c']), { addresses: [], reason: /get_maintainer\.pl exited with 1: The current directory does not appear/ });
  t.match(await getMaintainers(noScript, []), { addresses: [], reason: /has no scripts/ }, 'the tree is checked first');
  const full = tree();
  t.teardown(() => rmSync(full, { recursive: true, force: true }));
  t.match(await getMaintainers(full, ['--git', '/abs']), { addresses: [], reason: /none of the culprit's 2 file names can be looked up/ });
  t.match(await getMaintainers(full, []), { addresses: [], reason: /changes no files/ });
});
