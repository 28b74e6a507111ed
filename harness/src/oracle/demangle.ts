// Symbol names as a developer reads them. Rust code in the kernel shows up in
// stack traces under its mangled name (v0: `_RNvCs1a2b_9rust_oops10do_overflow`;
// the legacy scheme and C++ use the Itanium form `_ZN4core9panicking9panic_fmt17h…E`),
// and syzbot titles name the demangled path (`rust_oops::do_overflow`, or for a
// trait method `<rnull::NullBlkModule as kernel::Module>::init`). Printed without
// parameters or crate hashes; a name this does not understand is returned unchanged.

const DIGITS = /^\d+/;

// The legacy Rust scheme spells punctuation as `$LT$`, `$u20$`, … and `::` as `..`;
// an identifier that starts with an escape carries a leading `_`.
const ESCAPES: Record<string, string> = { SP: '@', BP: '*', RF: '&', LT: '<', GT: '>', LP: '(', RP: ')', C: ',' };
function legacyRust(id: string): string {
  return (id.startsWith('_$') ? id.slice(1) : id)
    .replace(/\$(SP|BP|RF|LT|GT|LP|RP|C|u([0-7][0-9a-f]))\$/g, (m, code: string, hex?: string) => (hex ? (parseInt(hex, 16) >= 0x20 ? String.fromCharCode(parseInt(hex, 16)) : m) : ESCAPES[code]!))
    .replace(/\.\./g, '::');
}

class Bad extends Error {}

/** A position in a mangled name, and how deep the parse has nested (a bound against hostile names). */
class Cursor {
  pos = 0;
  private depth = 0;
  constructor(protected readonly s: string) {}

  protected peek(o = 0): string | undefined {
    return this.s[this.pos + o];
  }
  protected next(): string {
    const c = this.s[this.pos++];
    if (c === undefined) throw new Bad();
    return c;
  }
  protected nest<T>(f: () => T): T {
    if (++this.depth > 64) throw new Bad();
    try {
      return f();
    } finally {
      this.depth--;
    }
  }
  /** A decimal number; none is an error. */
  protected number(): number {
    const start = this.pos;
    while (this.peek() !== undefined && this.peek()! >= '0' && this.peek()! <= '9') this.pos++;
    if (start === this.pos) throw new Bad();
    return Number(this.s.slice(start, this.pos));
  }
}

const CXX_BUILTIN: Record<string, string> = {
  v: 'void', w: 'wchar_t', b: 'bool', c: 'char', a: 'signed char', h: 'unsigned char', s: 'short', t: 'unsigned short', i: 'int', j: 'unsigned int',
  l: 'long', m: 'unsigned long', x: 'long long', y: 'unsigned long long', n: '__int128', o: 'unsigned __int128', f: 'float', d: 'double', e: 'long double',
  g: '__float128', z: '...',
};
const CXX_STD: Record<string, string> = {
  t: 'std', a: 'std::allocator', b: 'std::basic_string', s: 'std::string', i: 'std::istream', o: 'std::ostream', d: 'std::iostream',
};

/**
 * C++ names (Itanium ABI) as syzbot prints them with parameters left out:
 * namespaces, classes, templates and their arguments, constructors and
 * destructors, std:: abbreviations and substitutions. Operators, local names
 * and expressions are not decoded.
 */
class Cxx extends Cursor {
  private readonly subs: string[] = [];
  private templateArgs: string[] = [];

  private sourceName(): string {
    const n = this.number();
    if (n === 0 || this.pos + n > this.s.length) throw new Bad();
    const id = this.s.slice(this.pos, this.pos + n);
    this.pos += n;
    return id.startsWith('_GLOBAL__N') ? '(anonymous namespace)' : id;
  }
  /** `S_`, `S<seq-id>_` and the std:: abbreviations. */
  private substitution(): string {
    this.pos++;
    const c = this.next();
    if (CXX_STD[c]) return CXX_STD[c]!;
    let id = 0;
    if (c !== '_') {
      this.pos--;
      let v = 0;
      for (;;) {
        const d = this.next();
        if (d === '_') break;
        const n = d >= '0' && d <= '9' ? d.charCodeAt(0) - 48 : d >= 'A' && d <= 'Z' ? d.charCodeAt(0) - 55 : -1;
        if (n < 0) throw new Bad();
        v = v * 36 + n;
      }
      id = v + 1;
    }
    const sub = this.subs[id];
    if (sub === undefined) throw new Bad();
    return sub;
  }
  private templateParam(): string {
    this.pos++;
    let i = 0;
    if (this.peek() !== '_') i = this.number() + 1;
    if (this.next() !== '_') throw new Bad();
    const a = this.templateArgs[i];
    if (a === undefined) throw new Bad();
    return a;
  }
  private templateArgsList(): string {
    this.pos++; // I
    const args: string[] = [];
    while (this.peek() !== 'E') {
      if (this.peek() === undefined) throw new Bad();
      args.push(this.templateArg());
    }
    this.pos++;
    this.templateArgs = args;
    const body = args.join(', ');
    return `<${body}${body.endsWith('>') ? ' ' : ''}>`;
  }
  private templateArg(): string {
    const c = this.peek();
    if (c === 'L') {
      this.pos++;
      if (this.peek() === '_' && this.peek(1) === 'Z') throw new Bad();
      const ty = this.type();
      const neg = this.peek() === 'n';
      if (neg) this.pos++;
      const v = `${neg ? '-' : ''}${this.number()}`;
      if (this.next() !== 'E') throw new Bad();
      if (ty === 'bool') return v === '0' ? 'false' : 'true';
      if (ty === 'int') return v;
      if (ty === 'unsigned int') return `${v}u`;
      if (ty === 'long') return `${v}l`;
      if (ty === 'unsigned long') return `${v}ul`;
      return `(${ty})${v}`;
    }
    if (c === 'J') {
      this.pos++;
      const args: string[] = [];
      while (this.peek() !== 'E') args.push(this.templateArg());
      this.pos++;
      return args.join(', ');
    }
    return this.type();
  }
  type(): string {
    return this.nest(() => {
      const c = this.peek();
      if (c === undefined) throw new Bad();
      if (CXX_BUILTIN[c]) {
        this.pos++;
        return CXX_BUILTIN[c]!;
      }
      let t: string;
      if (c === 'K' || c === 'V' || c === 'r') {
        this.pos++;
        const inner = this.type();
        t = `${inner} ${c === 'K' ? 'const' : c === 'V' ? 'volatile' : 'restrict'}`;
      } else if (c === 'P' || c === 'R' || c === 'O') {
        this.pos++;
        t = `${this.type()}${c === 'P' ? '*' : c === 'R' ? '&' : '&&'}`;
      } else if (c === 'T') {
        t = this.templateParam();
        if (this.peek() === 'I') {
          this.subs.push(t);
          t += this.templateArgsList();
        }
      } else if (c === 'S' && this.peek(1) !== 't') {
        t = this.substitution();
        if (this.peek() === 'I') {
          // A substitution is a template name only when arguments follow.
          t += this.templateArgsList();
        } else return t;
      } else if (c === 'N' || (c >= '0' && c <= '9') || c === 'S') t = this.name();
      else throw new Bad();
      this.subs.push(t);
      return t;
    });
  }
  /** `N … E` or an unscoped name, with template arguments. */
  name(): string {
    return this.nest(() => {
      if (this.peek() === 'N') {
        this.pos++;
        while ('KVrRO'.includes(this.peek() ?? '')) this.pos++;
        let prefix = '';
        let last = '';
        while (this.peek() !== 'E') {
          const c = this.peek();
          if (c === undefined) throw new Bad();
          if (c === 'I') {
            if (!prefix) throw new Bad();
            prefix += this.templateArgsList();
          } else {
            let part: string;
            if (c === 'S' && this.peek(1) === 't') {
              this.pos += 2;
              part = 'std';
            } else if (c === 'S') part = this.substitution();
            else if (c === 'T') part = this.templateParam();
            else if (c === 'C' || c === 'D') {
              this.pos++;
              const k = this.next();
              if (!/[0-5I]/.test(k) || !last) throw new Bad();
              part = `${c === 'D' ? '~' : ''}${last}`;
            } else if (c >= '0' && c <= '9') part = this.sourceName();
            else throw new Bad();
            if (c !== 'C' && c !== 'D') last = part.replace(/<.*$/, '').replace(/^.*::/, '');
            prefix = prefix ? `${prefix}::${part}` : part;
            // A substitution (std:: included) is not a candidate for a new one.
            if (c === 'S') continue;
          }
          if (this.peek() !== 'E') this.subs.push(prefix);
        }
        this.pos++;
        return prefix;
      }
      let n: string;
      if (this.peek() === 'S' && this.peek(1) === 't') {
        this.pos += 2;
        n = `std::${this.sourceName()}`;
      } else if (this.peek() === 'S') n = this.substitution();
      else n = this.sourceName();
      if (this.peek() === 'I') {
        this.subs.push(n);
        n += this.templateArgsList();
      }
      return n;
    });
  }
}

/** `_ZN3foo3barE`, `_ZNSt6vectorIiSaIiEE9push_backERKi`, `_Z3fooi` → `foo::bar`, `std::vector<int, std::allocator<int> >::push_back`, `foo`. */
function itanium(s: string): string | null {
  // The legacy Rust scheme: a nested name whose last part is the crate hash (its names may hold "..").
  const rust = /^_ZN(.*)17h[0-9a-f]{16}E(?:\.[\w.]*)?$/.exec(s);
  if (rust) {
    const parts: string[] = [];
    let rest = rust[1]!;
    while (rest) {
      const m = DIGITS.exec(rest);
      if (!m) return null;
      const n = Number(m[0]);
      rest = rest.slice(m[0].length);
      if (n === 0 || n > rest.length) return null;
      parts.push(rest.slice(0, n));
      rest = rest.slice(n);
    }
    if (parts.length) return parts.map(legacyRust).join('::');
  }
  // A compiler suffix (.cold, .isra.0, .llvm.123) is not part of the mangled name.
  const dot = s.indexOf('.', 2);
  const name = dot < 0 ? s : s.slice(0, dot);
  try {
    const p = new Cxx(name.slice(2));
    // The function's parameters follow; syzbot's titles leave them out.
    return p.name();
  } catch (e) {
    if (e instanceof Bad || e instanceof RangeError) return null;
    throw e;
  }
}


// Rust's v0 scheme (RFC 2603): `_R` then a path whose grammar also covers
// trait impls (`<T as Trait>`), inherent impls, generic arguments, types and
// back references to earlier parts of the name. Printed as syzbot's demangler
// prints it: no crate hashes, closures as `{closure#N}`, generic arguments kept,
// the instantiating crate dropped.
const BASIC: Record<string, string> = {
  a: 'i8', b: 'bool', c: 'char', d: 'f64', e: 'str', f: 'f32', h: 'u8', i: 'isize', j: 'usize', l: 'i32', m: 'u32',
  n: 'i128', o: 'u128', p: '_', s: 'i16', t: 'u16', u: '()', v: '...', x: 'i64', y: 'u64', z: '!',
};

/** A parser over the part of the name after `_R`; `pos` moves, `out` grows unless `quiet`. */
class V0 extends Cursor {
  out = '';
  quiet = 0;

  private expect(c: string): void {
    if (this.next() !== c) throw new Bad();
  }
  private emit(t: string): void {
    if (!this.quiet) this.out += t;
  }
  /** `_` is 0, otherwise base-62 digits then `_`, plus one. */
  private base62(): number {
    if (this.peek() === '_') {
      this.pos++;
      return 0;
    }
    let v = 0;
    for (;;) {
      const c = this.next();
      if (c === '_') return v + 1;
      const d = c >= '0' && c <= '9' ? c.charCodeAt(0) - 48 : c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 87 : c >= 'A' && c <= 'Z' ? c.charCodeAt(0) - 29 : -1;
      if (d < 0) throw new Bad();
      // Crate hashes are 64-bit and lose precision here; only back references need the value.
      v = v * 62 + d;
    }
  }
  private disambiguator(): number {
    if (this.peek() !== 's') return 0;
    this.pos++;
    return this.base62() + 1;
  }
  private identifier(): string {
    if (this.peek() === 'u') throw new Bad(); // Punycode: not in kernel code.
    const n = this.number();
    if (this.peek() === '_') this.pos++;
    if (this.pos + n > this.s.length) throw new Bad();
    const id = this.s.slice(this.pos, this.pos + n);
    if (!/^\w*$/.test(id)) throw new Bad();
    this.pos += n;
    return id;
  }
  /** Parse what a back reference points at, then come back. */
  private backref(f: () => void): void {
    const at = this.pos;
    this.expect('B');
    const to = this.base62();
    if (this.quiet) return;
    if (to >= at) throw new Bad();
    const back = this.pos;
    this.pos = to;
    this.nest(f);
    this.pos = back;
  }
  private silently(f: () => void): void {
    this.quiet++;
    try {
      f();
    } finally {
      this.quiet--;
    }
  }
  private list(f: () => void, sep = ', '): number {
    let n = 0;
    while (this.peek() !== 'E') {
      if (this.peek() === undefined) throw new Bad();
      if (n++) this.emit(sep);
      f();
    }
    this.pos++;
    return n;
  }

  /** `value` paths write generic arguments as `::<…>`, type paths as `<…>`. */
  path(value: boolean): void {
    this.nest(() => {
      const c = this.next();
      if (c === 'C') {
        this.disambiguator();
        this.emit(this.identifier());
      } else if (c === 'M' || c === 'X') {
        this.silently(() => {
          this.disambiguator();
          this.path(false);
        });
        this.emit('<');
        this.type();
        if (c === 'X') {
          this.emit(' as ');
          this.path(false);
        }
        this.emit('>');
      } else if (c === 'Y') {
        this.emit('<');
        this.type();
        this.emit(' as ');
        this.path(false);
        this.emit('>');
      } else if (c === 'N') {
        const ns = this.next();
        if (!/[A-Za-z]/.test(ns)) throw new Bad();
        this.path(value);
        const dis = this.disambiguator();
        const id = this.identifier();
        if (ns >= 'a') this.emit(`::${id}`);
        else this.emit(`::{${ns === 'C' ? 'closure' : ns === 'S' ? 'shim' : ns}${id ? `:${id}` : ''}#${dis}}`);
      } else if (c === 'I') {
        this.path(value);
        this.emit(value ? '::<' : '<');
        this.list(() => this.genericArg());
        this.emit('>');
      } else if (c === 'B') {
        this.pos--;
        this.backref(() => this.path(value));
      } else throw new Bad();
    });
  }
  private genericArg(): void {
    const c = this.peek();
    if (c === 'L') {
      this.pos++;
      this.lifetime(this.base62());
    } else if (c === 'K') {
      this.pos++;
      this.constant();
    } else this.type();
  }
  private lifetime(n: number): void {
    // Bound lifetimes are rare in kernel frames; name them by index as 'a, 'b, …
    this.emit(n === 0 ? "'_" : `'${String.fromCharCode(96 + Math.min(n, 26))}`);
  }
  private binder(): void {
    if (this.peek() !== 'G') return;
    this.pos++;
    const n = this.base62() + 1;
    this.emit(`for<${Array.from({ length: n }, (_, i) => `'${String.fromCharCode(97 + Math.min(i, 25))}`).join(', ')}> `);
  }
  type(): void {
    this.nest(() => {
      const c = this.peek();
      if (c === undefined) throw new Bad();
      if (c >= 'a' && c <= 'z') {
        this.pos++;
        const b = BASIC[c];
        if (!b) throw new Bad();
        this.emit(b);
        return;
      }
      if ('CMXYNI'.includes(c)) return this.path(false);
      this.pos++;
      if (c === 'A' || c === 'S') {
        this.emit('[');
        this.type();
        if (c === 'A') {
          this.emit('; ');
          this.constant();
        }
        this.emit(']');
      } else if (c === 'T') {
        this.emit('(');
        if (this.list(() => this.type()) === 1) this.emit(',');
        this.emit(')');
      } else if (c === 'R' || c === 'Q') {
        this.emit('&');
        if (this.peek() === 'L') {
          this.pos++;
          const l = this.base62();
          if (l) {
            this.lifetime(l);
            this.emit(' ');
          }
        }
        if (c === 'Q') this.emit('mut ');
        this.type();
      } else if (c === 'P' || c === 'O') {
        this.emit(c === 'P' ? '*const ' : '*mut ');
        this.type();
      } else if (c === 'F') {
        this.binder();
        if (this.peek() === 'U') {
          this.pos++;
          this.emit('unsafe ');
        }
        if (this.peek() === 'K') {
          this.pos++;
          if (this.peek() === 'C') {
            this.pos++;
            this.emit('extern "C" ');
          } else this.emit(`extern "${this.identifier().replace(/_/g, '-')}" `);
        }
        this.emit('fn(');
        this.list(() => this.type());
        this.emit(')');
        if (this.peek() === 'u') this.pos++;
        else {
          this.emit(' -> ');
          this.type();
        }
      } else if (c === 'D') {
        this.emit('dyn ');
        this.binder();
        this.list(() => this.dynTrait(), ' + ');
        this.expect('L');
        const l = this.base62();
        if (l) {
          this.emit(' + ');
          this.lifetime(l);
        }
      } else if (c === 'B') {
        this.pos--;
        this.backref(() => this.type());
      } else throw new Bad();
    });
  }
  private dynTrait(): void {
    // The trait's own generic arguments and its associated-type bindings share one <…>.
    let open = false;
    if (this.peek() === 'I') {
      this.pos++;
      this.path(false);
      this.emit('<');
      this.list(() => this.genericArg());
      open = true;
    } else this.path(false);
    while (this.peek() === 'p') {
      this.pos++;
      this.emit(open ? ', ' : '<');
      open = true;
      this.emit(`${this.identifier()} = `);
      this.type();
    }
    if (open) this.emit('>');
  }
  private constant(): void {
    const c = this.next();
    if (c === 'B') {
      this.pos--;
      return this.backref(() => this.constant());
    }
    if (c === 'p') return this.emit('_');
    const signed = 'aslxni'.includes(c);
    if (!signed && !'htmyojbc'.includes(c)) throw new Bad();
    if (signed && this.peek() === 'n') {
      this.pos++;
      this.emit('-');
    }
    const start = this.pos;
    while (this.peek() !== '_') if (!/[0-9a-f]/.test(this.next())) throw new Bad();
    const hex = this.s.slice(start, this.pos++);
    if (!hex) throw new Bad();
    if (c === 'b') this.emit(hex === '0' ? 'false' : hex === '1' ? 'true' : '?');
    else if (c === 'c') this.emit(`'${String.fromCodePoint(parseInt(hex, 16))}'`);
    else this.emit(hex.length > 16 ? `0x${hex}` : BigInt(`0x${hex}`).toString());
  }

  /** The symbol: its path, then an instantiating crate that is not printed. */
  symbol(): string {
    while (this.peek() !== undefined && this.peek()! >= '0' && this.peek()! <= '9') this.pos++;
    this.path(true);
    if (this.pos < this.s.length) this.silently(() => this.path(false));
    if (this.pos !== this.s.length) throw new Bad();
    return this.out;
  }
}

/** `_R…` demangled, or null when it is not a v0 name this understands. */
function rustV0(name: string): string | null {
  // A `.llvm.123` or `.cold` suffix is not part of the mangled name.
  const dot = name.indexOf('.');
  try {
    return new V0(name.slice(2, dot < 0 ? undefined : dot)).symbol();
  } catch (e) {
    if (e instanceof Bad || e instanceof RangeError) return null;
    throw e;
  }
}

/** The demangled path of a Rust or C++ symbol, or the name itself. */
export function demangle(name: string): string {
  if (name.length < 4 || name[0] !== '_') return name;
  if (name[1] === 'R' && /[NCMXYIB0-9]/.test(name[2]!)) return rustV0(name) ?? name;
  if (name[1] === 'Z' && /[NS1-9]/.test(name[2]!)) return itanium(name) ?? name;
  return name;
}
