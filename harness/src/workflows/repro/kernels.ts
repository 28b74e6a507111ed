// The Debian kernel closest to the one a crash was reported on, when the user
// names none, and how close that is. The list of what Debian offers comes
// from the caller (apt); this only chooses. Pure.
import type { KernelVersion } from './facts.ts';
import { parseKernelVersion, releaseIndex } from '../../kernel/index.ts';
export { releaseIndex };

export interface DebianKernel {
  /** Upstream version it builds: "6.1.192", "6.12". */
  version: string;
  /** 'stock': a binary package booted as it is; 'source': a linux-source package the kernel pipeline builds. */
  kind: 'stock' | 'source';
  /** The run/repro options that choose it, e.g. ['--kernel-package', 'linux-image-6.1.0-47-amd64'] or ['--source', 'debian:6.12']. */
  argv: string[];
  /** For people: the package and its version. */
  label: string;
  /** A stock image's `uname -r` (6.1.0-57-amd64): a report from that very kernel names it. */
  release?: string;
}

export interface KernelPick {
  kernel: DebianKernel;
  /** Releases (x.y) between the report's kernel and this one; 0 for the same release. */
  distance: number;
  /** "the same release", "5 releases older", ... */
  closeness: string;
  /** What the difference means for reproducing (one line each). */
  notes: string[];
}

// Releases per major version, for counting the releases between two kernels.
// Where fs-DAX page reference counting changed (dax-test-spec §0): a crash on
// one side may not exist, or look different, on the other.
const DAX_BOUNDARIES: Array<{ major: number; minor: number; what: string }> = [{ major: 6, minor: 15, what: 'the fs-DAX page refcount rework (6.15): idle folios went from refcount 1 to 0 and the fault paths changed' }];

/**
 * The available kernel nearest the report's release; on a tie the one that
 * needs no build, then the newer one (a bug reported on a release is more
 * often still there later than already there before).
 */
export function closestKernel(v: KernelVersion, available: readonly DebianKernel[]): KernelPick | null {
  const own = available.find((k) => k.release !== undefined && k.release === v.release);
  if (own) return { kernel: own, distance: 0, closeness: `the report's own kernel (${own.release})`, notes: [] };
  const want = releaseIndex(v.major, v.minor);
  let best: { k: DebianKernel; d: number; signed: number; patch: number } | null = null;
  for (const k of available) {
    const p = parseKernelVersion(k.version);
    if (!p) continue;
    const signed = releaseIndex(p.major, p.minor) - want;
    const d = Math.abs(signed);
    // In the report's own release, the stable update nearest its own; otherwise (or when it gives none) the newest.
    const patch = signed === 0 && v.patch !== null && p.patch !== null ? Math.abs(p.patch - v.patch) : -(p.patch ?? 0);
    const better =
      !best ||
      d < best.d ||
      (d === best.d &&
        ((k.kind === 'stock' && best.k.kind !== 'stock') || (k.kind === best.k.kind && (signed > best.signed || (signed === best.signed && patch < best.patch)))));
    if (better) best = { k, d, signed, patch };
  }
  if (!best) return null;
  const p = parseKernelVersion(best.k.version)!;
  const closeness =
    best.d === 0
      ? p.patch !== null && v.patch !== null && p.patch !== v.patch
        ? `the same release (${best.k.version} for the report's ${v.major}.${v.minor}.${v.patch})`
        : 'the same release'
      : `${best.d} release${best.d === 1 ? '' : 's'} ${best.signed < 0 ? 'older' : 'newer'} (${p.major}.${p.minor} for the report's ${v.major}.${v.minor})`;
  const notes: string[] = [];
  if (/\+$|-rc\d|-next-|[-+]g[0-9a-f]{7,}|-dirty/.test(v.release) || /^\d+\.\d+\.\d+\+/.test(v.release))
    notes.push(`the report's kernel ${v.release} is a development build: its own patches are not in Debian's; --source/--series build them`);
  const lo = Math.min(want, releaseIndex(p.major, p.minor));
  const hi = Math.max(want, releaseIndex(p.major, p.minor));
  for (const b of DAX_BOUNDARIES) {
    const at = releaseIndex(b.major, b.minor);
    if (lo < at && at <= hi) notes.push(`between the two lies ${b.what}`);
  }
  return { kernel: best.k, distance: best.d, closeness, notes };
}
