// What Debian offers here, for repro to pick the kernel closest to a report:
// the versioned stock images (linux-image-X-amd64, booted as they are) and the
// linux-source-X.Y packages (built by the kernel pipeline), read from the
// host's apt lists. apt-cache takes a second or two, so the answer is cached
// until apt's lists change (an apt-get update rewrites their directory).
import { compareDebianVersions } from '../../kernel/index.ts';
import { stat, readFile, mkdir } from 'node:fs/promises';
import { run } from '../../host/proc.ts';
import { cacheDir } from '../../host/paths.ts';
import { writeJsonAtomic } from '../../host/fsutil.ts';
import type { DebianKernel } from './kernels.ts';

const LISTS = '/var/lib/apt/lists';

// Flavours that boot in our guest: not cloud (no NVDIMM drivers), rt, -dbg or
// -unsigned twins, nor the metapackages (linux-image-6.12-amd64) that hold no kernel.
const IMAGE = /^linux-image-(\d+\.\d+(?:\.\d+)?[-+][\w.+-]*?)-amd64$/;
const SOURCE = /^linux-source-(\d+\.\d+)$/;

/** Package names apt knows → the ones worth asking about. */
export function kernelPackageNames(names: readonly string[]): string[] {
  return names.filter((n) => (IMAGE.test(n) && !/-(cloud|rt)$/.test(IMAGE.exec(n)![1]!)) || SOURCE.test(n)).sort();
}

function upstream(debVersion: string): string {
  return /^(\d+\.\d+(?:\.\d+)?)/.exec(debVersion)?.[1] ?? debVersion;
}

function stanzas(text: string): Array<{ pkg: string; ver: string }> {
  const out: Array<{ pkg: string; ver: string }> = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const pkg = /^Package:\s*(\S+)/m.exec(stanza)?.[1];
    const ver = /^Version:\s*(\S+)/m.exec(stanza)?.[1];
    if (pkg && ver) out.push({ pkg, ver });
  }
  return out;
}

/**
 * `apt-cache show` stanzas → the kernels, stock ones newest first, then the
 * sources. A stock image counts only when linux-kbuild exists at its version
 * (`kbuild`, from every version apt knows): without it no module of ours can
 * be built for it, and apt keeps only the newest kbuild of a release.
 */
export function parseAptShow(text: string, kbuild: ReadonlySet<string>): DebianKernel[] {
  // Each with its package version: kernels are ordered by it, as dpkg orders them.
  const out: Array<{ k: DebianKernel; ver: string }> = [];
  for (const { pkg, ver } of stanzas(text)) {
    if (IMAGE.test(pkg)) {
      if (kbuild.has(ver)) out.push({ ver, k: { version: upstream(ver), kind: 'stock', argv: ['--kernel-package', pkg], label: `${pkg} ${ver}`, release: pkg.slice('linux-image-'.length) } });
    }
    else if (SOURCE.test(pkg)) out.push({ ver, k: { version: upstream(ver), kind: 'source', argv: ['--source', `debian:${SOURCE.exec(pkg)![1]}`], label: `${pkg} ${ver}` } });
  }
  const seen = new Set<string>();
  return out
    .filter(({ k }) => (seen.has(k.label) ? false : (seen.add(k.label), true)))
    .sort((a, b) => (a.k.kind === b.k.kind ? compareDebianVersions(b.ver, a.ver) : a.k.kind === 'stock' ? -1 : 1))
    .map(({ k }) => k);
}

async function aptCache(args: string[]): Promise<string> {
  const r = await run('apt-cache', args, { timeoutMs: 120_000, reject: false });
  return r.stdout;
}

/** Debian's kernels as the host's apt lists have them (empty when apt knows none). */
export async function debianKernels(): Promise<DebianKernel[]> {
  const lists = await stat(LISTS).catch(() => null);
  const file = cacheDir('repro', 'debian-kernels-v2.json');
  const stamp = lists ? String(lists.mtimeMs) : 'none';
  const cached = await readFile(file, 'utf8')
    .then((t) => JSON.parse(t) as { stamp: string; kernels: DebianKernel[] })
    .catch(() => null);
  if (cached?.stamp === stamp) return cached.kernels;
  const all = (await aptCache(['pkgnames', 'linux-'])).split('\n').map((l) => l.trim());
  const names = kernelPackageNames(all);
  const kbuildNames = all.filter((n) => n.startsWith('linux-kbuild-'));
  const kbuild = new Set(kbuildNames.length ? stanzas(await aptCache(['show', ...kbuildNames])).map((x) => x.ver) : []);
  // One call for every package; a name without a candidate is skipped by apt.
  const kernels = names.length ? parseAptShow(await aptCache(['show', '--no-all-versions', ...names]), kbuild) : [];
  await mkdir(cacheDir('repro'), { recursive: true });
  await writeJsonAtomic(file, { stamp, kernels }).catch(() => {});
  return kernels;
}
