// Keys that say "same crash" (§4.5). The dedup key must survive reboots, KASLR,
// rebuilds and line-number drift; the match key must also survive the renames
// between revisions of the DAX refcount series, so it maps known aliases first.

/**
 * Functions that are the same step of the DAX PMD/PTE fault path across series
 * revisions: early revisions crash in dax_insert_pfn_pmd(), merged code in
 * vmf_insert_folio_pmd() or inline in dax_fault_iter(), MAP_SYNC in dax_insert_pfn_mkwrite().
 */
export const FRAME_ALIASES: Readonly<Record<string, string>> = {
  dax_insert_pfn_pmd: '~dax_insert_folio',
  vmf_insert_folio_pmd: '~dax_insert_folio',
  dax_fault_iter: '~dax_insert_folio',
  dax_insert_pfn_mkwrite: '~dax_insert_folio',
};

const ALIASES = new Map(Object.entries(FRAME_ALIASES));

export function aliasFrame(fn: string): string {
  return ALIASES.get(fn) ?? fn;
}

export interface KeyInput {
  type: string;
  title: string;
  /** syzkaller-style alternative titles ("stall in f", "bad-access in f"). */
  altTitles?: readonly string[];
  reason: string;
  file: string | null;
  /** Non-skipped frames, guilty first. */
  frames: readonly string[];
}

/** Title + reason + first four non-skipped frames; nothing address- or line-dependent. */
export function dedupKey(k: KeyInput): string {
  return [k.title, k.reason, k.frames.slice(0, 4).join(',')].join('|');
}

/**
 * Looser key for "is this the crash we are trying to reproduce": class, file,
 * assertion and the first two distinct frames after alias mapping. Two crashes
 * of the same bug on different revisions of the series compare equal.
 */
export function matchKey(k: KeyInput): string {
  // A kind-independent alternative title makes the key: a soft lockup and an
  // RCU stall in one syscall, or KASAN and a GPF in one function, are one bug.
  for (const a of k.altTitles ?? []) {
    const m = GENERIC_ALT_RE.exec(a);
    if (m) return [m[1]!, '', '', aliasFrame(m[2]!)].join('|');
  }
  const frames: string[] = [];
  for (const f of k.frames) {
    const a = aliasFrame(f);
    if (!frames.includes(a)) frames.push(a);
    if (frames.length >= 2) break;
  }
  return [k.type, k.file ?? '', k.reason, frames.join(',')].join('|');
}

const GENERIC_ALT_RE = /^(stall|hang|bad-access|invalid-free|stack-overflow) in ([\w.]+)$/;

/** A title with the function it names mapped through the DAX aliases. */
function aliasTitle(t: string): string {
  const m = / in ([\w.]+)$/.exec(t);
  return m ? t.slice(0, m.index) + ' in ' + aliasFrame(m[1]!) : t;
}

/**
 * Whether two reports are one bug in syzkaller's sense: their titles and
 * alternative titles intersect (functions mapped through the DAX aliases).
 */
export function sameCrash(a: { title: string; altTitles?: readonly string[] }, b: { title: string; altTitles?: readonly string[] }): boolean {
  const names = new Set([a.title, ...(a.altTitles ?? [])].map(aliasTitle));
  return [b.title, ...(b.altTitles ?? [])].some((t) => names.has(aliasTitle(t)));
}

/** Parse a key made by matchKey back into its parts. */
export function splitMatchKey(key: string): { type: string; file: string; reason: string; frames: string[] } {
  const [type = '', file = '', reason = '', frames = ''] = key.split('|');
  return { type, file, reason, frames: frames === '' ? [] : frames.split(',') };
}

/**
 * Whether a report's frames satisfy a reproduction target in the §4.5 sense:
 * every required frame present (aliases applied), plus one of each alias group.
 */
export function framesMatch(required: readonly string[], frames: readonly string[]): boolean {
  const have = new Set(frames.map(aliasFrame));
  return required.every((r) => have.has(aliasFrame(r)));
}
