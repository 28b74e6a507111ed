// Debian packages without apt: index parsing, apt's version choice, hash
// checks and .deb unpacking, against a mirror served from a temp directory.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { mkdtemp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  arMembers,
  downloadEntry,
  extractDeb,
  packagesFromRelease,
  parsePackages,
  parseReleaseHashes,
  pickEntry,
  verifyDeb,
  type DebEntry,
} from '../../harness/src/host/debian-archive.ts';
import { imagePackageOf } from '../../harness/src/kernel/stock.ts';
import { compareDebianVersions } from '../../harness/src/host/dpkg-version.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const PACKAGES = `Package: linux-image-amd64
Source: linux-signed-amd64 (6.1.119+1)
Version: 6.1.119-1
Installed-Size: 13
Depends: linux-image-6.1.0-28-amd64 (= 6.1.119-1)
Description: Linux for 64-bit PCs (meta-package)
 This package depends on the latest Linux kernel
 .
 and modules for use on PCs.
Filename: pool/main/l/linux-signed-amd64/linux-image-amd64_6.1.119-1_amd64.deb
Size: 1484
SHA256: ${'a'.repeat(64)}

Package: linux-image-6.1.0-28-amd64
Version: 6.1.119-1
Filename: pool/main/l/linux-signed-amd64/linux-image-6.1.0-28-amd64_6.1.119-1_amd64.deb
Size: 70000000
SHA256: ${'B'.repeat(64)}

Package: broken-no-hash
Version: 1
Filename: pool/x.deb
Size: 3
`;

t.test('Packages index: fields, continuation lines, incomplete stanzas skipped', async (t) => {
  const e = parsePackages(PACKAGES, 'http://m/debian');
  t.equal(e.length, 2, 'the stanza without SHA256 is left out');
  t.same(e[0], {
    package: 'linux-image-amd64',
    version: '6.1.119-1',
    filename: 'pool/main/l/linux-signed-amd64/linux-image-amd64_6.1.119-1_amd64.deb',
    sha256: 'a'.repeat(64),
    size: 1484,
    depends: 'linux-image-6.1.0-28-amd64 (= 6.1.119-1)',
    mirror: 'http://m/debian',
  });
  t.equal(e[1]!.sha256, 'b'.repeat(64), 'hashes compared in lower case');
  t.equal(imagePackageOf(e[0]!.depends), 'linux-image-6.1.0-28-amd64', 'the metapackage names the versioned image');
  t.equal(imagePackageOf('linux-image-6.1.0-28-amd64-unsigned (= 6.1.119-1) | linux-image-6.1.0-28-amd64'), 'linux-image-6.1.0-28-amd64-unsigned');
});

t.test('Release: the SHA256 section only', async (t) => {
  const release = `Origin: Debian
Suite: stable
MD5Sum:
 ${'0'.repeat(32)}  1000 main/binary-amd64/Packages.xz
SHA256:
 ${'c'.repeat(64)}   9123456 main/binary-amd64/Packages.xz
 ${'d'.repeat(64)}        118 main/binary-amd64/Release
`;
  const h = parseReleaseHashes(release);
  t.same([...h.keys()], ['main/binary-amd64/Packages.xz', 'main/binary-amd64/Release']);
  t.same(h.get('main/binary-amd64/Packages.xz'), { sha256: 'c'.repeat(64), size: 9123456 });
});

// Pairs with dpkg's answer (deb-version(7)); checked against dpkg itself below where it is installed.
const ORDERED: [string, string][] = [
  ['6.1.90-1', '6.1.119-1'],
  ['6.1.119-1', '6.1.119-2'],
  ['1.0~rc1', '1.0'],
  ['1.0~~', '1.0~'],
  ['1.0', '1.0-1'],
  ['1.0', '1.0+b1'],
  ['1.0a', '1.0+'],
  ['1.0', '1.0a'],
  ['2.0', '1:0.1'],
  ['1.0-1', '1.0-1.1'],
  ['1.01', '1.2'],
  ['6.1.0-9', '6.1.0-10'],
  ['1.0+deb12u1', '1.0+deb12u10'],
];

t.test('dpkg version order', async (t) => {
  for (const [lo, hi] of ORDERED) {
    t.ok(compareDebianVersions(lo, hi) < 0, `${lo} < ${hi}`);
    t.ok(compareDebianVersions(hi, lo) > 0, `${hi} > ${lo}`);
  }
  t.equal(compareDebianVersions('1.001', '1.1'), 0, 'leading zeros do not count');
  t.equal(compareDebianVersions('0:1.0-1', '1.0-1'), 0, 'epoch 0 is no epoch');
});

t.test('dpkg agrees on every pair', { skip: existsSync('/usr/bin/dpkg') ? false : 'dpkg is not installed here' }, async (t) => {
  for (const [lo, hi] of ORDERED) {
    // dpkg exits 0 when the relation holds.
    t.doesNotThrow(() => execFileSync('dpkg', ['--compare-versions', lo, 'lt', hi]), `dpkg: ${lo} lt ${hi}`);
  }
});

t.test('version choice: the highest across suites, or exactly the one asked for', async (t) => {
  const mk = (version: string, mirror: string): DebEntry => ({ package: 'linux-image-6.1.0-28-amd64', version, filename: `pool/${version}.deb`, sha256: '0'.repeat(64), size: 1, depends: '', mirror });
  const entries = [mk('6.1.119-1', 'main'), mk('6.1.123-1', 'security'), mk('6.1.99-1', 'updates'), { ...mk('9.9', 'x'), package: 'other' }];
  t.equal(pickEntry(entries, 'linux-image-6.1.0-28-amd64')!.mirror, 'security');
  t.equal(pickEntry(entries, 'linux-image-6.1.0-28-amd64', '6.1.99-1')!.mirror, 'updates');
  t.equal(pickEntry(entries, 'linux-image-6.1.0-28-amd64', '6.1.1-1'), null);
  t.equal(pickEntry(entries, 'absent'), null);
});

/** A .deb as dpkg-deb builds one, made with ar and tar; an odd-sized member before data.tar tests ar's padding. */
async function makeDeb(dir: string): Promise<string> {
  const root = join(dir, 'pkgroot');
  await mkdir(join(root, 'boot'), { recursive: true });
  await mkdir(join(root, 'lib', 'modules', '6.1.0-test'), { recursive: true });
  await writeFile(join(root, 'boot', 'vmlinuz-6.1.0-test'), 'not really a kernel\n');
  await writeFile(join(root, 'lib', 'modules', '6.1.0-test', 'modules.order'), 'kernel/x.ko\n');
  await writeFile(join(dir, 'debian-binary'), '2.0\n');
  await writeFile(join(dir, 'control'), 'Package: t\nVersion: 1\n');
  execFileSync('tar', ['-czf', join(dir, 'control.tar.gz'), '-C', dir, 'control']);
  await writeFile(join(dir, 'odd'), 'abc');
  execFileSync('tar', ['-cJf', join(dir, 'data.tar.xz'), '-C', root, '.']);
  const deb = join(dir, 't_1_amd64.deb');
  execFileSync('ar', ['rc', deb, 'debian-binary', 'control.tar.gz', 'odd', 'data.tar.xz'], { cwd: dir });
  return deb;
}

t.test('a .deb unpacked without dpkg: ar members, the data tarball, one member alone', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daxh-deb-'));
  const deb = await makeDeb(dir);
  const members = await arMembers(deb);
  t.same(members.map((m) => m.name), ['debian-binary', 'control.tar.gz', 'odd', 'data.tar.xz']);
  const bytes = await readFile(deb);
  t.equal(bytes.subarray(members[2]!.offset, members[2]!.offset + members[2]!.size).toString(), 'abc');
  const data = members[3]!;
  t.equal(sha(bytes.subarray(data.offset, data.offset + data.size)), sha(await readFile(join(dir, 'data.tar.xz'))), 'data member read whole after the padded odd member');

  const out = join(dir, 'out');
  await extractDeb(deb, out);
  t.equal(await readFile(join(out, 'boot', 'vmlinuz-6.1.0-test'), 'utf8'), 'not really a kernel\n');
  t.same(await readdir(join(out, 'lib', 'modules')), ['6.1.0-test']);
  t.notOk(existsSync(`${deb}.data.tar.xz`), 'the copied tarball is removed');

  const one = join(dir, 'one');
  await extractDeb(deb, one, ['./boot/vmlinuz-6.1.0-test']);
  t.same(await readdir(one), ['boot']);

  const notDeb = join(dir, 'plain.deb');
  await writeFile(notDeb, 'hello, not an archive');
  await t.rejects(arMembers(notDeb), /not an ar archive/);
  const cut = join(dir, 'cut.deb');
  await writeFile(cut, bytes.subarray(0, data.offset + 10));
  await t.rejects(arMembers(cut), /runs past the end/);
});

function serve(files: Map<string, Buffer>): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const body = files.get(req.url ?? '');
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/debian` });
    });
  });
}

t.test('downloads are checked against the index; Packages against Release', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daxh-mirror-'));
  const deb = await readFile(await makeDeb(dir));
  const tampered = Buffer.from(deb);
  tampered[tampered.length - 5] ^= 0xff;
  const packages = Buffer.from(`Package: t\nVersion: 1\nFilename: pool/main/t/t_1_amd64.deb\nSize: ${deb.length}\nSHA256: ${sha(deb)}\n\n`);
  const files = new Map<string, Buffer>([
    ['/debian/pool/main/t/t_1_amd64.deb', deb],
    ['/debian/pool/main/t/evil_1_amd64.deb', tampered],
    ['/debian/dists/bookworm/main/binary-amd64/Packages.gz', gzipSync(packages)],
  ]);
  const { server, url } = await serve(files);
  t.teardown(() => server.close());
  const src = { mirror: url, suite: 'bookworm' };
  const gz = files.get('/debian/dists/bookworm/main/binary-amd64/Packages.gz')!;

  const cache = join(dir, 'cache');
  await mkdir(cache);
  // A .gz-only suite is read in Node; the .xz one needs xz, which this host may lack.
  const good = new Map([['main/binary-amd64/Packages.gz', { sha256: sha(gz), size: gz.length }]]);
  const entries = await packagesFromRelease(src, good, cache);
  t.equal(entries.length, 1);
  const e = entries[0]!;
  t.equal(e.mirror, url);

  const dl = join(dir, 'dl');
  await mkdir(dl);
  const got = await downloadEntry(e, dl);
  t.equal(sha(await readFile(got)), sha(deb));

  // The same index entry served other bytes: refused, nothing left behind.
  await t.rejects(downloadEntry({ ...e, filename: 'pool/main/t/evil_1_amd64.deb' }, dl), /does not match the archive's index/);
  t.same((await readdir(dl)).sort(), ['t_1_amd64.deb']);
  const evil = join(dir, 'evil.deb');
  await writeFile(evil, tampered);
  await t.rejects(verifyDeb(evil, e), /does not match/);
  t.notOk(existsSync(evil), 'a refused file is deleted');

  // A Packages file whose hash is not Release's is refused, even when it parses.
  const bad = new Map([['main/binary-amd64/Packages.gz', { sha256: sha('something else'), size: gz.length }]]);
  await t.rejects(packagesFromRelease(src, bad, join(dir, 'cache2')), /does not match its Release entry/);
  // A Release without main/binary-amd64 says so.
  await t.rejects(packagesFromRelease(src, new Map(), cache), /lists no main\/binary-amd64\/Packages/);
  // Only an .xz index and no xz on PATH: the missing tool named, as an input error (exit 2).
  const onlyXz = new Map([['main/binary-amd64/Packages.xz', { sha256: 'c'.repeat(64), size: 1 }]]);
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await t.rejects(packagesFromRelease(src, onlyXz, cache), { name: 'MissingToolError', message: /host tool "xz" is not installed/ });
  } finally {
    process.env.PATH = path;
  }
});
