// Symbol names as a developer reads them. Rust code in the kernel shows up in
// stack traces under its mangled name (v0: `_RNvCs1a2b_9rust_oops10do_overflow`;
// the legacy scheme and C++ use the Itanium form `_ZN4core9panicking9panic_fmt17h…E`),
// and syzbot titles name the demangled path (`rust_oops::do_overflow`). Only
// the path is decoded, without generic arguments, parameters or crate hashes;
// a name this does not understand is returned unchanged.

const DIGITS = /^\d+/;

/** `_ZN3foo3barE`, `_ZN4core9panicking9panic_fmt17h0123456789abcdefE`, `_Z3fooi` → `foo::bar`, `core::panicking::panic_fmt`, `foo`. */
function itanium(s: string): string | null {
  let i = 2;
  const parts: string[] = [];
  const nested = s[i] === 'N';
  if (nested) {
    i++;
    // CV and ref qualifiers of a member function.
    while (s[i] === 'K' || s[i] === 'V' || s[i] === 'r' || s[i] === 'R' || s[i] === 'O') i++;
  }
  for (;;) {
    const m = DIGITS.exec(s.slice(i));
    if (!m) break;
    const n = Number(m[0]);
    i += m[0].length;
    if (n === 0 || i + n > s.length) return null;
    parts.push(s.slice(i, i + n));
    i += n;
    if (!nested) break;
  }
  if (parts.length === 0 || (nested && s[i] !== 'E')) return null;
  // The legacy Rust scheme ends the path with the crate hash.
  if (parts.length > 1 && /^h[0-9a-f]{16}$/.test(parts[parts.length - 1]!)) parts.pop();
  return parts.map((p) => p.replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ').replace(/\.\./g, '::')).join('::');
}

/** Rust v0 paths made of crate roots and nested names: `_RNvNtCs1_4core9panicking9panic_fmt` → `core::panicking::panic_fmt`. */
function rustV0(s: string): string | null {
  let i = 2;
  // An optional encoding version.
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  const ident = (): string | null => {
    // A disambiguator "s<base62>_" may precede the identifier.
    if (s[i] === 's') {
      const end = s.indexOf('_', i);
      if (end < 0) return null;
      i = end + 1;
    }
    const punycode = s[i] === 'u';
    if (punycode) i++;
    const m = DIGITS.exec(s.slice(i));
    if (!m) return null;
    i += m[0].length;
    // A "_" separates the length from an identifier that starts with a digit or "_".
    if (s[i] === '_') i++;
    const n = Number(m[0]);
    if (i + n > s.length || punycode) return null;
    const id = s.slice(i, i + n);
    i += n;
    return id;
  };
  const path = (depth: number): string | null => {
    if (depth > 32) return null;
    const c = s[i++];
    if (c === 'C') return ident();
    if (c === 'N') {
      const ns = s[i++];
      if (ns === undefined || !/[A-Za-z]/.test(ns)) return null;
      const parent = path(depth + 1);
      if (parent === null) return null;
      const id = ident();
      if (id === null) return null;
      // Closures and shims have an uppercase namespace and often no name.
      if (ns >= 'A' && ns <= 'Z') return `${parent}::{${ns === 'C' ? 'closure' : ns === 'S' ? 'shim' : ns}${id ? `:${id}` : ''}}`;
      return id ? `${parent}::${id}` : parent;
    }
    // Impl paths, generic arguments and back references need the type grammar: not decoded.
    return null;
  };
  const p = path(0);
  return p;
}

/** The demangled path of a Rust or C++ symbol, or the name itself. */
export function demangle(name: string): string {
  if (name.length < 4 || name[0] !== '_') return name;
  if (name[1] === 'R' && (name[2] === 'N' || name[2] === 'C' || (name[2]! >= '0' && name[2]! <= '9'))) return rustV0(name) ?? name;
  if (name[1] === 'Z' && (name[2] === 'N' || (name[2]! >= '1' && name[2]! <= '9'))) return itanium(name) ?? name;
  return name;
}
