// What a crash report says that helps reproduce it: the crash itself (title,
// keys, page dump, kernel, taint, Comm), the tests it names, the functions on
// its stack and the filesystem and mode they belong to. Pure.
import { parseKernelVersion, type KernelVersion } from '../../kernel/index.ts';
export { parseKernelVersion, type KernelVersion };
import type { CrashReport, PageDump, TaintInfo } from '../../results/records.ts';
import type { SyzbotInfo } from '../../oracle/index.ts';
import type { FoundCrash, ReportInput } from './report.ts';
import type { ReproCatalogue, ReproMention } from '../../suites/index.ts';
import { DAX_FILESYSTEMS, type DaxFs } from '../../suites/fsdax.ts';
import { InputError, withSettings } from '../../host/errors.ts';
import { matchCrash } from './match.ts';
import { significantFunctions, stackFunctions } from './stack.ts';
import { CRASH } from '../settings.ts';

export type Fs = DaxFs;
export type Mode = 'fsdax' | 'devdax';
export type FaultSize = 'pte' | 'pmd' | 'pud';

/** A test the report mentions (a test id or a family of them), and where: 'text' named in the mail or log, 'comm' the crashing process is its program. */
export interface MentionedTest extends ReproMention {
  suite: string;
}

export interface ReportFacts {
  crash: FoundCrash;
  title: string;
  /** syzbot-style alternative titles, when the oracle gives them. */
  altTitles: string[];
  type: string;
  matchKey: string;
  dedupKey: string;
  file: string | null;
  reason: string;
  pageDump: PageDump | null;
  kernelVersion: KernelVersion | null;
  taint: TaintInfo | null;
  comm: string | null;
  tests: MentionedTest[];
  /** Function names on the crash's stack (RIP first, then the main trace), suffixes removed, in order, no repeats. */
  functions: string[];
  /** The same, without reporting/trap/refcount-helper frames: the ones that say where the bug is. */
  significant: string[];
  fs: Fs | null;
  mode: Mode | null;
  reflink: boolean;
  faultSize: FaultSize | null;
  /** Why fs/mode/reflink/faultSize were inferred, one line each. */
  evidence: string[];
  syzbot: SyzbotInfo | null;
  /** Other distinct crashes in the input (not quoted copies of this one). */
  others: FoundCrash[];
}

/** The report cannot be used as it is (no crash in it, a crash number it does not have): bad input. */
export class ReportError extends InputError {}

/**
 * The crash a report is about: the one picked by number (1-based, in the
 * order parse-log prints them), else the first one its sender pasted (not
 * quoted), else the first.
 */
export function primaryCrash(input: ReportInput, pick?: number): FoundCrash {
  const all = input.crashes;
  if (all.length === 0) throw new ReportError('no kernel crash found in it: give the console log or the mail that holds the crash (BUG, WARNING, Oops, KASAN, hung task...)');
  if (pick !== undefined) {
    if (!Number.isInteger(pick) || pick < 1 || pick > all.length) throw new ReportError(withSettings`${CRASH} ${pick} is not one of its ${all.length} crash(es): pick 1-${all.length} (dax-harness parse-log shows them)`);
    return all[pick - 1]!;
  }
  return all.find((c) => c.source.depth === 0) ?? all[0]!;
}

/** Tests named in the text or implied by the crashing process, each suite asked in turn; a name once. */
export function mentionedTests(text: string, comm: string | null, catalogue: ReproCatalogue): MentionedTest[] {
  const out: MentionedTest[] = [];
  for (const { suite, face } of catalogue)
    for (const m of face.mentions(text, comm)) if (!out.some((o) => o.name === m.name)) out.push({ ...m, suite: suite.name });
  return out;
}

// A filesystem's own functions and address-space operations start with its name.
const FS_OF_FN: Array<[RegExp, Fs]> = DAX_FILESYSTEMS.map((fs) => [new RegExp(`^_*${fs}_`), fs]);
const DEVDAX_FN_RE = /^_*(?:dev_dax_|kill_dev_dax|unregister_dev_dax|dax_pmem_)/;
const REFLINK_FN_RE = /^_*(?:xfs_reflink_|dax_folio_make_shared|dax_page_share_|dax_unshare_iter|dax_file_unshare|dax_dedupe_file_range_compare|dax_remap_file_range_prep|dax_iomap_copy_around)/;
const PMD_FN_RE = /^_*(?:dax_iomap_pmd_fault|dev_dax_pmd_fault|vmf_insert_folio_pmd|vmf_insert_pfn_pmd|dax_insert_pfn_pmd|dax_pmd_load_hole|do_huge_pmd\w*|zap_huge_pmd|copy_huge_pmd|move_huge_pmd|__split_huge_pmd\w*|gup_fast_pmd_leaf|gup_huge_pmd)$/;
const PTE_FN_RE = /^_*(?:dax_iomap_pte_fault|dev_dax_pte_fault|vmf_insert_page_mkwrite|vmf_insert_mixed\w*|dax_load_hole|gup_fast_pte_range|gup_pte_range)$/;
const PUD_FN_RE = /^_*(?:dev_dax_pud_fault|vmf_insert_folio_pud|vmf_insert_pfn_pud)$/;

/** Filesystem, mode, reflink and fault size from the page dump, the stack and the text around the crash. */
export function inferTarget(r: CrashReport, functions: readonly string[], text: string, tests: readonly MentionedTest[]): Pick<ReportFacts, 'fs' | 'mode' | 'reflink' | 'faultSize' | 'evidence'> {
  const evidence: string[] = [];
  let fs: Fs | null = null;
  let mode: Mode | null = null;
  const aops = r.pageDump?.aops ?? null;
  if (aops) {
    const m = DAX_FILESYSTEMS.find((x) => aops.startsWith(`${x}_`));
    if (m) {
      fs = m;
      evidence.push(`${fs}: the dumped page belongs to ${aops}`);
    }
  }
  if (!fs) {
    for (const f of functions) {
      const hit = FS_OF_FN.find(([re]) => re.test(f));
      if (hit) {
        fs = hit[1];
        evidence.push(`${fs}: ${f} is on the stack`);
        break;
      }
    }
  }
  const devdaxFn = functions.find((f) => DEVDAX_FN_RE.test(f));
  if (devdaxFn && !fs) {
    mode = 'devdax';
    evidence.push(`device-dax: ${devdaxFn} is on the stack`);
  }
  if (!fs && !mode) {
    const mounted = /EXT4-fs \(pmem\d+\w*\): mounted|XFS \(pmem\d+\w*\): (?:Mounting|Ending clean mount)/.exec(text);
    if (mounted) {
      fs = mounted[0].startsWith('EXT4') ? 'ext4' : 'xfs';
      evidence.push(`${fs}: the log mounts it on pmem ("${mounted[0]}")`);
    }
  }
  if (!fs && !mode) {
    for (const t of tests) {
      if (t.target?.fs) {
        fs = t.target.fs;
        evidence.push(`${fs}: the report names ${t.name}`);
        break;
      }
      if (t.target?.mode === 'devdax') {
        mode = 'devdax';
        evidence.push(`device-dax: the report names ${t.name}`);
        break;
      }
    }
  }
  if (fs) mode = 'fsdax';
  const reflinkFn = functions.find((f) => REFLINK_FN_RE.test(f));
  const reflink = !!reflinkFn;
  if (reflinkFn) evidence.push(`reflink: ${reflinkFn} is on the stack`);
  let faultSize: FaultSize | null = null;
  const size = (re: RegExp, s: FaultSize) => {
    const f = functions.find((x) => re.test(x));
    if (f && !faultSize) {
      faultSize = s;
      evidence.push(`${s.toUpperCase()} mappings: ${f} is on the stack`);
    }
  };
  size(PUD_FN_RE, 'pud');
  size(PMD_FN_RE, 'pmd');
  size(PTE_FN_RE, 'pte');
  const order = r.pageDump?.order;
  if (!faultSize && order != null && order > 0) {
    faultSize = order >= 18 ? 'pud' : order >= 9 ? 'pmd' : 'pte';
    evidence.push(`${(faultSize as string).toUpperCase()} mappings: the dumped folio has order ${order}`);
  }
  return { fs, mode, reflink, faultSize, evidence };
}

/** Everything a repro plan needs from the report. */
export function reportFacts(input: ReportInput, catalogue: ReproCatalogue, pick?: number): ReportFacts {
  const crash = primaryCrash(input, pick);
  const r = crash.report;
  const text = input.texts[crash.source.message] ?? '';
  const h = r.header;
  const comm = h?.comm ?? null;
  const tests = mentionedTests(text, comm, catalogue);
  const functions = stackFunctions(r);
  const target = inferTarget(r, functions, text, tests);
  // A reply quoting part of the crash parses as a crash too: that is the same one, not another.
  const others: FoundCrash[] = [];
  for (const c of input.crashes) {
    if (c === crash || matchCrash(r, c.report).verdict === 'same') continue;
    if (others.some((o) => o.report.dedupKey === c.report.dedupKey)) continue;
    others.push(c);
  }
  return {
    crash,
    title: r.title,
    altTitles: r.altTitles ?? [],
    type: r.type,
    matchKey: r.matchKey,
    dedupKey: r.dedupKey,
    file: r.file ?? null,
    reason: r.reason ?? '',
    pageDump: r.pageDump ?? null,
    kernelVersion: h?.kernelVersion ? parseKernelVersion(h.kernelVersion) : null,
    taint: h?.tainted ?? null,
    comm,
    tests,
    functions,
    significant: significantFunctions(r),
    ...target,
    syzbot: input.messages[crash.source.message]?.syzbot ?? null,
    others,
  };
}
