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

// ------------------------------------------------------- Debian versions ---

/** dpkg's weight of a non-digit character: ~ lowest, then the end, then letters, then the rest. */
function order(c: string): number {
  if (c === '') return 0;
  if (c === '~') return -1;
  if (/[0-9]/.test(c)) return 0;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

const isDigit = (c: string) => c >= '0' && c <= '9' && c !== '';

/** dpkg's verrevcmp: alternating runs of non-digits (by `order`) and digits (by value). */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i]!)) || (j < b.length && !isDigit(b[j]!))) {
      const ac = order(a[i] ?? '');
      const bc = order(b[j] ?? '');
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    let firstDiff = 0;
    while (isDigit(a[i] ?? '') && isDigit(b[j] ?? '')) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i] ?? '')) return 1;
    if (isDigit(b[j] ?? '')) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** A Debian version split as dpkg splits it: epoch before the first ':', revision after the last '-'. */
export function parseDebianVersion(v: string): { epoch: number; upstream: string; revision: string } {
  const t = v.trim();
  const colon = t.indexOf(':');
  const epoch = colon > 0 && /^\d+$/.test(t.slice(0, colon)) ? Number(t.slice(0, colon)) : 0;
  const rest = colon > 0 ? t.slice(colon + 1) : t;
  const dash = rest.lastIndexOf('-');
  return dash >= 0 ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) } : { epoch, upstream: rest, revision: '' };
}

/** `dpkg --compare-versions a lt b` and friends, as a comparator: <0, 0, >0 (the sign is what counts). */
export function compareDebianVersions(a: string, b: string): number {
  const x = parseDebianVersion(a);
  const y = parseDebianVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return verrevcmp(x.upstream, y.upstream) || verrevcmp(x.revision, y.revision);
}
