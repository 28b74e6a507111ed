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
import { LIMITS, inRange, type Range } from '../../host/limits.ts';
import { InputError } from '../../host/errors.ts';
import type { MatrixCell, KernelSpec, SuiteName } from './plan.ts';

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

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const TOP_KEYS = ['origin', 'rerunFailures', 'historyNights', 'repeat', 'seed', 'seconds', 'accel', 'append', 'known', 'modes', 'kernels', 'suites', 'topologies', 'overrides', 'exclude'];

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

/** Validates raw config data; `shown` is how errors name the file. */
export async function parseNightConfig(raw: unknown, file: string, hash: string, shown = file): Promise<NightConfig> {
  const fail = (key: string, msg: string): never => {
    throw new NightConfigError(`${shown}: ${key}: ${msg}`);
  };
  const base = dirname(file);
  const obj = (v: unknown, key: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(key, 'must be a mapping of keys to values');
    return v as Record<string, unknown>;
  };
  const only = (o: Record<string, unknown>, key: string, allowed: string[]) => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`${key}${key ? '.' : ''}${k}`, `unknown key: use one of ${allowed.join(', ')}`);
  };
  const str = (v: unknown, key: string): string => {
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string' || !v.trim()) fail(key, 'must be a non-empty string');
    return (v as string).trim();
  };
  // The ranges are the command line's (host/limits.ts): a config cannot ask for what an option may not.
  const int = (v: unknown, key: string, r: Range, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!inRange(v, r)) fail(key, `must be a whole number from ${r.min} to ${r.max}`);
    return v as number;
  };
  const list = (v: unknown, key: string): string[] => {
    if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
    if (!Array.isArray(v) || v.length === 0) fail(key, 'must be a non-empty list');
    return (v as unknown[]).map((x, i) => str(x, `${key}[${i}]`));
  };
  const name = (v: unknown, key: string): string => {
    const n = str(v, key);
    if (!NAME.test(n)) fail(key, `"${n}" is not a name: use lower-case letters, digits, - and _ (it becomes part of cell keys)`);
    return n;
  };
  const path = async (v: unknown, key: string, what: 'file' | 'dir' | 'any'): Promise<string> => {
    const p = resolve(base, str(v, key));
    const s = await stat(p).catch(() => null);
    if (!s || (what === 'dir' && !s.isDirectory()) || (what === 'file' && !s.isFile()))
      fail(key, `${p} is not an existing ${what === 'any' ? 'file or directory' : what} (relative paths are from the config's directory)`);
    return p;
  };
  const unique = (items: { name: string }[], key: string) => {
    const seen = new Set<string>();
    items.forEach((it, i) => {
      if (seen.has(it.name)) fail(`${key}[${i}].name`, `"${it.name}" is used twice: names must be unique`);
      seen.add(it.name);
    });
  };

  const top = obj(raw ?? {}, '(top)');
  only(top, '', TOP_KEYS);
  const origin = top.origin === undefined ? 'dax_harness' : str(top.origin, 'origin');
  if (!/^[a-z0-9_]+$/.test(origin)) fail('origin', `"${origin}" is not a KCIDB origin: use lower-case letters, digits and _`);
  const accel = top.accel === undefined ? undefined : str(top.accel, 'accel');
  if (accel !== undefined && accel !== 'kvm' && accel !== 'tcg') fail('accel', `"${accel}" is not kvm or tcg`);
  const defaultModes = top.modes === undefined ? [...DAX_FILESYSTEMS] : list(top.modes, 'modes');

  // kernels
  if (!Array.isArray(top.kernels) || !top.kernels.length) fail('kernels', 'must list at least one kernel (e.g. "- name: stock\\n  stock: true")');
  const kernels: NamedKernel[] = [];
  for (const [i, kv] of (top.kernels as unknown[]).entries()) {
    const key = `kernels[${i}]`;
    const k = obj(kv, key);
    only(k, key, ['name', 'stock', 'package', 'debian', 'git', 'ref', 'series', 'config', 'configBase']);
    const kinds = ['stock', 'package', 'debian', 'git'].filter((x) => k[x] !== undefined && k[x] !== false);
    if (kinds.length !== 1) fail(key, `give exactly one of stock: true, package: NAME, debian: "X.Y" or git: PATH (found ${kinds.join(', ') || 'none'})`);
    const n = name(k.name, `${key}.name`);
    const built = k.debian !== undefined || k.git !== undefined;
    for (const x of ['ref', 'series', 'config', 'configBase'])
      if (k[x] !== undefined && !built) fail(`${key}.${x}`, 'only a built kernel (debian: or git:) takes a series or config; Debian\'s binary package is used as it is');
    if (k.ref !== undefined && k.git === undefined) fail(`${key}.ref`, 'ref goes with git: PATH');
    const configBase = k.configBase === undefined ? undefined : str(k.configBase, `${key}.configBase`);
    if (configBase !== undefined && configBase !== 'tinyconfig' && configBase !== 'defconfig') fail(`${key}.configBase`, `"${configBase}" is not tinyconfig or defconfig`);
    const series = k.series === undefined ? undefined : await seriesPath(k.series, `${key}.series`);
    const config = k.config === undefined ? undefined : list(k.config, `${key}.config`);
    const common = { ...(series ? { series } : {}), ...(config ? { config } : {}), ...(configBase ? { configBase: configBase as 'tinyconfig' | 'defconfig' } : {}) };
    let spec: KernelSpec;
    if (k.stock !== undefined) {
      if (k.stock !== true) fail(`${key}.stock`, 'write stock: true (or package: NAME for a specific Debian kernel package)');
      spec = { kind: 'stock' };
    } else if (k.package !== undefined) spec = { kind: 'stock', pkg: str(k.package, `${key}.package`) };
    else if (k.debian !== undefined) {
      const v = str(k.debian, `${key}.debian`);
      if (!/^\d+\.\d+$/.test(v)) fail(`${key}.debian`, `"${v}" is not a Debian linux-source version: write e.g. debian: "6.12" (quoted)`);
      spec = { kind: 'debian', version: v, ...common };
    } else {
      const tree = await path(k.git, `${key}.git`, 'dir');
      spec = { kind: 'git', tree, ...(k.ref !== undefined ? { ref: str(k.ref, `${key}.ref`) } : {}), ...common };
    }
    kernels.push({ name: n, spec });
  }
  unique(kernels, 'kernels');

  async function seriesPath(v: unknown, key: string): Promise<string> {
    const s = str(v, key);
    // A git range A..B names commits in the tree, not a path.
    return s.includes('..') && !s.includes('/') ? s : path(s, key, 'any');
  }

  // suites
  if (!Array.isArray(top.suites) || !top.suites.length) fail('suites', 'must list at least one suite (e.g. "- name: smoke")');
  const suites: NamedSuite[] = [];
  const treeKeys = allSuites().flatMap((x) => (x.tree ? [x.tree.option] : []));
  for (const [i, sv] of (top.suites as unknown[]).entries()) {
    const key = `suites[${i}]`;
    const s = obj(sv, key);
    only(s, key, ['name', 'suite', 'modes', 'tests', ...treeKeys, 'seconds', 'image', 'repeat']);
    const n = name(s.name, `${key}.name`);
    const suite = (s.suite === undefined ? n : str(s.suite, `${key}.suite`)) as SuiteName;
    if (!isSuiteName(suite)) fail(`${key}.suite`, `"${suite}" is not ${suiteChoices()}`);
    const plugin = suiteByName(suite);
    const tests = s.tests === undefined ? undefined : list(s.tests, `${key}.tests`);
    // A suite that builds its tests from the user's tree names it under its own key.
    for (const k of treeKeys) {
      if (plugin.tree?.option === k && s[k] === undefined) fail(`${key}.${k}`, `the ${suite} suite needs ${k}: PATH, ${plugin.tree.what}`);
      if (plugin.tree?.option !== k && s[k] !== undefined) fail(`${key}.${k}`, `${k}: goes with suite: ${allSuites().find((x) => x.tree?.option === k)!.name}`);
    }
    const modes = await plugin.nightly({ modes: s.modes === undefined ? undefined : list(s.modes, `${key}.modes`), tests }, defaultModes, (k, m) => fail(`${key}.${k}`, m));
    suites.push({
      name: n,
      suite,
      modes,
      ...(tests ? { tests } : {}),
      ...(plugin.tree ? { ndctl: await path(s[plugin.tree.option], `${key}.${plugin.tree.option}`, 'dir') } : {}),
      ...(s.seconds !== undefined ? { seconds: int(s.seconds, `${key}.seconds`, LIMITS.stressSeconds, 0) } : {}),
      ...(s.image !== undefined ? { image: name(s.image, `${key}.image`) } : {}),
      ...(s.repeat !== undefined ? { repeat: int(s.repeat, `${key}.repeat`, LIMITS.repeat, 1) } : {}),
    });
  }
  unique(suites, 'suites');

  // topologies
  const topologies: NamedTopology[] = [];
  const tops = top.topologies === undefined ? [{ name: 'default' }] : top.topologies;
  if (!Array.isArray(tops) || !tops.length) fail('topologies', 'must list at least one topology (e.g. "- name: default")');
  for (const [i, tv] of (tops as unknown[]).entries()) {
    const key = `topologies[${i}]`;
    const t = obj(tv, key);
    only(t, key, ['name', 'nvdimms', 'nvdimmSize', 'labelSize', 'memmap', 'mem', 'cpus', 'numa']);
    const n = name(t.name, `${key}.name`);
    const given = Object.keys(t).filter((k) => k !== 'name');
    if (!given.length) {
      topologies.push({ name: n, cpusFixed: false });
      continue;
    }
    const size = (v: unknown, k: string, dflt: number) => {
      if (v === undefined) return dflt;
      try {
        return parseSizeMiB(str(v, `${key}.${k}`), `${key}.${k}`);
      } catch (e) {
        return fail(`${key}.${k}`, `"${v}" is not a size: write e.g. 2050M or 4G`);
      }
    };
    const count = int(t.nvdimms, `${key}.nvdimms`, LIMITS.nvdimms, defaultTopology.nvdimms.length);
    const dimm = { sizeMiB: size(t.nvdimmSize, 'nvdimmSize', defaultTopology.nvdimms[0].sizeMiB), labelSizeMiB: size(t.labelSize, 'labelSize', defaultTopology.nvdimms[0].labelSizeMiB) };
    const memmap = t.memmap === undefined ? [] : list(t.memmap, `${key}.memmap`).map((m, j) => {
      try {
        return parseMemmap(m);
      } catch {
        return fail(`${key}.memmap[${j}]`, `"${m}" is not SIZE!START: write e.g. "1G!4G"`);
      }
    });
    const topology: Topology = {
      nvdimms: Array.from({ length: count }, () => ({ ...dimm })),
      memmap,
      memMiB: size(t.mem, 'mem', defaultTopology.memMiB),
      cpus: int(t.cpus, `${key}.cpus`, LIMITS.cpus, defaultTopology.cpus),
      numaNodes: int(t.numa, `${key}.numa`, LIMITS.numaNodes, 1),
    };
    try {
      validateTopology(topology);
    } catch (e) {
      if (e instanceof TopologyError) fail(key, e.message.replace(/--([a-z-]+)/g, '$1'));
      throw e;
    }
    topologies.push({ name: n, topology, cpusFixed: t.cpus !== undefined });
  }
  unique(topologies, 'topologies');

  const axes = { kernel: kernels.map((k) => k.name), suite: suites.map((s) => s.name), topology: topologies.map((t) => t.name) };
  const match = (v: unknown, key: string): Override['match'] => {
    const m = obj(v, key);
    only(m, key, ['kernel', 'suite', 'mode', 'topology']);
    if (!Object.keys(m).length) fail(key, 'must name at least one of kernel, suite, mode, topology');
    const out: Override['match'] = {};
    for (const [k, x] of Object.entries(m)) {
      const val = str(x, `${key}.${k}`);
      const known = k === 'mode' ? null : axes[k as 'kernel' | 'suite' | 'topology'];
      if (known && !known.includes(val)) fail(`${key}.${k}`, `"${val}" is not one of the config's ${k}s: ${known.join(', ')}`);
      out[k as keyof Override['match']] = val;
    }
    return out;
  };
  const overrides: Override[] = [];
  if (top.overrides !== undefined) {
    if (!Array.isArray(top.overrides)) fail('overrides', 'must be a list of { match: {...}, repeat: N }');
    for (const [i, ov] of (top.overrides as unknown[]).entries()) {
      const o = obj(ov, `overrides[${i}]`);
      only(o, `overrides[${i}]`, ['match', 'repeat']);
      overrides.push({ match: match(o.match, `overrides[${i}].match`), repeat: int(o.repeat, `overrides[${i}].repeat`, LIMITS.repeat, 1) });
    }
  }
  const exclude: Override['match'][] = [];
  if (top.exclude !== undefined) {
    if (!Array.isArray(top.exclude)) fail('exclude', 'must be a list of { kernel?, suite?, mode?, topology? }');
    (top.exclude as unknown[]).forEach((x, i) => exclude.push(match(x, `exclude[${i}]`)));
  }
  const append = top.append === undefined ? [] : str(top.append, 'append').split(/\s+/).filter(Boolean);
  const known: string[] = [];
  if (top.known !== undefined)
    for (const [i, k] of list(top.known, 'known').entries()) {
      const file = await path(k, `known[${i}]`, 'file');
      // A bad line is found now, not when the first cell is judged.
      await loadKnown([file]).catch((e) => fail(`known[${i}]`, e instanceof KnownOutcomesError ? e.message : String(e)));
      known.push(file);
    }

  return {
    file,
    hash,
    origin,
    rerunFailures: int(top.rerunFailures, 'rerunFailures', LIMITS.rerunFailures, 4),
    historyNights: int(top.historyNights, 'historyNights', LIMITS.nights, 30),
    repeat: int(top.repeat, 'repeat', LIMITS.repeat, 1),
    seed: int(top.seed, 'seed', LIMITS.seed, 1),
    seconds: int(top.seconds, 'seconds', LIMITS.stressSeconds, 0),
    ...(accel ? { accel: accel as 'kvm' | 'tcg' } : {}),
    append,
    known,
    kernels,
    suites,
    topologies,
    overrides,
    exclude,
  };
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
  if (!m) throw new NightConfigError(`--shard "${text}" is not i/N: write e.g. --shard 1/4`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS || index < 1 || index > count) throw new NightConfigError(`--shard ${text}: i must be from 1 to N, and N from 1 to ${MAX_SHARDS}`);
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
