// Kernel versions, in one place: a release string (`uname -r`, a tag, a
// report's "6.15.0-rc3+") read as numbers, compared, and placed in the
// sequence of releases; and Debian package versions compared by dpkg's own
// rules (epoch, upstream, revision; `~` before anything, letters before other
// characters), so 6.1.0-28 follows 6.1.0-27 and a backport's 6.12.6-1~bpo12+1
// comes before 6.12.6-1.

export interface KernelVersion {
  major: number;
  minor: number;
  /** Stable update (6.1.123 → 123); null when the release does not say one (6.15, or Debian's ABI-style 6.1.0-28-amd64). */
  patch: number | null;
  /** -rcN; null for a release. */
  rc: number | null;
  release: string;
}

/** A release string read as a version; null when it does not start with one. */
export function parseKernelVersion(release: string): KernelVersion | null {
  const t = release.trim();
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-rc(\d+))?/.exec(t);
  if (!m) return null;
  // Debian's "6.1.0-57-amd64": the .0 and the ABI number say nothing of the stable update.
  const debianAbi = /^\d+\.\d+\.0-\d+-/.test(t);
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] !== undefined && !debianAbi ? Number(m[3]) : null, rc: m[4] !== undefined ? Number(m[4]) : null, release: t };
}

/** Major, minor and patch (0 when absent) of a release string; null when it does not start with a version. */
export function versionTriple(release: string): [number, number, number] | null {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(release.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/** Compare version numbers part by part (a missing part is 0): <0, 0, >0. */
export function compareVersionParts(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** Compare dotted release strings ("6.1.123", "6.15") by their numbers. */
export function compareReleases(a: string, b: string): number {
  return compareVersionParts(a.split('.').map(Number), b.split('.').map(Number));
}

// The last minor of each major since 3.0 (3.19, 4.20, 5.19); majors from 6 on
// are taken to end at .19 too, which only matters once 7.0 is out.
const LAST_MINOR: Readonly<Record<number, number>> = { 3: 19, 4: 20, 5: 19 };

/** Position of an x.y release in the sequence of kernel releases since 3.0: distances in releases. */
export function releaseIndex(major: number, minor: number): number {
  let i = 0;
  for (let m = 3; m < major; m++) i += (LAST_MINOR[m] ?? 19) + 1;
  return i + minor;
}

// Debian package versions: dpkg's ordering lives in host/ (the archive reader
// there needs it too); the kernel room's users get it from here.
export { compareDebianVersions, parseDebianVersion } from '../host/dpkg-version.ts';
