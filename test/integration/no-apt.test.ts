// A host without apt and dpkg (Ubuntu, Fedora, Arch): `dax-harness run` with
// an empty cache still gets Debian's stock kernel (and the census's headers)
// from the archive over HTTP, picks the version this host's apt would, and
// boots it. apt-get and dpkg are hidden by a PATH of links to everything else
// in /usr/bin; the harness's own additions (/usr/sbin, /sbin) hold neither.
// Needs network access to deb.debian.org. Boots one guest: run it under the
// heavy lock (flock /tmp/daxh-heavy.lock).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunRecord } from '../../harness/src/results/records.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = join(repo, 'harness/bin/dax-harness.js');

const HIDDEN = /^(apt|dpkg)/;

function findRunJson(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile() && e.name === 'run.json') out.push(join(e.parentPath, e.name));
  return out;
}

t.test('no apt-get, no dpkg: the stock kernel comes from the archive and boots', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'daxh-noapt-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const path = join(work, 'bin');
  mkdirSync(path);
  for (const name of readdirSync('/usr/bin')) if (!HIDDEN.test(name)) symlinkSync(join('/usr/bin', name), join(path, name));
  // proc.ts appends these to every PATH: they must not bring the tools back.
  for (const d of ['/usr/local/sbin', '/usr/sbin', '/sbin'])
    for (const tool of ['apt-get', 'apt-cache', 'dpkg', 'dpkg-deb']) t.notOk(existsSync(join(d, tool)), `no ${tool} in ${d}`);
  const cache = join(work, 'cache');
  const results = join(work, 'results');

  // What this host's apt picks (asked with the full PATH): the archive path must agree.
  const show = spawnSync('apt-cache', ['show', '--no-all-versions', 'linux-image-amd64'], { encoding: 'utf8' });
  const expected = /^Depends:\s*(linux-image-\S+) \(= (\S+)\)/m.exec(show.stdout ?? '');

  const r = spawnSync(process.execPath, [bin, 'run', '--results', results], {
    encoding: 'utf8',
    timeout: 3600_000,
    env: { ...process.env, PATH: path, DAX_HARNESS_CACHE: cache },
  });
  const out = `${r.stdout}\n${r.stderr}`;
  t.equal(r.status, 0, out.slice(-3000));
  t.match(out, /debian archive: fetching bookworm main\/binary-amd64\/Packages/, 'the index came from the archive');
  t.notMatch(out, /not signature-checked/, 'gpgv and the keyring are on this host: Release was checked');
  t.notMatch(out, /apt-get|dpkg-deb/, 'neither tool was asked for');

  const runs = findRunJson(results);
  t.equal(runs.length, 1, 'one run recorded');
  const rec = JSON.parse(readFileSync(runs[0]!, 'utf8')) as RunRecord;
  t.equal(rec.status, 'pass', `run ${basename(dirname(runs[0]!))}`);
  t.equal(rec.kernel?.kind, 'debian-stock');
  if (expected) t.equal(rec.kernel?.key, `debian:${expected[1]}:${expected[2]}`, "the version apt would have chosen");
  else t.fail(`apt-cache on this host did not name the stock kernel: ${show.stderr}`);
  t.ok(readdirSync(join(cache, 'kernels', 'debian')).length === 1, 'unpacked into the fresh cache');
});
