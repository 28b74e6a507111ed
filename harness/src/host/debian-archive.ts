// Debian packages without apt or dpkg (an Ubuntu, Fedora or Arch host): the
// suite's index is read from the mirror over HTTP, the package apt would pick
// is chosen from it, downloaded with fetch and unpacked by parsing the .deb's
// ar container here and handing its data.tar to tar.
//
// What is verified:
// - every .deb's size and SHA256 against its Packages entry;
// - the Packages file's size and SHA256 against the suite's Release file;
// - the Release file itself only when gpgv and debian-archive-keyring are on
//   the host: then InRelease is fetched and its clearsigned text is what is
//   read, as apt does. Without them the Release file is taken as the mirror
//   serves it (plain HTTP), which the log says once per suite: a mirror or a
//   network path able to rewrite it could then choose the packages.
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { cacheDir } from './paths.ts';
import { MissingToolError, run, whichSync } from './proc.ts';
import { FetchError } from '../kernel/errors.ts';
import { compareDebianVersions } from './dpkg-version.ts';
import { envValue } from './env.ts';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface ArchiveSource {
  /** e.g. http://deb.debian.org/debian */
  mirror: string;
  suite: string;
}

/** The suites a bookworm host's stock apt sources list, in apt's order. */
export function defaultSources(env: NodeJS.ProcessEnv = process.env): ArchiveSource[] {
  const mirror = (envValue('DAX_HARNESS_DEBIAN_MIRROR', env) ?? 'http://deb.debian.org/debian').replace(/\/+$/, '');
  // Kernel updates reach bookworm through the security suite first.
  const security = mirror.endsWith('/debian') ? `${mirror}-security` : 'http://deb.debian.org/debian-security';
  return [
    { mirror, suite: 'bookworm' },
    { mirror, suite: 'bookworm-updates' },
    { mirror: security, suite: 'bookworm-security' },
  ];
}

const COMPONENT = 'main';
const ARCH = 'amd64';

/** One package of a Packages index. */
export interface DebEntry {
  package: string;
  version: string;
  /** Path below the mirror root. */
  filename: string;
  sha256: string;
  size: number;
  depends: string;
  /** The mirror it is fetched from. */
  mirror: string;
}

/** RFC 822-style stanzas (Packages, Release): fields by lower-cased name, continuation lines kept. */
export function parseStanzas(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  let cur = new Map<string, string>();
  let last = '';
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (cur.size) out.push(cur);
      cur = new Map();
      last = '';
    } else if (/^[ \t]/.test(line) && last) {
      cur.set(last, `${cur.get(last)}\n${line.trim()}`);
    } else {
      const c = line.indexOf(':');
      if (c <= 0) continue;
      last = line.slice(0, c).toLowerCase();
      cur.set(last, line.slice(c + 1).trim());
    }
  }
  if (cur.size) out.push(cur);
  return out;
}

/** A Packages index → its entries (stanzas without a name, version, file or SHA256 are skipped). */
export function parsePackages(text: string, mirror: string): DebEntry[] {
  const out: DebEntry[] = [];
  for (const s of parseStanzas(text)) {
    const pkg = s.get('package');
    const version = s.get('version');
    const filename = s.get('filename');
    const hash = s.get('sha256');
    const size = Number(s.get('size'));
    if (!pkg || !version || !filename || !hash || !Number.isSafeInteger(size)) continue;
    out.push({ package: pkg, version, filename, sha256: hash.toLowerCase(), size, depends: s.get('depends') ?? '', mirror });
  }
  return out;
}

/** The SHA256 section of a Release file: path → hash and size. */
export function parseReleaseHashes(text: string): Map<string, { sha256: string; size: number }> {
  const out = new Map<string, { sha256: string; size: number }>();
  const field = parseStanzas(text)[0]?.get('sha256') ?? '';
  for (const line of field.split('\n')) {
    const [hash, size, path] = line.trim().split(/\s+/);
    if (hash && size && path && /^[0-9a-f]{64}$/i.test(hash)) out.set(path, { sha256: hash.toLowerCase(), size: Number(size) });
  }
  return out;
}

/** The entry apt would download for `name` (highest version), or the exact version when one is given. */
export function pickEntry(entries: readonly DebEntry[], name: string, version?: string): DebEntry | null {
  let best: DebEntry | null = null;
  for (const e of entries) {
    if (e.package !== name) continue;
    if (version !== undefined) {
      if (e.version === version) return e;
      continue;
    }
    if (!best || compareDebianVersions(e.version, best.version) > 0) best = e;
  }
  return best;
}

/** A GET that answered 200, or the FetchError saying why not. */
async function get(url: string, timeoutMs: number, fix: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new FetchError(`cannot fetch ${url}: ${(e as Error).message}`, 'check network access to the Debian mirror, or set DAX_HARNESS_DEBIAN_MIRROR');
  }
  if (!res.ok || !res.body) throw new FetchError(`${url}: HTTP ${res.status}`, fix);
  return res;
}

async function fetchBytes(url: string): Promise<Buffer> {
  const res = await get(url, 600_000, 'check the mirror (DAX_HARNESS_DEBIAN_MIRROR)');
  return Buffer.from(await res.arrayBuffer());
}

function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Can the Release file's signature be checked on this host? */
export function canVerifySignature(): boolean {
  if (whichSync('gpgv') === null) return false;
  try {
    return statSync(DEBIAN_KEYRING).isFile();
  } catch {
    return false;
  }
}

/** The suite's Release text: signature-checked (InRelease through gpgv) when the host can, else as served. */
async function releaseText(src: ArchiveSource, dir: string, log: (m: string) => void): Promise<string> {
  const base = `${src.mirror}/dists/${src.suite}`;
  if (canVerifySignature()) {
    const signed = join(dir, 'InRelease');
    await writeFile(signed, await fetchBytes(`${base}/InRelease`));
    const r = await run('gpgv', ['--keyring', DEBIAN_KEYRING, '--output', '-', signed], { timeoutMs: 60_000, reject: false });
    if (r.exitCode !== 0)
      throw new FetchError(`the signature of ${base}/InRelease does not verify against ${DEBIAN_KEYRING}: ${r.stderr.trim().split('\n').pop()}`, 'update debian-archive-keyring, or pick another mirror with DAX_HARNESS_DEBIAN_MIRROR');
    return r.stdout;
  }
  log(`note: ${src.suite}'s Release file is not signature-checked (install gpgv and debian-archive-keyring to check it)`);
  return (await fetchBytes(`${base}/Release`)).toString('utf8');
}

/** Decompress a Packages file: .xz with the xz tool, .gz in Node. */
async function decompress(path: string, kind: 'xz' | 'gz'): Promise<string> {
  if (kind === 'gz') return gunzipSync(await readFile(path)).toString('utf8');
  const r = await run('xz', ['-dc', path], { timeoutMs: 300_000 });
  return r.stdout;
}

const indexes = new Map<string, Promise<DebEntry[]>>();

/**
 * One suite's main/binary-amd64 index. The Release file is read each time a
 * process first asks (it is small and says which Packages file is current);
 * the Packages file is cached by its hash, so a new one is fetched only when
 * the suite changed.
 */
export function suiteIndex(src: ArchiveSource, log: (m: string) => void = () => {}): Promise<DebEntry[]> {
  const k = `${src.mirror} ${src.suite}`;
  let p = indexes.get(k);
  if (!p) {
    p = loadSuiteIndex(src, log);
    p.catch(() => indexes.delete(k));
    indexes.set(k, p);
  }
  return p;
}

async function loadSuiteIndex(src: ArchiveSource, log: (m: string) => void): Promise<DebEntry[]> {
  const dir = cacheDir('debian-archive', `${new URL(src.mirror).host}${new URL(src.mirror).pathname}`.replace(/[^A-Za-z0-9._-]/g, '_'), src.suite);
  await mkdir(dir, { recursive: true });
  return packagesFromRelease(src, parseReleaseHashes(await releaseText(src, dir, log)), dir, log);
}

/** The suite's Packages entries, the file fetched (or taken from dir) only if it has the hash Release gives. */
export async function packagesFromRelease(src: ArchiveSource, hashes: Map<string, { sha256: string; size: number }>, dir: string, log: (m: string) => void = () => {}): Promise<DebEntry[]> {
  const xz = whichSync('xz') !== null;
  const kinds: ('xz' | 'gz')[] = xz ? ['xz', 'gz'] : ['gz'];
  for (const kind of kinds) {
    const rel = `${COMPONENT}/binary-${ARCH}/Packages.${kind}`;
    const want = hashes.get(rel);
    if (!want) continue;
    const file = join(dir, `Packages-${want.sha256}.${kind}`);
    const have = await readFile(file).catch(() => null);
    if (!have || sha256Hex(have) !== want.sha256) {
      log(`debian archive: fetching ${src.suite} ${rel}`);
      const got = await fetchBytes(`${src.mirror}/dists/${src.suite}/${rel}`);
      if (got.length !== want.size || sha256Hex(got) !== want.sha256)
        throw new FetchError(`${src.mirror}/dists/${src.suite}/${rel} does not match its Release entry (sha256 ${sha256Hex(got).slice(0, 16)}…, expected ${want.sha256.slice(0, 16)}…)`, 'retry later (the mirror may be mid-update), or pick another with DAX_HARNESS_DEBIAN_MIRROR');
      const part = `${file}.${process.pid}.tmp`;
      await writeFile(part, got);
      await rename(part, file);
      // Superseded indexes (~10 MB each) go; a process still reading one has it in memory.
      for (const old of await readdir(dir)) if (/^Packages-[0-9a-f]{64}\.(xz|gz)$/.test(old) && join(dir, old) !== file) await rm(join(dir, old), { force: true });
    }
    return parsePackages(await decompress(file, kind), src.mirror);
  }
  // Only an .xz index and no xz to read it: the host's setup, said as every missing tool is (exit 2).
  if (!xz && hashes.has(`${COMPONENT}/binary-${ARCH}/Packages.xz`)) throw new MissingToolError('xz', 'xz-utils');
  throw new FetchError(`${src.mirror} ${src.suite} lists no ${COMPONENT}/binary-${ARCH}/Packages.${kinds.join(' or .')}`, 'pick another mirror with DAX_HARNESS_DEBIAN_MIRROR');
}

/** The entry apt would choose across the sources: the highest version (or the exact one asked for). */
export async function findPackage(name: string, version?: string, sources = defaultSources(), log: (m: string) => void = () => {}): Promise<DebEntry | null> {
  const all: DebEntry[] = [];
  for (const s of sources) all.push(...(await suiteIndex(s, log)).filter((e) => e.package === name));
  return pickEntry(all, name, version);
}

/** Download one package into dir, refusing it unless its size and SHA256 are the index's. Returns the .deb's path. */
export async function downloadEntry(e: DebEntry, dir: string): Promise<string> {
  const url = `${e.mirror}/${e.filename}`;
  const dest = join(dir, e.filename.split('/').pop()!);
  const res = await get(url, 3600_000, 'run again later: the index may be newer than the mirror');
  const hash = createHash('sha256');
  const body = Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream);
  body.on('data', (c: Buffer) => hash.update(c));
  await pipeline(body, createWriteStream(`${dest}.part`));
  await verifyDeb(`${dest}.part`, e, hash.digest('hex'));
  await rename(`${dest}.part`, dest);
  return dest;
}

/** Refuse a downloaded file whose size or hash differ from the index entry (it is deleted). */
export async function verifyDeb(path: string, e: Pick<DebEntry, 'package' | 'version' | 'sha256' | 'size'>, digest?: string): Promise<void> {
  const size = (await stat(path)).size;
  const got = digest ?? (await hashFile(path));
  if (size !== e.size || got !== e.sha256) {
    await rm(path, { force: true });
    throw new FetchError(`${e.package} ${e.version}: the download does not match the archive's index (sha256 ${got.slice(0, 16)}…, ${size} bytes; expected ${e.sha256.slice(0, 16)}…, ${e.size} bytes)`, 'run again; if it persists, the mirror serves a wrong file: set DAX_HARNESS_DEBIAN_MIRROR to another');
  }
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/** A member of an ar archive: name and where its data lies in the file. */
export interface ArMember {
  name: string;
  offset: number;
  size: number;
}

/** The members of an ar archive (a .deb is one): "!<arch>\n", then 60-byte headers, data padded to even. */
export async function arMembers(path: string): Promise<ArMember[]> {
  const fh = await open(path, 'r');
  try {
    const total = (await fh.stat()).size;
    const magic = Buffer.alloc(8);
    await fh.read(magic, 0, 8, 0);
    if (magic.toString('latin1') !== '!<arch>\n') throw new FetchError(`${path} is not an ar archive (a .deb)`, 'delete it and download it again');
    const out: ArMember[] = [];
    let pos = 8;
    const hdr = Buffer.alloc(60);
    while (pos + 60 <= total) {
      await fh.read(hdr, 0, 60, pos);
      if (hdr.toString('latin1', 58, 60) !== '`\n') throw new FetchError(`${path}: bad ar member header at byte ${pos}`, 'delete it and download it again');
      const name = hdr.toString('latin1', 0, 16).trim().replace(/\/$/, '');
      const size = Number(hdr.toString('latin1', 48, 58).trim());
      if (!Number.isSafeInteger(size) || size < 0 || pos + 60 + size > total) throw new FetchError(`${path}: ar member ${name} runs past the end`, 'delete it and download it again');
      out.push({ name, offset: pos + 60, size });
      pos += 60 + size + (size % 2);
    }
    return out;
  } finally {
    await fh.close();
  }
}

/**
 * Unpack a .deb's files under dest (what `dpkg-deb -x` does), or only the
 * given members of its data tarball. tar recognises the compression
 * (xz, zstd, gzip) from the copied member's content.
 */
export async function extractDeb(deb: string, dest: string, members: string[] = [], timeoutMs = 1800_000): Promise<void> {
  const data = (await arMembers(deb)).find((m) => /^data\.tar(\.\w+)?$/.test(m.name));
  if (!data) throw new FetchError(`${deb} holds no data.tar member`, 'delete it and download it again');
  await mkdir(dest, { recursive: true });
  const tarball = `${deb}.${data.name}`;
  try {
    if (data.size > 0) await pipeline(createReadStream(deb, { start: data.offset, end: data.offset + data.size - 1 }), createWriteStream(tarball));
    else await writeFile(tarball, '');
    await run('tar', ['-xf', tarball, '-C', dest, '--no-same-owner', ...members], { timeoutMs });
  } finally {
    await rm(tarball, { force: true });
  }
}
