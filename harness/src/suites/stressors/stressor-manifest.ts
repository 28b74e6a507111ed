// The stressor manifest (suites/stressors/manifest.json): where each stressor
// runs and what the correct kernel answer is per kernel version. Pure: load +
// validate, kernel version ranges, test-name filtering and the expansion into
// an ordered list of cases the runner executes.
//
// Test names: `stressor` selects every target the manifest lists for it;
// `stressor.target` one (e.g. `reflink_share.xfs-reflink`). Tests marked
// "default": false run only when named.
import { compareVersionParts, versionTriple } from '../../kernel/index.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stressorDir } from '../../image/initramfs.ts';
import type { ExpectedOutcome, TestStatus } from '../../results/records.ts';
import { InputError } from '../../host/errors.ts';
import type { DaxFs } from '../fsdax.ts';

export type TargetMode = 'fsdax' | 'devdax';

export interface ManifestTarget {
  mode: TargetMode;
  fs?: DaxFs;
  reflink?: '0' | '1';
  align?: '4K' | '2M' | '1G';
  /** A /proc/cpuinfo flag the target needs (1 GiB device-dax needs pdpe1gb). */
  cpuFlag?: string;
}

export interface Expectation {
  /** Kernel version range, e.g. "<6.5", ">=6.5 <6.15"; absent = every kernel. */
  kernel?: string;
  /** Targets it applies to; absent = all of the test's targets. */
  targets?: string[];
  /** The status the harness should record on such a kernel (default pass). */
  status?: ExpectedStatus;
  /** Regex the result's reason should match (for fail/crash/skip). */
  match?: string;
  /** Arguments appended for such a kernel (e.g. the answer the C program checks). */
  args?: string[];
  /**
   * A second outcome this kernel produces only sometimes (a race the stressor
   * may or may not win in its time): recorded as expected too, never hidden.
   */
  sometimes?: { status: ExpectedStatus; match?: string };
  why: string;
  /** Kernel release the expectation was observed on, if it was. */
  verified?: string;
}

export type ExpectedStatus = Extract<TestStatus, 'pass' | 'fail' | 'skip' | 'crash'>;

export interface ManifestTest {
  name: string;
  spec: string;
  /** The C program (default: name). */
  binary?: string;
  /** false: runs only when named. */
  default?: boolean;
  seconds: number;
  targets: string[];
  args?: string[];
  /** Runner hooks on device-dax targets: revoke (unbind while mapped), cycle-namespace. */
  hooks?: Hook[];
  expect: Expectation[];
}

export type Hook = 'revoke' | 'cycle-namespace';

export interface Manifest {
  schema: 1;
  targets: Record<string, ManifestTarget>;
  tests: ManifestTest[];
}

export class ManifestError extends InputError {}

export const manifestPath = join(stressorDir, 'manifest.json');

export async function loadManifest(path = manifestPath): Promise<Manifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ManifestError(`${path}: ${(e as Error).message}`);
  }
  return validateManifest(raw, path);
}

const STATUSES: ExpectedStatus[] = ['pass', 'fail', 'skip', 'crash'];
const HOOKS: Hook[] = ['revoke', 'cycle-namespace'];
const PLACEHOLDERS = new Set(['file', 'dev', 'mnt', 'raw', 'holdMs']);

/** Check the shape and cross-references; every problem is named with where it is. */
export function validateManifest(raw: unknown, where = 'manifest'): Manifest {
  const bad = (msg: string): never => {
    throw new ManifestError(`${where}: ${msg}`);
  };
  const m = raw as Manifest;
  if (!m || typeof m !== 'object') bad('not a JSON object');
  if (m.schema !== 1) bad(`schema ${String(m.schema)} is not 1`);
  if (!m.targets || typeof m.targets !== 'object') bad('no "targets" object');
  for (const [k, t] of Object.entries(m.targets)) {
    if (!/^[a-z0-9-]+$/.test(k)) bad(`target name "${k}" must be lowercase letters, digits and dashes`);
    if (t.mode === 'fsdax') {
      if (t.fs !== 'ext4' && t.fs !== 'xfs') bad(`target ${k}: fsdax needs fs ext4 or xfs`);
      if (t.reflink !== undefined && (t.fs !== 'xfs' || !['0', '1'].includes(t.reflink))) bad(`target ${k}: reflink is "0" or "1" and only for xfs`);
    } else if (t.mode === 'devdax') {
      if (!['4K', '2M', '1G'].includes(t.align ?? '')) bad(`target ${k}: devdax needs align 4K, 2M or 1G`);
    } else bad(`target ${k}: mode must be fsdax or devdax`);
  }
  if (!Array.isArray(m.tests) || !m.tests.length) bad('no "tests" list');
  const seen = new Set<string>();
  for (const t of m.tests) {
    const at = `test ${t?.name ?? '?'}`;
    if (typeof t.name !== 'string' || !/^[a-z0-9_]+$/.test(t.name)) bad(`${at}: name must be lowercase letters, digits and underscores`);
    if (seen.has(t.name)) bad(`${at}: listed twice`);
    seen.add(t.name);
    if (t.binary !== undefined && !/^[a-z0-9_]+$/.test(t.binary)) bad(`${at}: bad binary name`);
    if (typeof t.seconds !== 'number' || !(t.seconds > 0) || t.seconds > 3600) bad(`${at}: seconds must be a number in (0, 3600]`);
    if (!Array.isArray(t.targets) || !t.targets.length) bad(`${at}: no targets`);
    for (const k of t.targets) if (!m.targets[k]) bad(`${at}: unknown target "${k}"`);
    for (const h of t.hooks ?? []) if (!HOOKS.includes(h)) bad(`${at}: unknown hook "${h}"`);
    checkArgs(t.args ?? [], at, bad);
    if (!Array.isArray(t.expect)) bad(`${at}: "expect" must be a list (empty: pass everywhere)`);
    for (const [i, e] of t.expect.entries()) {
      const ew = `${at} expect[${i}]`;
      if (typeof e.why !== 'string' || !e.why) bad(`${ew}: needs a "why"`);
      if (e.kernel !== undefined) parseRange(e.kernel, ew);
      if (e.status !== undefined && !STATUSES.includes(e.status)) bad(`${ew}: status must be one of ${STATUSES.join(', ')}`);
      for (const k of e.targets ?? []) if (!t.targets.includes(k)) bad(`${ew}: target "${k}" is not one of the test's targets`);
      if (e.match !== undefined) {
        try {
          new RegExp(e.match);
        } catch {
          bad(`${ew}: match is not a valid regex`);
        }
      }
      checkArgs(e.args ?? [], ew, bad);
    }
  }
  return m;
}

function checkArgs(args: unknown, at: string, bad: (m: string) => never): void {
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) bad(`${at}: args must be a list of strings`);
  for (const a of args as string[])
    for (const p of a.matchAll(/\{(\w+)\}/g)) if (!PLACEHOLDERS.has(p[1])) bad(`${at}: unknown placeholder {${p[1]}}`);
}

// ---------------------------------------------------------------- versions

/** Major, minor, patch of a kernel release ("6.1.0-28-amd64" → [6, 1, 0]). */
export function kernelVersion(release: string): [number, number, number] {
  const v = versionTriple(release);
  if (!v) throw new ManifestError(`kernel release "${release}" does not start with a version number`);
  return v;
}

type Cmp = { op: '<' | '<=' | '>' | '>=' | '='; v: [number, number, number] };

function parseRange(range: string, where: string): Cmp[] {
  const parts = range.trim().split(/\s+/).filter(Boolean);
  if (!parts.length) throw new ManifestError(`${where}: empty kernel range`);
  return parts.map((p) => {
    const m = /^(<=|>=|<|>|=)?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(p);
    if (!m) throw new ManifestError(`${where}: "${p}" is not a version comparison like >=6.5 or <6.15`);
    return { op: (m[1] ?? '=') as Cmp['op'], v: [Number(m[2]), Number(m[3]), Number(m[4] ?? 0)] };
  });
}

/** Whether a kernel release falls in a range: space-separated comparisons, all must hold. */
export function inRange(release: string, range: string): boolean {
  const v = kernelVersion(release);
  return parseRange(range, 'range').every(({ op, v: w }) => {
    const c = compareVersionParts(v, w);
    // "=6.1" means the 6.1 series when no patch level is given.
    if (op === '=') return v[0] === w[0] && v[1] === w[1] && (w[2] === 0 || v[2] === w[2]);
    return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0;
  });
}

export interface ResolvedExpectation {
  status: ExpectedStatus;
  match?: string;
  /** Other outcomes a race makes possible on this kernel. */
  sometimes: Array<{ status: ExpectedStatus; match?: string }>;
  args: string[];
  /** The "why" of every expectation that applied, in order. */
  why: string[];
  verified: boolean;
}

/** What a test should do on one target under one kernel: every matching entry applies in order. */
export function resolveExpectation(test: ManifestTest, target: string, release: string): ResolvedExpectation {
  const r: ResolvedExpectation = { status: 'pass', args: [], why: [], verified: true, sometimes: [] };
  for (const e of test.expect) {
    if (e.targets && !e.targets.includes(target)) continue;
    if (e.kernel && !inRange(release, e.kernel)) continue;
    if (e.status) {
      r.status = e.status;
      r.match = e.match;
    }
    if (e.sometimes) r.sometimes.push(e.sometimes);
    r.args.push(...(e.args ?? []));
    r.why.push(e.why);
    if (!e.verified) r.verified = false;
  }
  return r;
}

/**
 * The manifest's expectation in the shape every suite's results carry, or
 * null when the correct answer (a plain pass) is all it says. The reasons of
 * several non-pass outcomes fold into one alternation.
 */
export function expectedOutcome(e: ResolvedExpectation, source = 'suites/stressors/manifest.json'): ExpectedOutcome | null {
  const outcomes = [{ status: e.status, match: e.match }, ...e.sometimes];
  if (outcomes.every((o) => o.status === 'pass')) return null;
  const bad = outcomes.filter((o) => o.status !== 'pass');
  const match = bad.every((o) => o.match) ? bad.map((o) => `(?:${o.match})`).join('|') : undefined;
  return { statuses: [...new Set(outcomes.map((o) => o.status))], ...(match ? { match } : {}), why: e.why.join('; '), source };
}

/** Whether a recorded outcome is one the manifest expects of this kernel. */
export function outcomeExpected(e: ResolvedExpectation, status: string, reason: string): boolean {
  return [{ status: e.status, match: e.match }, ...e.sometimes].some((o) => o.status === status && (!o.match || new RegExp(o.match).test(reason)));
}

// ------------------------------------------------------------------ matrix

export interface StressorCase {
  /** `test.target`, the unique id and log name. */
  id: string;
  test: ManifestTest;
  binary: string;
  targetName: string;
  target: ManifestTarget;
  seconds: number;
  expect: ResolvedExpectation;
  /** Why the case will not run on this machine (e.g. CPU lacks pdpe1gb), or null. */
  unavailable: string | null;
}

export interface MatrixOptions {
  /** Names from --test: `stressor` or `stressor.target`; empty/absent = every default test. */
  tests?: string[];
  release: string;
  /** CPU flags of the guest (from /proc/cpuinfo). */
  cpuFlags: Set<string>;
  /** Seconds for every case (from --seconds); 0 or absent = the manifest's per-test value. */
  seconds?: number;
}

/**
 * Check --test names against the manifest before anything boots (bad input,
 * not a test failure): throws ManifestError naming the unknown ones.
 */
export async function checkStressorTestNames(tests: string[] | undefined, path = manifestPath): Promise<void> {
  if (!tests?.length) return;
  const m = await loadManifest(path);
  expandMatrix(m, { tests, release: '0.0', cpuFlags: new Set() });
}

/** Names the user may pass: each test and each test.target. */
export function knownNames(m: Manifest): string[] {
  return m.tests.flatMap((t) => [t.name, ...t.targets.map((k) => `${t.name}.${k}`)]);
}

/**
 * The cases to run, grouped by target in the manifest's target order (so
 * each filesystem is made once), tests in manifest order within a target.
 */
export function expandMatrix(m: Manifest, o: MatrixOptions): StressorCase[] {
  const wanted = new Map<string, Set<string> | 'all'>();
  if (o.tests?.length) {
    const known = new Set(knownNames(m));
    const unknown = o.tests.filter((n) => !known.has(n));
    if (unknown.length)
      throw new ManifestError(`unknown stressor test ${unknown.map((u) => `"${u}"`).join(', ')}: names are a stressor (${m.tests.map((t) => t.name).join(', ')}) or stressor.target`);
    for (const n of o.tests) {
      const [t, k] = n.split('.');
      if (!k) wanted.set(t, 'all');
      else if (wanted.get(t) !== 'all') wanted.set(t, new Set([...((wanted.get(t) as Set<string>) ?? []), k]));
    }
  }
  const cases: StressorCase[] = [];
  for (const targetName of Object.keys(m.targets)) {
    const target = m.targets[targetName];
    for (const test of m.tests) {
      if (!test.targets.includes(targetName)) continue;
      if (o.tests?.length) {
        const w = wanted.get(test.name);
        if (!w || (w !== 'all' && !w.has(targetName))) continue;
      } else if (test.default === false) continue;
      cases.push({
        id: `${test.name}.${targetName}`,
        test,
        binary: test.binary ?? test.name,
        targetName,
        target,
        seconds: o.seconds && o.seconds > 0 ? o.seconds : test.seconds,
        expect: resolveExpectation(test, targetName, o.release),
        unavailable: target.cpuFlag && !o.cpuFlags.has(target.cpuFlag) ? `the guest CPU has no ${target.cpuFlag} flag` : null,
      });
    }
  }
  return cases;
}

export interface ArgValues {
  file: string;
  dev: string;
  mnt: string;
  raw: string;
  holdMs: string;
}

/** The stressor's argv: target, duration, seed, the test's args and the kernel-specific ones. */
export function caseArgv(c: StressorCase, seed: number, v: ArgValues): string[] {
  const sub = (a: string) => a.replace(/\{(\w+)\}/g, (_, k: keyof ArgValues) => v[k]);
  const target = c.target.mode === 'devdax' ? ['--dev', v.dev] : ['--file', v.file];
  return [c.binary, ...target, '--seconds', String(c.seconds), '--seed', String(seed), ...(c.test.args ?? []).map(sub), ...c.expect.args.map(sub)];
}

/** Result params for a case: {fs, mode, reflink?, align?, target}. */
export function caseParams(c: StressorCase): Record<string, string> {
  const p: Record<string, string> = {};
  if (c.target.fs) p.fs = c.target.fs;
  p.mode = c.target.mode;
  if (c.target.reflink) p.reflink = c.target.reflink;
  if (c.target.align) p.align = c.target.align;
  p.target = c.targetName;
  return p;
}
