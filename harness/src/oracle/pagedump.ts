// dump_page() / __dump_folio() output (mm/debug.c) turned into fields. The
// format changed in 6.2, 6.3, 6.9, 6.11/6.12 and later (spec §2c), and mail
// clients join its lines, so it is read as loose key:value tokens from any
// line that looks like part of a dump, never by line position or count.
import type { PageDump } from '../results/records.js';
import { isPageDumpLine } from './patterns.js';

const TOKEN_RE = /([A-Za-z_]+):("[^"]*"|\([^)]*\)|[^\s()]*(?:\([^)]*\))?)/g;

const DUMP_FIRST = new Set(['p', 'h', 'r', 'a', 'm', 'f', 'k']);

function num(s: string | undefined): number | null {
  if (s === undefined || s === '') return null;
  const n = s.startsWith('0x') ? parseInt(s, 16) : Number(s);
  return Number.isFinite(n) ? n : null;
}

function emptyDump(): PageDump {
  return {
    format: 'unknown',
    page: null,
    refcount: null,
    mapcount: null,
    mapping: null,
    index: null,
    pfn: null,
    head: null,
    order: null,
    compoundMapcount: null,
    compoundPincount: null,
    entireMapcount: null,
    folioMapcount: null,
    nrPagesMapped: null,
    pincount: null,
    memcg: null,
    aops: null,
    ino: null,
    dentry: null,
    kind: null,
    flagsRaw: null,
    flags: [],
    node: null,
    zone: null,
    cma: false,
    pageType: null,
    raw: [],
    headRaw: [],
    poisoned: false,
    pageDoesNotMatchFolio: false,
    reason: null,
    assertion: null,
    assertMacro: null,
  };
}

function tokens(line: string): Map<string, string> {
  const out = new Map<string, string>();
  // 6.9+ prints "page: refcount:" / "head: order:" with no pointer: drop the empty key.
  line = line.replace(/^(?:page|head): (?=(?:refcount|order):)/, '');
  TOKEN_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN_RE.exec(line))) if (!out.has(m[1]!)) out.set(m[1]!, m[2]!);
  return out;
}

/** Decode "0x4ffff800004040(reserved|head|node=0|zone=4|lastcpupid=0x1ffff)". */
export function decodeFlags(s: string): { raw: string; names: string[]; node: number | null; zone: number | null } {
  const m = /^(0x[0-9a-f]+|[0-9a-f]+)(?:\(([^)]*)\))?/.exec(s.trim());
  if (!m) return { raw: s, names: [], node: null, zone: null };
  const names: string[] = [];
  let node: number | null = null;
  let zone: number | null = null;
  for (const part of (m[2] ?? '').split('|')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) {
      names.push(part);
      continue;
    }
    const k = part.slice(0, eq);
    const v = part.slice(eq + 1);
    if (k === 'node') node = num(v);
    else if (k === 'zone') zone = num(v);
  }
  return { raw: m[1]!.startsWith('0x') ? m[1]! : `0x${m[1]}`, names, node, zone };
}

// Known assertion texts after macro expansion, reduced to the helper's name.
const KNOWN_ASSERTIONS: Array<[RegExp, string]> = [
  [/\bfolio_ref_count\(\s*\w+\s*\)\s*\+\s*127u?\s*<=\s*127/, 'folio_ref_zero_or_close_to_overflow'],
  [/\bpage_ref_count\(\s*\w+\s*\)\s*\+\s*127u?\s*<=\s*127/, 'page_ref_zero_or_close_to_overflow'],
  [/\bfolio_ref_zero_or_close_to_overflow\b/, 'folio_ref_zero_or_close_to_overflow'],
  [/\bpage_ref_zero_or_close_to_overflow\b/, 'page_ref_zero_or_close_to_overflow'],
];

/**
 * Reduce a `page dumped because:` text to a canonical assertion. The macro that
 * printed it (VM_BUG_ON_FOLIO, ...) is returned separately.
 */
export function canonicalAssertion(reason: string): { macro: string | null; assertion: string } {
  let text = reason.replace(/\s+/g, ' ').trim();
  let macro: string | null = null;
  const m = /^(VM_(?:BUG|WARN)_ON(?:_ONCE)?_(?:PAGE|FOLIO|PGFLAGS|MM|VMA))\s*\((.*)$/.exec(text);
  if (m) {
    macro = m[1]!;
    text = m[2]!;
    // The printed text closes the macro's parenthesis; mail may have cut it.
    if (text.endsWith(')') && balance(text) < 0) text = text.slice(0, -1);
  }
  for (const [re, name] of KNOWN_ASSERTIONS) if (re.test(text)) return { macro, assertion: name };
  text = text.replace(/\((?:unsigned |signed )?(?:int|long|char|short)\)\s*/g, '');
  while (text.startsWith('(') && text.endsWith(')') && balance(text.slice(1, -1)) === 0 && wraps(text)) text = text.slice(1, -1).trim();
  return { macro, assertion: text };
}

function balance(s: string): number {
  let b = 0;
  for (const c of s) b += c === '(' ? 1 : c === ')' ? -1 : 0;
  return b;
}

// True when the first '(' closes at the very end (so the outer pair can go).
function wraps(s: string): boolean {
  let d = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '(') d++;
    else if (s[i] === ')') {
      d--;
      if (d === 0 && i !== s.length - 1) return false;
    }
  }
  return true;
}

/**
 * Parse the first page dump found in `lines` (kernel text, prefixes already
 * stripped). Returns null when there is none.
 */
export function parsePageDump(lines: readonly string[]): PageDump | null {
  if (!hasDumpLine(lines)) return null;
  const d = emptyDump();
  let seen = false;
  let sawPageLine = false;
  let headLineKeys: Map<string, string> | null = null;
  let pageLineHasPtr = false;
  for (const l of lines) {
    const t = l.trimStart();
    if (!isPageDumpLine(t)) continue;
    const marked = readMarkedLine(d, t);
    if (marked !== null) {
      if (marked) seen = true;
      continue;
    }
    const tk = tokens(t);
    if (tk.has('memcg') && d.memcg === null) d.memcg = tk.get('memcg')!;
    if (tk.has('refcount') && !sawPageLine) {
      sawPageLine = true;
      seen = true;
      pageLineHasPtr = readPageLine(d, tk);
    }
    if (tk.has('order') && headLineKeys === null) {
      headLineKeys = tk;
      seen = true;
      readHeadLine(d, tk, t);
    }
  }
  if (!seen) return null;
  d.format = guessFormat(d, pageLineHasPtr, headLineKeys);
  return d;
}

/**
 * Most reports carry no dump: do not build one for them. Dump lines begin with
 * one of these letters (page:, head:, raw:, aops:, mapping->, flags:, anon/ksm flags:, memcg:, failed to read).
 */
function hasDumpLine(lines: readonly string[]): boolean {
  return lines.some((l) => {
    const t = l.trimStart();
    return DUMP_FIRST.has(t[0]!) && isPageDumpLine(t);
  });
}

/**
 * A dump line known by how it begins (the reason, raw words, flags, page_type,
 * aops, ...), read into `d`. Returns null when `t` is not one of them, else
 * whether the line shows that a dump is there.
 */
function readMarkedLine(d: PageDump, t: string): boolean | null {
  if (t.startsWith('page dumped because:')) {
    if (d.reason === null) {
      d.reason = t.slice('page dumped because:'.length).trim();
      const c = canonicalAssertion(d.reason);
      d.assertion = c.assertion;
      d.assertMacro = c.macro;
    }
    return true;
  }
  if (t.startsWith('raw: ')) {
    d.raw.push(t.slice(5).trim());
    return true;
  }
  if (/^head: [0-9a-f]{8}/.test(t)) {
    d.headRaw.push(t.slice(6).trim());
    return true;
  }
  if (t.startsWith('page does not match folio')) {
    d.pageDoesNotMatchFolio = true;
    return false;
  }
  if (/^page:\S+ is uninitialized and poisoned/.test(t)) {
    d.poisoned = true;
    d.page = /^page:(\S+)/.exec(t)![1]!;
    return true;
  }
  const fm = /^(?:(anon|ksm) )?flags: (\S+(?:\([^)]*\))?)( CMA)?/.exec(t);
  if (fm) {
    const f = decodeFlags(fm[2]!);
    d.flagsRaw = f.raw;
    d.flags = f.names;
    d.node = f.node;
    d.zone = f.zone;
    d.kind = (fm[1] as 'anon' | 'ksm' | undefined) ?? null;
    d.cma = !!fm[3];
    return true;
  }
  if (t.startsWith('page_type:')) {
    d.pageType = t.slice('page_type:'.length).trim();
    return false;
  }
  if (/^(?:mapping->)?aops:/.test(t)) {
    const tk = tokens(t);
    d.aops = tk.get('aops') ?? null;
    d.ino = tk.get('ino') ?? null;
    const dm = /dentry name:?"(.*)"/.exec(t);
    if (dm) d.dentry = dm[1]!;
    return false;
  }
  return null;
}

/** The page line's fields (refcount, mapcount, mapping, index, pfn) into `d`; returns whether it names the page's pointer. */
function readPageLine(d: PageDump, tk: Map<string, string>): boolean {
  const p = tk.get('page');
  const pageLineHasPtr = !!p && p !== '';
  d.page = pageLineHasPtr ? p! : null;
  d.refcount = num(tk.get('refcount'));
  d.mapcount = num(tk.get('mapcount'));
  d.mapping = tk.get('mapping') ?? null;
  d.index = tk.get('index') ?? null;
  d.pfn = tk.get('pfn') ?? null;
  return pageLineHasPtr;
}

/** The head (compound/folio) fields into `d`, from the line `t` that holds `order:` and its tokens. */
function readHeadLine(d: PageDump, tk: Map<string, string>, t: string): void {
  const h = tk.get('head');
  d.head = h && h !== '' ? h : null;
  d.order = num(tk.get('order'));
  d.compoundMapcount = num(tk.get('compound_mapcount'));
  d.compoundPincount = num(tk.get('compound_pincount'));
  d.entireMapcount = num(tk.get('entire_mapcount'));
  d.nrPagesMapped = num(tk.get('nr_pages_mapped'));
  d.pincount = num(tk.get('pincount'));
  // On the page line "mapcount" is the page's; only the 6.11+ head line has a folio-wide one.
  if (!t.startsWith('page:') || t.indexOf('mapcount:') !== t.lastIndexOf('mapcount:')) {
    const hm = /(?:^|\s)mapcount:(-?\d+)/.exec(t.startsWith('page:') ? t.slice(t.indexOf('order:')) : t);
    if (hm) d.folioMapcount = Number(hm[1]);
  }
}

function guessFormat(d: PageDump, pageLineHasPtr: boolean, head: Map<string, string> | null): PageDump['format'] {
  if (d.compoundMapcount !== null || d.compoundPincount !== null) return '6.1';
  if (pageLineHasPtr || (d.page !== null && !d.poisoned)) {
    if (head && head.has('entire_mapcount')) return '6.2-6.8';
    return d.pageType !== null ? '6.2-6.8' : '6.1';
  }
  if (d.refcount === null) return 'unknown';
  if (head) {
    if (d.folioMapcount !== null) return head.has('nr_pages_mapped') ? '6.11+' : 'later';
    return '6.9+';
  }
  // An order-0 page: only page_type's spelling tells the versions apart.
  if (d.pageType !== null && /^[0-9a-f]+\(/.test(d.pageType) && !d.pageType.startsWith('0x')) return '6.11+';
  return '6.9+';
}
