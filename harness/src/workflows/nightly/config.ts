// The nightly config file (YAML): kernels × suites × modes × topologies, each
// named by the user, expanded into cell plans with stable keys. Every mistake
// is found here, before anything is downloaded or booted, and named by file,
// key and fix.
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { parseSizeMiB, parseMemmap, validateTopology, defaultTopology, TopologyError } from '../../vm/topology.ts';
import { allSuites, isSuiteName, suiteByName, suiteChoices } from '../../suites/index.ts';
import { DAX_FILESYSTEMS } from '../../suites/fsdax.ts';
import { canonical, sha256 } from '../../host/fsutil.ts';
import { loadKnown, KnownOutcomesError } from '../../suites/known.ts';
import type { Topology } from '../../results/records.ts';
import { InputError, withSettings } from '../../host/errors.ts';
import type { MatrixCell, KernelSpec, SuiteName } from './plan.ts';
import { checkShape, type List, type RawKernel, type RawMatch, type RawSuite, type RawTopology } from './schema.ts';
import { SHARD } from '../settings.ts';

/** A nightly config (or --shard) the user must fix: an InputError, exit 2. */
export class NightConfigError extends InputError {}

export interface NamedKernel {
  name: string;
  spec: KernelSpec;
}

export interface NamedSuite {
  name: string;
  suite: SuiteName;
  modes: string[];
  tests?: string[];
  ndctl?: string;
  seconds?: number;
  image?: string;
  repeat?: number;
}

export interface NamedTopology {
  name: string;
  topology?: Topology;
  cpusFixed: boolean;
}

export interface Override {
  match: Partial<Record<'kernel' | 'suite' | 'mode' | 'topology', string>>;
  repeat: number;
}

export interface NightConfig {
  file: string;
  /** sha256 of the file's bytes: a resumed night must be the same night. */
  hash: string;
  origin: string;
  rerunFailures: number;
  historyNights: number;
  repeat: number;
  seed: number;
  seconds: number;
  accel?: 'kvm' | 'tcg';
  append: string[];
  /** Known-outcome files (absolute), applied after the harness's own list. */
  known: string[];
  kernels: NamedKernel[];
  suites: NamedSuite[];
  topologies: NamedTopology[];
  overrides: Override[];
  exclude: Override['match'][];
}

/** Reads the config as plain data (YAML 1.2; JSON is YAML too), with the position-free errors a person can act on. */
export async function loadNightConfig(path: string): Promise<NightConfig> {
  const file = resolve(path);
  let text: string;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new NightConfigError(`${path}: not a regular file: give the path of a YAML file (see nightly/example.yaml)`);
    if (st.size > CONFIG_MAX_BYTES) throw new NightConfigError(`${path}: ${st.size} bytes is over the ${CONFIG_MAX_BYTES >> 10} KiB a config may have: a matrix this large is a mistake (or not a config)`);
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof NightConfigError) throw e;
    throw new NightConfigError(`${path}: cannot read the config file: give the path of a YAML file (see nightly/example.yaml)`);
  }
  return parseNightConfig(parseConfigYaml(text, path), file, sha256(text), path);
}

/** A config is written by hand: far below this. The cap bounds the parser's time and memory. */
export const CONFIG_MAX_BYTES = 1 << 20;
/** Aliases a config may expand: enough for sharing a topology, far too few for a "billion laughs". */
const CONFIG_MAX_ALIASES = 100;

/** Flow collections ([ and {) a config may open in all: a hand-written one opens a few dozen. */
const CONFIG_MAX_FLOW_OPENS = 1000;
/** Columns of indentation and compact "- " nesting on one line. */
const CONFIG_MAX_INDENT = 256;

/**
 * Nesting the parser should never see: yaml recurses per level (50000 "[" take
 * it most of a second to overflow its stack) and a line of 100000 "- " makes
 * V8 abort the process compiling a regular expression. Counted, not parsed,
 * so no quoting can hide a level from it.
 */
function nestingProblem(text: string): string | null {
  let opens = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c === 0x5b || c === 0x7b) && ++opens > CONFIG_MAX_FLOW_OPENS) return `it opens over ${CONFIG_MAX_FLOW_OPENS} [ and { collections`;
  }
  const lead = /^[ \t?:-]*/;
  let line = 0;
  for (const l of text.split('\n')) {
    line++;
    if (lead.exec(l)![0].length > CONFIG_MAX_INDENT) return `line ${line} is indented or nested over ${CONFIG_MAX_INDENT} columns deep`;
  }
  return null;
}

/** YAML text → plain data, every parser failure (syntax, alias bombs, runaway nesting) as a NightConfigError. */
export function parseConfigYaml(text: string, shown: string): unknown {
  const nesting = nestingProblem(text);
  if (nesting) throw new NightConfigError(`${shown}: not a usable config: ${nesting}: write it as nightly/example.yaml does`);
  try {
    const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length) {
      const e = doc.errors[0];
      const line = e.linePos?.[0].line;
      throw new NightConfigError(`${shown}${line ? `:${line}` : ''}: not valid YAML (${e.message.split('\n')[0]}): fix the syntax`);
    }
    return doc.toJS({ maxAliasCount: CONFIG_MAX_ALIASES });
  } catch (e) {
    if (e instanceof NightConfigError) throw e;
    // yaml throws a ReferenceError when aliases expand past maxAliasCount, and a RangeError when nesting overflows the stack.
    const why = /alias/i.test((e as Error).message) ? 'its aliases expand too far (an alias bomb?): write the values out or use fewer aliases' : `it cannot be read (${String((e as Error).message).split('\n')[0]}): simplify it`;
    throw new NightConfigError(`${shown}: not a usable config: ${why}`);
  }
}

/** How a check reports a problem: it throws, naming the file, the key and the fix. */
type Fail = (key: string, msg: string) => never;

/** What the checks below share: where relative paths start, and how a problem is reported. */
interface Ctx {
  base: string;
  fail: Fail;
}

/**
 * Validates raw config data; `shown` is how errors name the file. The schema
 * (nightly/config.schema.json) checks the shape; the helpers below check what
 * needs the disk, the suite registry or the other entries.
 */
export async function parseNightConfig(raw: unknown, file: string, hash: string, shown = file): Promise<NightConfig> {
  const fail: Fail = (key, msg) => {
    throw new NightConfigError(`${shown}: ${key}: ${msg}`);
  };
  const shape = await checkShape(raw);
  if (!shape.ok) return fail(shape.key, shape.message);
  const top = shape.config;
  const ctx: Ctx = { base: dirname(file), fail };
  const kernels: NamedKernel[] = [];
  for (const [i, k] of top.kernels.entries()) kernels.push(await namedKernel(ctx, k, `kernels[${i}]`));
  unique(ctx, kernels, 'kernels');
  const suites: NamedSuite[] = [];
  const defaultModes = top.modes === undefined ? [...DAX_FILESYSTEMS] : list(top.modes);
  for (const [i, s] of top.suites.entries()) suites.push(await namedSuite(ctx, s, `suites[${i}]`, defaultModes));
  unique(ctx, suites, 'suites');
  const topologies = (top.topologies ?? [{ name: 'default' }]).map((t, i) => namedTopology(ctx, t, `topologies[${i}]`));
  unique(ctx, topologies, 'topologies');
  const axes = { kernel: kernels.map((k) => k.name), suite: suites.map((s) => s.name), topology: topologies.map((t) => t.name) };
  return {
    file,
    hash,
    origin: top.origin ?? 'dax_harness',
    rerunFailures: top.rerunFailures ?? 4,
    historyNights: top.historyNights ?? 30,
    repeat: top.repeat ?? 1,
    seed: top.seed ?? 1,
    seconds: top.seconds ?? 0,
    ...(top.accel ? { accel: top.accel } : {}),
    append: (top.append ?? '').split(/\s+/).filter(Boolean),
    known: top.known === undefined ? [] : await knownFiles(ctx, list(top.known)),
    kernels,
    suites,
    topologies,
    overrides: (top.overrides ?? []).map((o, i) => ({ match: axisMatch(ctx, o.match, `overrides[${i}].match`, axes), repeat: o.repeat ?? 1 })),
    exclude: (top.exclude ?? []).map((m, i) => axisMatch(ctx, m, `exclude[${i}]`, axes)),
  };
}

/** A list key's items: YAML's list, or a string's comma-separated words. */
function list(v: List): string[] {
  return typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v;
}

/** A path relative to the config's directory that must exist as `what`. */
async function existing(ctx: Ctx, v: string, key: string, what: 'file' | 'dir' | 'any'): Promise<string> {
  const p = resolve(ctx.base, v);
  const s = await stat(p).catch(() => null);
  if (!s || (what === 'dir' && !s.isDirectory()) || (what === 'file' && !s.isFile()))
    ctx.fail(key, `${p} is not an existing ${what === 'any' ? 'file or directory' : what} (relative paths are from the config's directory)`);
  return p;
}

function unique(ctx: Ctx, items: readonly { name: string }[], key: string): void {
  const seen = new Set<string>();
  items.forEach((it, i) => {
    if (seen.has(it.name)) ctx.fail(`${key}[${i}].name`, `"${it.name}" is used twice: names must be unique`);
    seen.add(it.name);
  });
}

/** One kernel entry (the schema made it one kind, and only built kinds take series and config). */
async function namedKernel(ctx: Ctx, k: RawKernel, key: string): Promise<NamedKernel> {
  // A git range A..B names commits in the tree, not a path.
  const series = k.series === undefined ? undefined : k.series.includes('..') && !k.series.includes('/') ? k.series : await existing(ctx, k.series, `${key}.series`, 'any');
  const common = { ...(series ? { series } : {}), ...(k.config !== undefined ? { config: list(k.config) } : {}), ...(k.configBase ? { configBase: k.configBase } : {}) };
  let spec: KernelSpec;
  if (k.stock) spec = { kind: 'stock' };
  else if (k.package !== undefined) spec = { kind: 'stock', pkg: k.package };
  else if (k.debian !== undefined) spec = { kind: 'debian', version: k.debian, ...common };
  else spec = { kind: 'git', tree: await existing(ctx, k.git!, `${key}.git`, 'dir'), ...(k.ref !== undefined ? { ref: k.ref } : {}), ...common };
  return { name: k.name, spec };
}

/** One suite entry, checked against the registry: the suite exists, its tree key is where it belongs, its modes and tests are its own. */
async function namedSuite(ctx: Ctx, s: RawSuite, key: string, defaultModes: readonly string[]): Promise<NamedSuite> {
  const suite = (s.suite ?? s.name) as SuiteName;
  if (!isSuiteName(suite)) ctx.fail(`${key}.suite`, `"${suite}" is not ${suiteChoices()}`);
  const plugin = suiteByName(suite);
  // A suite that builds its tests from the user's tree names it under its own key.
  for (const other of allSuites()) {
    const k = other.tree?.option;
    if (k === undefined) continue;
    if (other === plugin && s[k] === undefined) ctx.fail(`${key}.${k}`, `the ${suite} suite needs ${k}: PATH, ${other.tree!.what}`);
    if (other !== plugin && s[k] !== undefined) ctx.fail(`${key}.${k}`, `${k}: goes with suite: ${other.name}`);
  }
  const tests = s.tests === undefined ? undefined : list(s.tests);
  const modes = await plugin.nightly({ modes: s.modes === undefined ? undefined : list(s.modes), tests }, defaultModes, (k, m) => ctx.fail(`${key}.${k}`, m));
  return {
    name: s.name,
    suite,
    modes,
    ...(tests ? { tests } : {}),
    ...(plugin.tree ? { ndctl: await existing(ctx, s[plugin.tree.option] as string, `${key}.${plugin.tree.option}`, 'dir') } : {}),
    ...(s.seconds !== undefined ? { seconds: s.seconds } : {}),
    ...(s.image !== undefined ? { image: s.image } : {}),
    ...(s.repeat !== undefined ? { repeat: s.repeat } : {}),
  };
}

/** One topology entry: only a name is the suite's own guest; any other key gives a whole topology, checked as --nvdimms and the rest are. */
function namedTopology(ctx: Ctx, t: RawTopology, key: string): NamedTopology {
  if (Object.keys(t).length === 1) return { name: t.name, cpusFixed: false };
  const size = (v: string | undefined, k: string, dflt: number) => {
    if (v === undefined) return dflt;
    try {
      return parseSizeMiB(v, `${key}.${k}`);
    } catch {
      return ctx.fail(`${key}.${k}`, `"${v}" is not a size: write e.g. 2050M or 4G`);
    }
  };
  const dimm = { sizeMiB: size(t.nvdimmSize, 'nvdimmSize', defaultTopology.nvdimms[0].sizeMiB), labelSizeMiB: size(t.labelSize, 'labelSize', defaultTopology.nvdimms[0].labelSizeMiB) };
  const memmap = t.memmap === undefined ? [] : list(t.memmap).map((m, j) => {
    try {
      return parseMemmap(m);
    } catch {
      return ctx.fail(`${key}.memmap[${j}]`, `"${m}" is not SIZE!START: write e.g. "1G!4G"`);
    }
  });
  const topology: Topology = {
    nvdimms: Array.from({ length: t.nvdimms ?? defaultTopology.nvdimms.length }, () => ({ ...dimm })),
    memmap,
    memMiB: size(t.mem, 'mem', defaultTopology.memMiB),
    cpus: t.cpus ?? defaultTopology.cpus,
    numaNodes: t.numa ?? 1,
  };
  try {
    validateTopology(topology);
  } catch (e) {
    // It names settings by the config's own keys.
    if (e instanceof TopologyError) ctx.fail(key, e.message);
    throw e;
  }
  return { name: t.name, topology, cpusFixed: t.cpus !== undefined };
}

/** An override's or exclude's match: each kernel, suite and topology it names is one of the config's. */
function axisMatch(ctx: Ctx, m: RawMatch, key: string, axes: Record<'kernel' | 'suite' | 'topology', string[]>): Override['match'] {
  for (const [k, val] of Object.entries(m)) {
    const known = k === 'mode' ? null : axes[k as keyof typeof axes];
    if (known && !known.includes(val)) ctx.fail(`${key}.${k}`, `"${val}" is not one of the config's ${k}s: ${known.join(', ')}`);
  }
  return { ...m };
}

/** Known-outcome files: each exists and reads cleanly now, not when the first cell is judged. */
async function knownFiles(ctx: Ctx, paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const [i, k] of paths.entries()) {
    const file = await existing(ctx, k, `known[${i}]`, 'file');
    await loadKnown([file]).catch((e) => ctx.fail(`known[${i}]`, e instanceof KnownOutcomesError ? e.message : String(e)));
    out.push(file);
  }
  return out;
}

function matches(m: Override['match'], axes: MatrixCell['axes']): boolean {
  return Object.entries(m).every(([k, v]) => axes[k as keyof MatrixCell['axes']] === v);
}

/** The kernel a cell really needs: a suite with kernel fragments of its own builds with them unless the config names fragments. */
export function effectiveKernel(spec: KernelSpec, suite: SuiteName): KernelSpec {
  const fragments = suiteByName(suite).needs({}).kernelFragments;
  if (!fragments || spec.kind === 'stock' || spec.config) return spec;
  return { ...spec, config: [...fragments] };
}

export function kernelKey(spec: KernelSpec): string {
  return sha256(canonical(spec)).slice(0, 16);
}

/**
 * The whole matrix in config order (kernel-major, so cells sharing a kernel
 * sit together and a contiguous shard builds few kernels).
 */
export async function expandMatrix(c: NightConfig): Promise<MatrixCell[]> {
  const cells: MatrixCell[] = [];
  for (const k of c.kernels)
    for (const s of c.suites)
      for (const mode of s.modes)
        for (const t of c.topologies) {
          const axes = { kernel: k.name, suite: s.name, mode, topology: t.name };
          if (c.exclude.some((m) => matches(m, axes))) continue;
          const spec = effectiveKernel(k.spec, s.suite);
          let repeat = s.repeat ?? c.repeat;
          for (const o of c.overrides) if (matches(o.match, axes)) repeat = o.repeat;
          const plugin = suiteByName(s.suite);
          const ids = await plugin.cellTests(mode, s.tests);
          const { tests, filesystems } = ids ? plugin.planTests(ids) : { tests: undefined, filesystems: undefined };
          cells.push({
            key: `${k.name}.${s.name}.${mode}.${t.name}`,
            axes,
            kernel: spec,
            kernelKey: kernelKey(spec),
            image: s.image ?? plugin.needs({}).image,
            ...(t.topology ? { topology: structuredClone(t.topology) } : {}),
            cpusFixed: t.cpusFixed,
            suite: s.suite,
            ...(tests ? { tests } : {}),
            fs: filesystems ?? [],
            ...(s.ndctl ? { ndctl: s.ndctl } : {}),
            seconds: s.seconds ?? c.seconds,
            seed: c.seed,
            repeat,
            cmdlineExtra: [...c.append],
            ...(c.known.length ? { known: [...c.known] } : {}),
            ...(c.accel ? { accel: c.accel } : {}),
          });
        }
  return cells;
}

export interface Shard {
  index: number;
  count: number;
}

/** More CI jobs than any matrix has cells. */
const MAX_SHARDS = 10000;

/** `i/N`, 1-based, as CI job matrices number their jobs. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new NightConfigError(withSettings`${SHARD} "${text}" is not i/N: write e.g. ${SHARD} 1/4`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS || index < 1 || index > count) throw new NightConfigError(withSettings`${SHARD} ${text}: i must be from 1 to N, and N from 1 to ${MAX_SHARDS}`);
  return { index, count };
}

/** A contiguous slice of the matrix: deterministic, balanced to one cell, and kernel-major so shards rarely share builds. */
export function shardCells<T>(cells: T[], shard: Shard | null): T[] {
  if (!shard) return cells;
  const from = Math.floor(((shard.index - 1) * cells.length) / shard.count);
  const to = Math.floor((shard.index * cells.length) / shard.count);
  return cells.slice(from, to);
}

/** Each kernel once, in first-use order. */
export function uniqueKernels(cells: MatrixCell[]): { key: string; spec: KernelSpec; name: string }[] {
  const out = new Map<string, { key: string; spec: KernelSpec; name: string }>();
  for (const c of cells) if (!out.has(c.kernelKey)) out.set(c.kernelKey, { key: c.kernelKey, spec: c.kernel, name: c.axes.kernel });
  return [...out.values()];
}
