// Known outcomes: what a test is known to do on a kernel (a missing feature, a
// bug not fixed there, a race it loses now and then), so a run's verdict and
// exit code come from unexpected outcomes only. In the manner of kdevops'
// expunge lists and xfstests' exclude files, but with the outcome and the why:
//
//   # suite:test          kernel          status[|status]  [/reason regex/]  why
//   ndctl:daxctl-create.sh  @stock          skip   /victim region/   Debian builds CXL_BUS in: no cxl_test
//   stressors:vma_ops.ext4  <6.5            crash|fail                bad pmd on devmap PMDs
//
// kernel: `*`, or comparisons joined by commas (`>=6.1,<6.5`, `=6.1` for the
// 6.1 series), optionally with `@stock` / `@built` / `@path` for the kernel's
// provenance and `@tcg` / `@kvm` for the accelerator (a test's timing check
// that emulation trips). The test may end in `*` to cover a family (`stressors:vma_ops.*`).
// Later lines win over earlier ones, and a user's files come after ours.
// Pure: no I/O but reading the files named.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../host/paths.ts';
import { inRange } from './stressors/stressor-manifest.ts';
import { InputError } from '../host/errors.ts';
import { isSuiteName, suiteByName, suiteNames } from './index.ts';

/** Outcomes of the guest's boot itself, listed as boot:NAME beside the suites' tests. */
const BOOT = 'boot';
import type { Accel, ExpectedOutcome, KernelArtifact, TestResult, TestStatus, Verdict } from '../results/records.ts';

export const BUILTIN_KNOWN = join(repoRoot, 'suites', 'known-outcomes.txt');

const STATUSES: TestStatus[] = ['pass', 'fail', 'skip', 'timeout', 'crash'];

export class KnownOutcomesError extends InputError {}

export interface KnownEntry {
  test: string;
  /** Comparisons (all must hold), or empty for every kernel. */
  kernel: string[];
  kind: KernelArtifact['kind'] | null;
  accel: Accel | null;
  statuses: TestStatus[];
  match: string | null;
  why: string;
  source: string;
}

/** Parse one known-outcome file's text; `where` names it in errors (path). */
export function parseKnown(text: string, where: string): KnownEntry[] {
  const out: KnownEntry[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\s+$/, '');
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const at = `${where}:${i + 1}`;
    const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s*(?:\/((?:[^/\\]|\\.)*)\/)?\s*(.*)$/.exec(line);
    if (!m) throw new KnownOutcomesError(`${at}: expected "suite:test kernel status [/regex/] why"`);
    const [, test, kernelField, statusField, match, why] = m;
    const prefix = /^([\w-]+):[\w.*+-]+$/.exec(test)?.[1];
    if (!prefix || !(prefix === BOOT || isSuiteName(prefix))) throw new KnownOutcomesError(`${at}: "${test}" is not suite:test (suite ${suiteNames().join(', ')} or ${BOOT})`);
    const statuses = statusField.split('|') as TestStatus[];
    for (const s of statuses) if (!STATUSES.includes(s)) throw new KnownOutcomesError(`${at}: status "${s}" is not one of ${STATUSES.join(', ')}`);
    let kind: KnownEntry['kind'] = null;
    let accel: Accel | null = null;
    const parts: string[] = [];
    for (const p of kernelField.split(',')) {
      if (p === '*') continue;
      const k = /^@(stock|built|path)$/.exec(p);
      if (k) kind = k[1] === 'stock' ? 'debian-stock' : (k[1] as 'built' | 'path');
      else if (p === '@tcg' || p === '@kvm') accel = p.slice(1) as Accel;
      else if (/^(<=|>=|<|>|=)?\d+\.\d+(\.\d+)?$/.test(p)) parts.push(p);
      else throw new KnownOutcomesError(`${at}: kernel "${p}" is not *, a comparison like >=6.5 or <6.15, or @stock/@built/@path/@tcg/@kvm`);
    }
    if (match !== undefined) {
      try {
        new RegExp(match);
      } catch {
        throw new KnownOutcomesError(`${at}: /${match}/ is not a valid regex`);
      }
    }
    if (!why.trim()) throw new KnownOutcomesError(`${at}: say why the outcome is expected (the rest of the line)`);
    out.push({ test, kernel: parts, kind, accel, statuses, match: match ?? null, why: why.trim(), source: at });
  }
  return out;
}

const KNOWN_MAX_BYTES = 4 << 20;

export async function loadKnown(paths: string[]): Promise<KnownEntry[]> {
  const all: KnownEntry[] = [];
  for (const p of paths) {
    let text: string;
    try {
      // A list people write by hand: anything this large is the wrong file, refused before it is read whole.
      if ((await stat(p)).size > KNOWN_MAX_BYTES) throw new KnownOutcomesError(`known-outcome file ${p} is over ${KNOWN_MAX_BYTES >> 20} MiB: give the list of expected outcomes`);
      text = await readFile(p, 'utf8');
    } catch (e) {
      if (e instanceof KnownOutcomesError) throw e;
      throw new KnownOutcomesError(`known-outcome file ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message}`);
    }
    all.push(...parseKnown(text, p));
  }
  return all;
}

/** The name a test has in known-outcome lists: suite:id, the id as run prints it (the guest's boot: boot:NAME). */
export function knownName(suite: string, r: Pick<TestResult, 'name' | 'params'>): string {
  return `${suite}:${isSuiteName(suite) ? suiteByName(suite).idOf(r) : r.name}`;
}

function nameMatches(pattern: string, name: string): boolean {
  if (!pattern.endsWith('*')) return pattern === name;
  return name.startsWith(pattern.slice(0, -1));
}

/** The last entry that covers this test on this kernel, as an ExpectedOutcome. */
/** What a known outcome can depend on: the kernel's version and provenance, and the accelerator. */
export interface KnownContext extends Pick<KernelArtifact, 'release' | 'kind'> {
  accel?: Accel;
}

export function lookupKnown(entries: KnownEntry[], name: string, kernel: KnownContext): ExpectedOutcome | null {
  let hit: KnownEntry | null = null;
  for (const e of entries) {
    if (!nameMatches(e.test, name)) continue;
    if (e.kind && e.kind !== kernel.kind) continue;
    if (e.accel && e.accel !== kernel.accel) continue;
    if (e.kernel.length && !safeInRange(kernel.release, e.kernel.join(' '))) continue;
    hit = e;
  }
  return hit ? { statuses: hit.statuses, match: hit.match ?? undefined, why: hit.why, source: hit.source } : null;
}

function safeInRange(release: string, range: string): boolean {
  try {
    return inRange(release, range);
  } catch {
    // A kernel whose release is not a version (a user's odd local name) matches no range.
    return false;
  }
}

/**
 * The verdict of a test given what is known of it. Infrastructure errors stay
 * errors whatever is expected: an expectation is about the kernel, not the host.
 */
export function verdictOf(r: Pick<TestResult, 'status' | 'reason'>, expected: ExpectedOutcome | null | undefined): Verdict {
  if (r.status === 'infra-error') return 'error';
  const known = expected && expected.statuses.includes(r.status) && (!expected.match || new RegExp(expected.match).test(r.reason));
  if (r.status === 'pass') return expected && !expected.statuses.includes('pass') ? 'xpass' : 'pass';
  if (r.status === 'skip') return 'skip';
  return known ? 'xfail' : 'fail';
}

/** Set `expected` (from the lists, unless the suite set one) and `verdict` on a result. */
export function applyKnown(r: TestResult, suite: string, entries: KnownEntry[], kernel: KnownContext): TestResult {
  const listed = lookupKnown(entries, knownName(suite, r), kernel);
  // A user's list speaks last: it overrides what the suite's own manifest says.
  if (listed) r.expected = listed;
  else if (r.expected === undefined) r.expected = null;
  r.verdict = verdictOf(r, r.expected);
  return r;
}

/** Verdicts that make a run fail (exit 1). */
export function failingVerdict(v: Verdict | undefined): boolean {
  return v === 'fail';
}
