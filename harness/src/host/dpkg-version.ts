// dpkg's version ordering (deb-version(7)), in pure TypeScript so hosts
// without dpkg compare Debian versions as apt would: epoch numerically, then
// upstream version and revision, each as alternating non-digit runs (where '~'
// sorts before everything, even the end, and letters before other characters)
// and digit runs compared by value.
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
