// Which tests to try for a reported crash, ranked, each with the reasons it
// was picked: the tests the report names, the program that crashed, the
// functions on its stack (weighted by how few tests drive them) and the
// filesystem or mode it ran on. Names are the ones `dax-harness run` takes.
import { expandMatrix, type Manifest, type StressorCase } from '../../suites/stressors/stressor-manifest.ts';
import { aliasFrame } from '../../oracle/index.ts';
import type { ReportFacts } from './facts.ts';
import { stressorPaths } from '../../suites/stressors/paths.ts';
import { NDCTL_PATHS, NDCTL_TARGET } from '../../suites/ndctl/paths.ts';
import { SMOKE_PATHS } from '../../suites/smoke/index.ts';

export type Suite = 'stressors' | 'ndctl' | 'smoke';

/** One test to try: what `dax-harness run` calls it, and why it is on the list. */
export interface Candidate {
  /** Unique name, as bisect's --test takes it too: `stressor.target`, `ndctl:NAME`, `smoke:FS`. */
  id: string;
  suite: Suite;
  /** The --test name run takes (none for the smoke, which takes --fs). */
  test: string | null;
  fs: 'ext4' | 'xfs' | null;
  score: number;
  reasons: string[];
  /** Why it cannot run with the given options (e.g. ndctl's tests need --ndctl), or null. */
  blocked: string | null;
}

export interface CandidateOptions {
  manifest: Manifest;
  /** Whether an ndctl tree was given (ndctl's tests need one). */
  ndctl: boolean;
  /** Only these ids (from --test); empty: rank them all. */
  only?: readonly string[];
}

const NAMED = 100;
const PROGRAM = 60;
const TARGET_MATCH = 15;
const TARGET_MISMATCH = -40;
const PATH_WEIGHT = 12;
const SMOKE_BASE = 4;

/** Every test a repro may try: stressor cases (all of the manifest's, default or not), ndctl's dax tests, the smoke per filesystem. */
export function allCandidates(m: Manifest): Candidate[] {
  const cases: StressorCase[] = expandMatrix(m, { tests: m.tests.map((t) => t.name), release: '0.0', cpuFlags: new Set() });
  const out: Candidate[] = cases.map((c) => ({ id: c.id, suite: 'stressors', test: c.id, fs: c.target.fs ?? null, score: 0, reasons: [], blocked: null }));
  for (const n of Object.keys(NDCTL_PATHS)) out.push({ id: `ndctl:${n}`, suite: 'ndctl', test: n, fs: NDCTL_TARGET[n]?.fs ?? null, score: 0, reasons: [], blocked: null });
  for (const fs of ['ext4', 'xfs'] as const) out.push({ id: `smoke:${fs}`, suite: 'smoke', test: null, fs, score: 0, reasons: [], blocked: null });
  return out;
}

/** Names --test accepts for repro. */
export function candidateIds(m: Manifest): string[] {
  return allCandidates(m).map((c) => c.id);
}

function pathsOf(c: Candidate, m: Manifest): readonly string[] {
  if (c.suite === 'smoke') return SMOKE_PATHS;
  if (c.suite === 'ndctl') return NDCTL_PATHS[c.test!] ?? [];
  const name = c.id.split('.')[0]!;
  const t = m.tests.find((x) => x.name === name);
  return stressorPaths(name, t?.binary ?? name);
}

/** Whether a candidate's target agrees with the report's filesystem/mode/reflink; null when the report does not say. */
function targetAgrees(c: Candidate, f: ReportFacts, m: Manifest): { agrees: boolean; what: string } | null {
  let mode: 'fsdax' | 'devdax' | 'both';
  let fs: string | null = c.fs;
  let reflink = false;
  if (c.suite === 'stressors') {
    const target = m.targets[c.id.split('.')[1]!]!;
    mode = target.mode;
    fs = target.fs ?? null;
    reflink = target.reflink === '1';
  } else if (c.suite === 'ndctl') mode = NDCTL_TARGET[c.test!]?.mode ?? 'both';
  else mode = 'fsdax';
  if (f.mode === 'devdax') {
    if (mode === 'fsdax') return { agrees: false, what: 'runs on fsdax, the crash is on device-dax' };
    return { agrees: true, what: 'runs on device-dax, as the crash did' };
  }
  if (f.fs) {
    if (mode === 'devdax') return { agrees: false, what: `runs on device-dax, the crash is on ${f.fs}` };
    if (fs && fs !== f.fs) return { agrees: false, what: `runs on ${fs}, the crash is on ${f.fs}` };
    if (!fs) return null;
    if (f.reflink && !reflink) return { agrees: false, what: 'xfs without reflink, the crash is on shared (reflinked) extents' };
    return { agrees: true, what: `runs on ${fs}${reflink ? ' with reflink' : ''}, as the crash did` };
  }
  return null;
}

/**
 * The candidates ranked best first. Scores add up: named in the report,
 * the crashing program, stack functions the test drives (rarer ones weigh
 * more), and the filesystem/mode it runs on. Ties keep the manifest order.
 */
export function rankCandidates(f: ReportFacts, o: CandidateOptions): Candidate[] {
  const all = allCandidates(o.manifest);
  // A function that only one test drives says more than one every test drives.
  const drivers = new Map<string, number>();
  for (const c of all) for (const fn of new Set(pathsOf(c, o.manifest).map(aliasFrame))) drivers.set(fn, (drivers.get(fn) ?? 0) + 1);
  const onStack = new Set(f.functions.map(aliasFrame));

  for (const c of all) {
    const base = c.id.split('.')[0]!;
    for (const t of f.tests) {
      const hit =
        t.suite === c.suite &&
        (c.suite === 'stressors' ? t.name === c.id || t.name === base : c.suite === 'ndctl' ? t.name === c.test : t.name === 'smoke' || t.name === c.id);
      if (!hit) continue;
      if (t.how === 'text') {
        // "pmd_pte_mix.xfs" says more than "pmd_pte_mix".
        c.score += t.name === c.id || c.suite === 'ndctl' ? NAMED : NAMED * 0.8;
        c.reasons.push(`the report names ${t.name}`);
      } else {
        c.score += PROGRAM;
        c.reasons.push(`the crashing process (Comm: ${f.comm}) is ${t.suite === 'ndctl' ? "the program of ndctl's" : 'the program of'} ${t.name}`);
      }
      break;
    }
    const hits = [...new Set(pathsOf(c, o.manifest).map(aliasFrame))].filter((fn) => onStack.has(fn));
    if (hits.length > 0) {
      const w = hits.reduce((s, fn) => s + PATH_WEIGHT / (drivers.get(fn) ?? 1), 0);
      c.score += Math.round(w * 10) / 10;
      const names = hits.map((h) => (h.startsWith('~') ? f.functions.find((s) => aliasFrame(s) === h) ?? h : h));
      c.reasons.push(`drives ${names.slice(0, 4).join(', ')}${names.length > 4 ? ` (+${names.length - 4})` : ''} from the stack`);
    }
    const tgt = targetAgrees(c, f, o.manifest);
    if (tgt) {
      c.score += tgt.agrees ? TARGET_MATCH : TARGET_MISMATCH;
      c.reasons.push(tgt.what);
    }
    if (c.suite === 'smoke') {
      c.score += SMOKE_BASE;
      c.reasons.push('the DAX smoke: PMD, PTE and MAP_SYNC faults with pattern checks, quick');
    }
    if (c.suite === 'ndctl' && !o.ndctl) c.blocked = "needs --ndctl PATH (ndctl's tests run from your ndctl tree)";
  }
  const order = new Map(all.map((c, i) => [c.id, i]));
  let ranked = all.filter((c) => c.score > 0).sort((a, b) => b.score - a.score || order.get(a.id)! - order.get(b.id)!);
  if (o.only?.length) {
    ranked = o.only.map((id) => {
      const c = all.find((x) => x.id === id)!;
      if (c.score <= 0) c.reasons.push('asked for with --test');
      return c;
    });
  }
  return ranked;
}
