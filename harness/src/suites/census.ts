// The refcount census: after every unmount (and device-dax teardown) a small
// module of ours (suites/census/dax_census.c), built for the kernel under
// test, walks the namespace's pfns and names each page whose reference count
// is not the idle value, that still has ->mapping, or that is still compound.
// Also here: the fixture that leaks a reference on purpose to prove it works
// (the umount watchdog it pairs with lives in watchdog.ts).
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../host/proc.ts';
import { cacheDir, repoRoot } from '../host/paths.ts';
import { buildCached, openCached, readJson, sha256, writeJsonAtomic } from '../host/fsutil.ts';
import { kbuildReadable, moduleBuildTree, HeadersError, versionTriple } from '../kernel/index.ts';
import { parsePageDump, normaliseLine } from '../oracle/index.ts';
import type { KernelArtifact, PageDump } from '../results/records.ts';
import type { Guest } from '../vm/guest.ts';
import { StepFailed, step, type SuiteContext, type TestLog } from './context.ts';
import { makeJobs } from '../host/cores.ts';

export type DaxMode = 'fsdax' | 'devdax';
export interface CensusTarget {
  /** /dev/pmemN (fsdax) or /dev/daxX.Y (device-dax). */
  dev: string;
  mode: DaxMode;
}

const SRC_DIR = join(repoRoot, 'suites', 'census');
const MODULE_SOURCES = ['Kbuild', 'dax_census.c', 'dax_census_fixture.c', 'daxh_fault.c'];
const HOLDER_SOURCE = 'dax_census_hold.c';
const DBG = '/sys/kernel/debug/dax_census';
const FIX_DBG = '/sys/kernel/debug/dax_census_fixture';
const GUEST_DIR = '/tmp/dax_census';

// ---------------------------------------------------------------- pure logic

/** Major and minor of a `uname -r` string ("6.1.0-56-amd64", "6.15.0-rc3+", "6.1.192+"). */
export function parseRelease(release: string): [number, number] | null {
  const v = versionTriple(release);
  return v ? [v[0], v[1]] : null;
}

export interface IdleValue {
  value: number;
  /** Where the value came from: an explicit override, the tree's dax.h (via the module), or the release. */
  from: 'override' | 'dax.h' | 'version';
}

/**
 * The refcount an idle page has (spec §0): fsdax 1 before Alistair Popple's
 * series (6.15) and 0 from it on; device-dax 1 on every version. What the
 * kernel's own dax.h says (the module reports it) wins over the version, so
 * the series applied on an older base is judged right; an override wins over both.
 */
export function expectedIdle(mode: DaxMode, release: string, fromHeader?: number | null, override?: number | null): IdleValue {
  if (override !== undefined && override !== null) return { value: override, from: 'override' };
  if (mode === 'devdax') return { value: 1, from: 'version' };
  if (fromHeader === 0 || fromHeader === 1) return { value: fromHeader, from: 'dax.h' };
  const v = parseRelease(release);
  const after = v !== null && (v[0] > 6 || (v[0] === 6 && v[1] >= 15));
  return { value: after ? 0 : 1, from: 'version' };
}

export interface NamespaceInfo {
  /** ndctl's name, e.g. namespace0.0 (also its name in /proc/iomem). */
  name: string;
  mode: string;
  /** Start of the namespace's raw resource and its size as ndctl prints them (bytes), when it does. */
  resource: number | null;
  size: number | null;
  /** Its device-dax devices (dax0.0, ...): /proc/iomem lists their part of the range under these names. */
  chardevs: string[];
}

/**
 * Find the namespace behind a device in `ndctl list -N -v` JSON (an object or
 * an array of them): fsdax by its blockdev, device-dax by a chardev of its daxregion.
 */
export function findNamespace(ndctlJson: string, dev: string): NamespaceInfo | null {
  const want = dev.replace(/^\/dev\//, '');
  let parsed: unknown;
  try {
    parsed = JSON.parse(ndctlJson);
  } catch {
    return null;
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const holds = (v: unknown): boolean => {
    if (!v || typeof v !== 'object') return false;
    if (Array.isArray(v)) return v.some(holds);
    const o = v as Record<string, unknown>;
    if (o.blockdev === want || o.chardev === want) return true;
    return Object.values(o).some((x) => typeof x === 'object' && holds(x));
  };
  for (const ns of list) {
    if (!ns || typeof ns !== 'object') continue;
    const o = ns as Record<string, unknown>;
    if (typeof o.dev !== 'string' || !holds(o)) continue;
    const num = (x: unknown) => (typeof x === 'number' ? x : typeof x === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(x) ? Number(x) : null);
    const chardevs = [...JSON.stringify(o).matchAll(/"chardev":"([^"]+)"/g)].map((m) => m[1]);
    return { name: o.dev, mode: typeof o.mode === 'string' ? o.mode : 'unknown', resource: num(o.resource), size: num(o.raw_size) ?? num(o.size), chardevs };
  }
  return null;
}

/**
 * The physical span /proc/iomem gives the named resources, end exclusive. A
 * device-dax namespace shows up split: namespace0.0 holds the info block and
 * memmap, dax0.0 the data; the census wants the whole span.
 */
export function iomemRange(iomem: string, names: string | string[]): { start: bigint; end: bigint } | null {
  const want = new Set(typeof names === 'string' ? [names] : names);
  let span: { start: bigint; end: bigint } | null = null;
  for (const line of iomem.split('\n')) {
    const m = /^\s*([0-9a-f]+)-([0-9a-f]+) : (.+)$/i.exec(line);
    if (!m || !want.has(m[3].trim())) continue;
    const start = BigInt(`0x${m[1]}`);
    const end = BigInt(`0x${m[2]}`) + 1n;
    span = span ? { start: start < span.start ? start : span.start, end: end > span.end ? end : span.end } : { start, end };
  }
  return span;
}

export interface PfnRange {
  start: bigint;
  end: bigint;
  from: 'iomem' | 'ndctl';
}

/** The pfn range to census for a namespace: /proc/iomem's resource, else ndctl's resource + size. */
export function namespacePfnRange(ns: NamespaceInfo, iomem: string, pageSize = 4096): PfnRange | null {
  const shift = BigInt(Math.log2(pageSize));
  const r = iomemRange(iomem, [ns.name, ...ns.chardevs]);
  if (r) return { start: r.start >> shift, end: (r.end + BigInt(pageSize) - 1n) >> shift, from: 'iomem' };
  if (ns.resource !== null && ns.size !== null && ns.size > 0) {
    const s = BigInt(ns.resource);
    return { start: s >> shift, end: (s + BigInt(ns.size) + BigInt(pageSize) - 1n) >> shift, from: 'ndctl' };
  }
  return null;
}

export interface CensusBadPage {
  pfn: string;
  refcount: number;
  expected: number;
  mapping: boolean;
  head: boolean;
  tail: boolean;
  order: number;
  type: string;
  why: string[];
  /** The kernel's own dump_page() of it, when the module dumped it (the first few). */
  dump?: PageDump | null;
  dumpLines?: string[];
}

export interface CensusReport {
  run: number | null;
  range: { start: string; end: string } | null;
  pgmaps: { type: string; start: string; end: string; first: string; vmemmapShift: number }[];
  summary: Record<string, number>;
  bad: CensusBadPage[];
  /** A line the module printed instead of a census (e.g. "error: no range set"). */
  error: string | null;
  complete: boolean;
}

function kv(line: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const m of line.matchAll(/([A-Za-z_]+)=(\S*)/g)) o[m[1]] = m[2];
  return o;
}

/** Parse what reading dax_census/check returns. */
export function parseCensusOutput(text: string): CensusReport {
  const rep: CensusReport = { run: null, range: null, pgmaps: [], summary: {}, bad: [], error: null, complete: false };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const k = kv(line);
    if (line.startsWith('dax_census: begin')) rep.run = k.run !== undefined ? Number(k.run) : null;
    else if (line.startsWith('dax_census: end')) rep.complete = true;
    else if (line.startsWith('error:')) rep.error = line.slice(6).trim();
    else if (line.startsWith('range ')) rep.range = { start: k.start, end: k.end };
    else if (line.startsWith('pgmap ')) rep.pgmaps.push({ type: k.type, start: k.start, end: k.end, first: k.first, vmemmapShift: Number(k.vmemmap_shift ?? 0) });
    else if (line.startsWith('summary ')) for (const [key, v] of Object.entries(k)) rep.summary[key] = Number(v);
    else if (line.startsWith('bad ')) {
      rep.bad.push({
        pfn: k.pfn,
        refcount: Number(k.refcount),
        expected: Number(k.expected),
        mapping: k.mapping === '1',
        head: k.head === '1',
        tail: k.tail === '1',
        order: Number(k.order ?? 0),
        type: k.type,
        why: (k.why ?? '').split(',').filter(Boolean),
      });
    }
  }
  return rep;
}

/**
 * The module's console dumps of one census run: marker line, dump_page()
 * lines, end marker. Returns pfn → dump lines (prefixes stripped).
 */
export function extractDumps(dmesg: string, run: number): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur: string[] | null = null;
  for (const raw of dmesg.split('\n')) {
    const t = normaliseLine(raw).text.trim();
    const start = /^dax_census: dump \d+ pfn=(0x[0-9a-f]+) .*\brun=(\d+)\b/.exec(t);
    if (start) {
      cur = Number(start[2]) === run ? [] : null;
      if (cur) out.set(start[1], cur);
      continue;
    }
    if (t.startsWith('dax_census: dump end')) {
      cur = null;
      continue;
    }
    if (cur) cur.push(t);
  }
  return out;
}

export interface ModuleInfo {
  fsdaxIdle: number | null;
  fsdaxIdleSource: string | null;
  kernel: string | null;
  getDevPagemapArgs: number | null;
}

export function parseModuleInfo(text: string): ModuleInfo {
  const k = kv(text);
  const n = (x: string | undefined) => (x !== undefined && /^\d+$/.test(x) ? Number(x) : null);
  return { fsdaxIdle: n(k.fsdax_idle), fsdaxIdleSource: k.fsdax_idle_source ?? null, kernel: k.kernel ?? null, getDevPagemapArgs: n(k.get_dev_pagemap_args) };
}

export interface CensusVerdict {
  ok: boolean;
  reason: string;
  detail: CensusDetail;
}

export interface CensusDetail {
  dev: string;
  mode: DaxMode;
  namespace?: string;
  checked: number;
  bad: number;
  expected: { fsdax: IdleValue; devdax: IdleValue };
  firstBad: CensusBadPage[];
  counts?: Record<string, number>;
  range?: { start: string; end: string; from: string };
  skipped?: string;
  durationMs?: number;
}

/** The verdict from a parsed census (pure, so the wording is tested without a guest). */
export function judgeCensus(rep: CensusReport, base: Omit<CensusDetail, 'checked' | 'bad' | 'firstBad'>): CensusVerdict {
  const checked = rep.summary.checked ?? 0;
  const bad = rep.summary.bad ?? rep.bad.length;
  const detail: CensusDetail = { ...base, checked, bad, firstBad: rep.bad, counts: rep.summary };
  if (rep.error) return { ok: false, reason: `census of ${base.dev}: ${rep.error}`, detail };
  if (!rep.complete) return { ok: false, reason: `census of ${base.dev}: the module's report was cut short`, detail };
  if (checked === 0)
    return {
      ok: false,
      reason: `census of ${base.dev}: no fsdax/device-dax pages in pfn ${base.range?.start ?? '?'}-${base.range?.end ?? '?'} (was the namespace disabled before the census?)`,
      detail,
    };
  if (bad === 0) return { ok: true, reason: '', detail };
  const named = rep.bad
    .slice(0, 3)
    .map((b) => `pfn ${b.pfn} refcount ${b.refcount} (idle ${b.expected})${b.mapping ? ' mapping set' : ''}${b.head || b.tail ? ` ${b.head ? 'head' : 'tail'} order ${b.order}` : ''}`)
    .join(', ');
  const more = bad > 3 ? ` and ${bad - 3} more` : '';
  return { ok: false, reason: `census: ${bad} of ${checked} ${base.mode} pages of ${base.dev} not idle after teardown: ${named}${more}`, detail };
}

// ------------------------------------------------------------ host: building

export interface CensusTools {
  key: string;
  dir: string;
  module: string;
  fixture: string;
  /** daxh_fault.ko: kernel reports on demand (WARN, BUG, oops, lockups) for the harness's own tests. */
  faults: string;
  holder: string;
  release: string;
  from: string;
}

/** Hash of everything that goes into the module and the helper. */
export async function censusSourceHash(): Promise<string> {
  const parts: string[] = [];
  for (const f of [...MODULE_SOURCES, HOLDER_SOURCE]) parts.push(f, await readFile(join(SRC_DIR, f), 'utf8'));
  return sha256(...parts);
}

const toolsMemo = new Map<string, Promise<CensusTools>>();

/**
 * Build the census module and its fixture for this kernel (make -C <kdir>
 * M=<copy of suites/census>) and the static holder helper. Cached by kernel
 * key + source hash; built once per process.
 */
export function buildCensusTools(kernel: KernelArtifact, log: (m: string) => void = () => {}): Promise<CensusTools> {
  const memoKey = kernel.key;
  let p = toolsMemo.get(memoKey);
  if (!p) {
    p = buildTools(kernel, log);
    toolsMemo.set(memoKey, p);
    p.catch(() => toolsMemo.delete(memoKey));
  }
  return p;
}

async function buildTools(kernel: KernelArtifact, log: (m: string) => void): Promise<CensusTools> {
  // Modules built for a pipeline kernel stay right for it after its shared
  // build tree moved on to another kernel (a bisection's next step): the
  // cache is looked up before the tree is required.
  const builtIn = kernel.build?.buildDir;
  if (builtIn) {
    const key = sha256('dax-census-v1', kernel.key, builtIn, await censusSourceHash()).slice(0, 24);
    if (await openCached(cacheDir('census', key))) return toolsIn(key, log, false);
  }
  const tree = await moduleBuildTree(kernel, log);
  const key = sha256('dax-census-v1', kernel.key, tree.kdir, await censusSourceHash()).slice(0, 24);
  const dir = cacheDir('census', key);
  const built = await buildCached(dir, async (tmp) => {
    const src = join(tmp, 'src');
    await mkdir(src, { recursive: true });
    for (const f of [...MODULE_SOURCES, HOLDER_SOURCE]) await copyFile(join(SRC_DIR, f), join(src, f));
    const r = await run('nice', ['-n', '10', 'make', '-C', tree.kdir, `M=${src}`, `-j${makeJobs()}`, 'modules'], {
      timeoutMs: 600000,
      reject: false,
      dieWithParent: true,
      env: { LC_ALL: 'C' },
      sandbox: { readable: kbuildReadable(tree.kdir), writable: [src] },
    });
    if (r.exitCode !== 0) {
      const errs = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /error|Error \d|No such file/.test(l)).slice(0, 4);
      throw new Error(`building the census module against ${tree.kdir} failed: ${errs.join(' | ') || `make exit ${r.exitCode}`}`);
    }
    for (const ko of ['dax_census.ko', 'dax_census_fixture.ko', 'daxh_fault.ko']) await copyFile(join(src, ko), join(tmp, ko));
    const h = await run('gcc', ['-O2', '-Wall', '-static', '-o', join(tmp, 'dax_census_hold'), join(src, HOLDER_SOURCE)], { timeoutMs: 120000, reject: false });
    if (h.exitCode !== 0) throw new Error(`building dax_census_hold failed: ${h.stderr.trim().split('\n')[0] ?? ''}`);
    await writeJsonAtomic(join(tmp, 'census.json'), { key, release: tree.release, from: tree.from, kdir: tree.kdir, kernel: kernel.key });
  });
  return toolsIn(key, log, built);
}

async function toolsIn(key: string, log: (m: string) => void, built: boolean): Promise<CensusTools> {
  const dir = cacheDir('census', key);
  const meta = await readJson<{ release: string; from: string }>(join(dir, 'census.json'));
  log(`census module for ${meta.release} (${meta.from})${built ? ' built' : ' cached'}`);
  return {
    key,
    dir,
    module: join(dir, 'dax_census.ko'),
    fixture: join(dir, 'dax_census_fixture.ko'),
    faults: join(dir, 'daxh_fault.ko'),
    holder: join(dir, 'dax_census_hold'),
    release: meta.release,
    from: meta.from,
  };
}

// ------------------------------------------------------------- guest: running

interface Installed {
  info: ModuleInfo;
  fixture: boolean;
}
const installed = new WeakMap<Guest, Promise<Installed>>();

/** insmod the census module once per boot (a fresh Guest is a fresh boot). */
export function installCensus(ctx: SuiteContext, log: TestLog, tools: CensusTools): Promise<Installed> {
  let p = installed.get(ctx.guest);
  if (!p) {
    p = (async () => {
      await step(ctx, log, 'census: mkdir', ['mkdir', '-p', GUEST_DIR], 10000);
      await ctx.guest.putFile(tools.module, `${GUEST_DIR}/dax_census.ko`);
      // Loaded already (a second harness process on the same guest): keep it.
      await step(ctx, log, 'census: insmod dax_census', ['sh', '-c', '[ -d "$1" ] || insmod "$2"', 'census', DBG, `${GUEST_DIR}/dax_census.ko`], 30000);
      const info = parseModuleInfo(await step(ctx, log, 'census: module info', ['cat', `${DBG}/info`], 10000));
      return { info, fixture: false };
    })();
    installed.set(ctx.guest, p);
    p.catch(() => installed.delete(ctx.guest));
  }
  return p;
}

export interface CensusOptions {
  /** Override the idle refcount (e.g. for a kernel whose headers and version disagree). */
  expectFsdax?: number;
  expectDevdax?: number;
  /** How many bad pages get a dump_page() on the console (module default 8). */
  dumps?: number;
  log?: (m: string) => void;
}

/** Run the census for the namespace behind `target` (after its unmount / teardown). */
export async function runCensus(ctx: SuiteContext, log: TestLog, target: CensusTarget, opts: CensusOptions = {}): Promise<CensusVerdict> {
  const t0 = Date.now();
  const tools = await buildCensusTools(ctx.kernel, opts.log);
  const inst = await installCensus(ctx, log, tools);
  const expected = {
    fsdax: expectedIdle('fsdax', ctx.kernel.release, inst.info.fsdaxIdleSource === 'dax.h' ? inst.info.fsdaxIdle : null, opts.expectFsdax),
    devdax: expectedIdle('devdax', ctx.kernel.release, null, opts.expectDevdax),
  };
  const ndctl = await step(ctx, log, 'census: ndctl list', ['ndctl', 'list', '-N', '-v'], 30000);
  const ns = findNamespace(ndctl, target.dev);
  if (!ns) throw new StepFailed('fail', `census: ndctl lists no namespace behind ${target.dev}`);
  const iomem = await step(ctx, log, 'census: /proc/iomem', ['cat', '/proc/iomem'], 10000);
  const range = namespacePfnRange(ns, iomem);
  if (!range) throw new StepFailed('fail', `census: neither /proc/iomem nor ndctl gives the range of ${ns.name}`);
  const hex = (n: bigint) => `0x${n.toString(16)}`;
  const out = await step(
    ctx,
    log,
    'census: check',
    [
      'sh',
      '-c',
      'echo "$2 $3" > "$1/range" && echo "fsdax=$4 devdax=$5" > "$1/expected" && { [ -z "$6" ] || echo "$6" > "$1/dumps"; } && cat "$1/check"',
      'census',
      DBG,
      hex(range.start),
      hex(range.end),
      String(expected.fsdax.value),
      String(expected.devdax.value),
      opts.dumps !== undefined ? String(opts.dumps) : '',
    ],
    120000,
  );
  const rep = parseCensusOutput(out);
  if (rep.bad.length && rep.run !== null) {
    // The dumps went to the console (and the ring buffer): attach them to the pages they describe.
    const dmesg = await log.exec(ctx, ['dmesg'], 30000);
    const dumps = extractDumps(dmesg.stdout, rep.run);
    for (const b of rep.bad) {
      const lines = dumps.get(b.pfn);
      if (lines) {
        b.dumpLines = lines;
        b.dump = parsePageDump(lines);
      }
    }
  }
  const v = judgeCensus(rep, {
    dev: target.dev,
    mode: target.mode,
    namespace: ns.name,
    expected,
    range: { start: hex(range.start), end: hex(range.end), from: range.from },
  });
  v.detail.durationMs = Date.now() - t0;
  log.line(`# census: ${v.ok ? 'clean' : v.reason} (${v.detail.checked} pages checked)`);
  return v;
}

/**
 * The afterUnmount hook: runs the census and turns "cannot run here" into a
 * verdict. A kernel without a build tree (--kernel PATH) skips with the
 * reason recorded; anything else that stops the census fails the test, since
 * a census that silently did not run would read as a clean one.
 */
export async function censusAfterUnmount(ctx: SuiteContext, log: TestLog, target: CensusTarget, opts: CensusOptions = {}): Promise<CensusVerdict> {
  const none = { fsdax: expectedIdle('fsdax', ctx.kernel.release), devdax: expectedIdle('devdax', ctx.kernel.release) };
  const base: CensusDetail = { dev: target.dev, mode: target.mode, checked: 0, bad: 0, expected: none, firstBad: [] };
  // Host side first: no headers for this kernel, or the module does not build.
  try {
    await buildCensusTools(ctx.kernel, opts.log);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof HeadersError && ctx.kernel.kind === 'path') {
      log.line(`# census skipped: ${msg}`);
      return { ok: true, reason: '', detail: { ...base, skipped: msg } };
    }
    return { ok: false, reason: `census could not run: ${msg}`, detail: base };
  }
  // Guest side: a failed command fails the test; a lost guest or a kernel
  // report stays what it is (StepFailed 'crash'/'timeout', GuestLostError).
  try {
    return await runCensus(ctx, log, target, opts);
  } catch (e) {
    if (e instanceof StepFailed && e.status === 'fail') return { ok: false, reason: `census could not run: ${e.message}`, detail: base };
    throw e;
  }
}

// ------------------------------------------------------------------ watchdog

/** Load the leak fixture and copy its helper (tests only). */
export async function installFixture(ctx: SuiteContext, log: TestLog): Promise<void> {
  const tools = await buildCensusTools(ctx.kernel);
  await installCensus(ctx, log, tools);
  await ctx.guest.putFile(tools.fixture, `${GUEST_DIR}/dax_census_fixture.ko`);
  await ctx.guest.putFile(tools.holder, `${GUEST_DIR}/dax_census_hold`, '0755');
  await step(ctx, log, 'fixture: insmod', ['sh', '-c', '[ -d "$1" ] || insmod "$2"', 'fixture', FIX_DBG, `${GUEST_DIR}/dax_census_fixture.ko`], 30000);
}

export interface HeldPage {
  pfn: string;
  refcount: number;
}

export function parseHeld(text: string): HeldPage[] {
  return [...text.matchAll(/^held pfn=(0x[0-9a-f]+) refcount=(\d+)/gm)].map((m) => ({ pfn: m[1], refcount: Number(m[2]) }));
}

/**
 * Map one page of `file` and leave a reference on it behind (the deliberate
 * leak). With keepMappedSeconds the helper keeps its mapping that long in the
 * background (its pid is returned), so the file is still mapped while the
 * reference is held.
 */
export async function holdPage(ctx: SuiteContext, log: TestLog, file: string, offset = 0, keepMappedSeconds = 0): Promise<{ held: HeldPage[]; pid: number | null }> {
  const argv = [`${GUEST_DIR}/dax_census_hold`, '--file', file, '--offset', String(offset)];
  let pid: number | null = null;
  if (keepMappedSeconds > 0) {
    // Output to a file so the background helper does not hold the ssh channel;
    // it prints "held" only after the fixture has taken the reference.
    const out = await step(ctx, log, 'fixture: hold a page (kept mapped)', [
      'sh', '-c',
      'o=$1; shift; "$@" > "$o" 2>&1 < /dev/null & echo "holder pid=$!"; i=0; ' +
        'while [ $i -lt 100 ] && ! grep -q -e "^held" -e "^result=fail" "$o"; do sleep 0.1; i=$((i + 1)); done; cat "$o"; grep -q "^held" "$o"',
      'hold', `${GUEST_DIR}/hold.out`, ...argv, '--sleep', String(keepMappedSeconds),
    ], 30000);
    pid = Number(/holder pid=(\d+)/.exec(out)?.[1] ?? NaN) || null;
  } else {
    await step(ctx, log, 'fixture: hold a page', argv, 30000);
  }
  return { held: parseHeld(await step(ctx, log, 'fixture: held', ['cat', `${FIX_DBG}/held`], 10000)), pid };
}

export async function releaseHeld(ctx: SuiteContext, log: TestLog): Promise<void> {
  await step(ctx, log, 'fixture: release', ['sh', '-c', 'echo 1 > "$1/release"', 'fixture', FIX_DBG], 10000);
}

export { umountWithWatchdog, watchdogExec, parseWatchdog, describeStuck, type WatchdogResult, type StuckInfo } from './watchdog.ts';
