// "The same crash" between a reported crash and one met while reproducing it,
// across what changes between kernels and revisions of a series: offsets and
// line numbers (never compared), clone suffixes (.isra/.constprop, removed by
// the oracle), inlining (the guilty function one frame up or down) and
// renames (the alias sets of dax-test-spec §4). And the two side by side,
// field by field. Pure.
import type { CrashReport } from '../../results/records.ts';
import { aliasFrame, sameCrash } from '../../oracle/index.ts';
import { significantFunctions } from './stack.ts';

export type Sameness = 'same' | 'related' | 'different';

export interface CrashMatch {
  verdict: Sameness;
  /** One line per reason the verdict was reached. */
  why: string[];
}

// Ways one bug is printed: a BUG() is reported as "kernel BUG at" and then the
// trap ("invalid opcode"/"Oops"); with panic_on_warn or BUG_ON_DATA_CORRUPTION
// a WARNING or a refcount_t/list message becomes fatal.
const CLASS: Readonly<Record<string, string>> = { 'invalid opcode': 'BUG', Oops: 'BUG' };
const classOf = (type: string) => CLASS[type] ?? type;

/** How many of the first `n` significant frames (aliases applied) two stacks share, out of the shorter. */
function overlap(a: readonly string[], b: readonly string[], n = 4): { shared: string[]; of: number } {
  const x = [...new Set(a.map(aliasFrame))].slice(0, n);
  const y = new Set([...new Set(b.map(aliasFrame))].slice(0, n));
  return { shared: x.filter((f) => y.has(f)), of: Math.min(x.length, y.size) };
}

/** The function a report's title blames, else its first significant frame. */
function guiltyOf(r: CrashReport, frames: readonly string[]): string {
  return / in ([\w.]+)$/.exec(r.title)?.[1] ?? frames[0] ?? '';
}

/**
 * Whether `got` is the reported crash `want`. Same: the titles (or syzbot's
 * alternative titles) name one bug, aliases applied; or the class, file and
 * assertion agree and the stacks share their guilty step (one or two frames
 * of inlining either way) and at least half of their first four frames.
 * Related: a different class or assertion on the same path (a WARNING in
 * dax_folio_init beside the BUG it leads to). Different: anything else.
 */
export function matchCrash(want: CrashReport, got: CrashReport): CrashMatch {
  const why: string[] = [];
  const wf = significantFunctions(want);
  const gf = significantFunctions(got);
  const ov = overlap(wf, gf);
  const reasonsAgree = !want.reason || !got.reason || want.reason === got.reason;
  const filesAgree = !want.file || !got.file || want.file === got.file;
  const classAgrees = classOf(want.type) === classOf(got.type);
  if (sameCrash(want, got) && reasonsAgree) return { verdict: 'same', why: [`title ${got.title}${got.title !== want.title ? ` (reported: ${want.title})` : ''}`] };
  // Inlining moves the guilty function by a frame or two: look for each one near the top of the other stack.
  const wg = aliasFrame(guiltyOf(want, wf));
  const gg = aliasFrame(guiltyOf(got, gf));
  const near = (fn: string, frames: readonly string[]) => frames.slice(0, 3).map(aliasFrame).includes(fn);
  const guiltyMet = wg !== '' && (wg === gg || near(wg, gf) || near(gg, wf));
  const stacksMeet = ov.of > 0 && ov.shared.length * 2 >= ov.of;
  if (classAgrees && reasonsAgree && filesAgree && guiltyMet && stacksMeet) {
    why.push(`${classOf(got.type)}${got.file ? ` at ${got.file}` : ''}${got.reason ? `, ${got.reason}` : ''}`);
    why.push(`stacks share ${ov.shared.join(', ')} (${ov.shared.length} of the first ${ov.of})`);
    if (wg !== gg) why.push(`blames ${guiltyOf(got, gf)} where the report blames ${guiltyOf(want, wf)} (inlining or a rename)`);
    return { verdict: 'same', why };
  }
  if (ov.shared.length > 0 || guiltyMet) {
    if (!classAgrees) why.push(`${got.type} where the report has ${want.type}`);
    if (!reasonsAgree) why.push(`assertion ${got.reason} where the report has ${want.reason}`);
    if (!filesAgree) why.push(`at ${got.file} where the report has ${want.file}`);
    if (classAgrees && reasonsAgree && filesAgree) why.push(`blames ${guiltyOf(got, gf)} where the report blames ${guiltyOf(want, wf)}`);
    why.push(ov.shared.length > 0 ? `on the same path (${ov.shared.join(', ')})` : `near the same frame (${gf[0]})`);
    return { verdict: 'related', why };
  }
  return { verdict: 'different', why: [`${got.title}: no frame in common with ${want.title}`] };
}

export interface FieldRow {
  field: string;
  reported: string | null;
  reproduced: string | null;
  /** null when one side does not have the field. */
  agree: boolean | null;
}

export interface CrashComparison {
  rows: FieldRow[];
  /** Frames (aliases applied, names as each side printed them) both stacks have, in the report's order. */
  framesAgree: Array<{ reported: string; reproduced: string }>;
  framesOnlyReported: string[];
  framesOnlyReproduced: string[];
}

const str = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : Array.isArray(v) ? v.join('|') : String(v));

/**
 * The reported and the reproduced crash field by field: title, class,
 * assertion, the page-dump fields that mean something across boots (never
 * pointers, pfn or index: spec §0), the process and taint, then the frames.
 */
export function compareCrashes(want: CrashReport, got: CrashReport): CrashComparison {
  const rows: FieldRow[] = [];
  const row = (field: string, a: unknown, b: unknown, agree?: boolean) => {
    const reported = str(a);
    const reproduced = str(b);
    rows.push({ field, reported, reproduced, agree: reported === null || reproduced === null ? null : (agree ?? reported === reproduced) });
  };
  row('title', want.title, got.title, want.title === got.title || sameCrash(want, got));
  row('type', want.type, got.type, classOf(want.type) === classOf(got.type));
  row('file', want.file, got.file);
  row('assertion', want.reason, got.reason);
  const a = want.pageDump;
  const b = got.pageDump;
  if (a || b) {
    row('page dump format', a?.format, b?.format);
    row('refcount', a?.refcount, b?.refcount);
    row('mapcount', a?.mapcount, b?.mapcount);
    row('order', a?.order, b?.order);
    row('entire_mapcount', a?.entireMapcount, b?.entireMapcount);
    row('pincount', a?.pincount, b?.pincount);
    row('aops', a?.aops, b?.aops);
    row('flags', a?.flags?.slice().sort(), b?.flags?.slice().sort());
    row('page_type', a?.pageType, b?.pageType);
    row('assert macro', a?.assertMacro, b?.assertMacro);
  }
  row('Comm', want.header?.comm, got.header?.comm);
  row('kernel', want.header?.kernelVersion, got.header?.kernelVersion);
  row('taint', want.header?.tainted?.letters, got.header?.tainted?.letters);
  const wf = significantFunctions(want);
  const gf = significantFunctions(got);
  const gByAlias = new Map<string, string>();
  for (const f of gf) if (!gByAlias.has(aliasFrame(f))) gByAlias.set(aliasFrame(f), f);
  const framesAgree: CrashComparison['framesAgree'] = [];
  const framesOnlyReported: string[] = [];
  const used = new Set<string>();
  for (const f of wf) {
    const g = gByAlias.get(aliasFrame(f));
    if (g !== undefined) {
      framesAgree.push({ reported: f, reproduced: g });
      used.add(g);
    } else framesOnlyReported.push(f);
  }
  return { rows, framesAgree, framesOnlyReported, framesOnlyReproduced: gf.filter((f) => !used.has(f)) };
}
