// The nightly config's shape, checked against nightly/config.schema.json (the
// file editors complete from): keys, types, ranges, names, and which keys go
// together. What needs the disk or the suite registry's judgement stays in
// config.ts. A problem comes back as the key and one line saying the fix.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { repoRoot } from '../../host/paths.ts';
import { allSuites } from '../../suites/index.ts';

export const CONFIG_SCHEMA_FILE = join(repoRoot, 'nightly', 'config.schema.json');

/** A list key: YAML list, or one string of comma-separated items. */
export type List = string | string[];
export type RawMatch = Partial<Record<'kernel' | 'suite' | 'mode' | 'topology', string>>;

/** The data a config the schema accepts holds: strings trimmed, numbers given for strings read as strings. */
export interface RawKernel {
  name: string;
  stock?: boolean;
  package?: string;
  debian?: string;
  git?: string;
  ref?: string;
  series?: string;
  config?: List;
  configBase?: 'tinyconfig' | 'defconfig';
}
export interface RawSuite {
  name: string;
  suite?: string;
  modes?: List;
  tests?: List;
  seconds?: number;
  image?: string;
  repeat?: number;
  /** A suite's tree key (ndctl: PATH), added by the registry. */
  [tree: string]: unknown;
}
export interface RawTopology {
  name: string;
  nvdimms?: number;
  nvdimmSize?: string;
  labelSize?: string;
  memmap?: List;
  mem?: string;
  cpus?: number;
  numa?: number;
}
export interface RawConfig {
  origin?: string;
  rerunFailures?: number;
  historyNights?: number;
  repeat?: number;
  seed?: number;
  seconds?: number;
  accel?: 'kvm' | 'tcg';
  append?: string;
  known?: List;
  modes?: List;
  kernels: RawKernel[];
  suites: RawSuite[];
  topologies?: RawTopology[];
  overrides?: { match: RawMatch; repeat?: number }[];
  exclude?: RawMatch[];
}

export type ShapeResult = { ok: true; config: RawConfig } | { ok: false; key: string; message: string };

/** A JSON Schema object, read as data. */
type Node = { [k: string]: any };

let fileSchema: Promise<Node> | null = null;

/** nightly/config.schema.json as it is on disk (read once). */
export function configSchema(): Promise<Node> {
  return (fileSchema ??= readFile(CONFIG_SCHEMA_FILE, 'utf8').then((t) => JSON.parse(t) as Node));
}

interface Compiled {
  validate: ValidateFunction;
  schema: Node;
  /** Keys whose values are whole numbers: a number anywhere else is read as a string. */
  numberKeys: Set<string>;
}
const compiled = new Map<string, Compiled>();

/** The file's schema with every registered suite's tree key on a suite entry, compiled once per set of keys. */
async function validator(): Promise<Compiled> {
  const trees = allSuites().flatMap((s) => (s.tree ? [s.tree.option] : []));
  const id = trees.join('\n');
  const have = compiled.get(id);
  if (have) return have;
  const schema = structuredClone(await configSchema());
  const entry = schema.definitions.suite.properties as Node;
  for (const k of trees) entry[k] ??= { $ref: '#/definitions/text' };
  // Strict, but branches (oneOf, dependencies) name keys their parent defines; union types are the list keys'.
  const ajv = new Ajv({ strict: true, strictTypes: false, strictRequired: false, allowUnionTypes: true, verbose: true });
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: ['string', 'object'] });
  const c = { validate: ajv.compile(schema), schema, numberKeys: integerKeys(schema) };
  compiled.set(id, c);
  return c;
}

function resolveRef(root: Node, node: Node | undefined): Node | undefined {
  const ref = node?.$ref as string | undefined;
  return ref?.startsWith('#/definitions/') ? resolveRef(root, root.definitions[ref.slice('#/definitions/'.length)]) : node;
}

function integerKeys(root: Node): Set<string> {
  const out = new Set<string>();
  for (const node of [root, ...Object.values(root.definitions as Node)])
    for (const [k, v] of Object.entries((node as Node).properties ?? {})) if (resolveRef(root, v as Node)?.type === 'integer') out.add(k);
  return out;
}

/** Strings trimmed, and numbers read as strings except under whole-number keys (YAML reads `debian: 6.12` and `mem: 2048` as numbers). */
function normalize(v: unknown, key: string, numberKeys: Set<string>): unknown {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number') return numberKeys.has(key) ? v : String(v);
  if (Array.isArray(v)) return v.map((x) => normalize(x, key, numberKeys));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x, k, numberKeys)]));
  return v;
}

/** Config data → the shape the schema accepts, or the first problem as key and message. Does not change `raw`. */
export async function checkShape(raw: unknown): Promise<ShapeResult> {
  const { validate, schema, numberKeys } = await validator();
  const data = normalize(raw ?? {}, '', numberKeys);
  if (validate(data)) return { ok: true, config: data as RawConfig };
  return { ok: false, ...problem(validate.errors ?? [], schema) };
}

const depth = (e: ErrorObject) => e.instancePath.split('/').length;

/**
 * ajv's errors → the one a person should fix first: the deepest, and of
 * equals the last (a oneOf's or anyOf's own error comes after its branches').
 */
function problem(errors: ErrorObject[], root: Node): { key: string; message: string } {
  const e = errors.reduce((a, b) => (depth(b) >= depth(a) ? b : a));
  const path = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  // A key that needs another ("ref goes with git") is the one to fix.
  const needing = /\/dependencies\/([^/]+)\//.exec(e.schemaPath)?.[1];
  const extra = needing ?? (e.keyword === 'required' ? (e.params.missingProperty as string) : e.keyword === 'additionalProperties' ? (e.params.additionalProperty as string) : undefined);
  if (extra !== undefined) path.push(extra);
  if (e.keyword === 'uniqueItems') path.push(String(e.params.i));
  const key = path.reduce((k, p) => (/^\d+$/.test(p) ? `${k}[${p}]` : k ? `${k}.${p}` : p), '') || '(top)';
  return { key, message: messageOf(e, root) };
}

/** The node's own errorMessage for this keyword, if the schema gives one. */
function own(node: Node | undefined, keyword: string): string | undefined {
  const m = node?.errorMessage as string | Record<string, string> | undefined;
  return typeof m === 'string' ? m : m?.[keyword];
}

function messageOf(e: ErrorObject, root: Node): string {
  const parent = e.parentSchema as Node;
  const given = own(parent, e.keyword);
  if (given) return given.startsWith('is not') ? `${JSON.stringify(e.data)} ${given}` : given;
  switch (e.keyword) {
    case 'required': {
      const node = resolveRef(root, parent.properties?.[e.params.missingProperty as string]);
      return own(node, 'required') ?? own(node, 'type') ?? typeText(node) ?? 'is required';
    }
    case 'additionalProperties':
      return `unknown key: use one of ${Object.keys(parent.properties).join(', ')}`;
    case 'enum':
      return `${JSON.stringify(e.data)} is not ${choices(e.params.allowedValues as unknown[])}`;
    case 'uniqueItems':
      return `${JSON.stringify((e.data as unknown[])[e.params.i as number])} is listed twice: give each once`;
    default:
      return typeText(parent) ?? `${e.message ?? 'does not fit'} (see nightly/config.schema.json)`;
  }
}

function typeText(node: Node | undefined): string | undefined {
  switch (node?.type) {
    case 'integer':
      return `must be a whole number from ${node.minimum} to ${node.maximum}`;
    case 'object':
      return 'must be a mapping of keys to values';
    case 'array':
      return 'must be a non-empty list';
    case 'string':
      return 'must be a non-empty string';
    default:
      return undefined;
  }
}

function choices(v: unknown[]): string {
  const s = v.map(String);
  return s.length > 1 ? `${s.slice(0, -1).join(', ')} or ${s.at(-1)}` : s.join('');
}
