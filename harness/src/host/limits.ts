// Range checks for every number a user gives the harness (options, config
// keys), in one place so that every command says the same thing: the option,
// what was given and the range that works, as an InputError (exit 2) raised
// before anything is downloaded or booted. Also the clamp every user-derived
// delay goes through before it reaches setTimeout.
import { resolve, sep } from 'node:path';
import { InputError } from './errors.ts';

export interface Range {
  min: number;
  max: number;
}

/**
 * Node's timers hold a signed 32-bit count of ms: a larger (or non-finite)
 * delay is replaced by 1 ms with only a warning, so a "week-long" timeout
 * fires at once. Every bound below stays under it.
 */
export const TIMER_MAX_MS = 2 ** 31 - 1;

/** A delay safe for setTimeout: negative is now, beyond the timer's range is the longest it can wait. */
export function timerDelay(ms: number): number {
  if (Number.isNaN(ms)) throw new RangeError('timer delay is NaN');
  return Math.min(TIMER_MAX_MS, Math.max(0, Math.ceil(ms)));
}

const HOUR_S = 3600;
const DAY_S = 24 * HOUR_S;

/**
 * The ranges of the harness's numbers, named once. Seconds are seconds;
 * every bound stays well below TIMER_MAX_MS once it is turned into ms.
 */
export const LIMITS = {
  /** Waiting for a guest's sshd; a day covers the slowest TCG boot with room to spare. */
  bootTimeoutS: { min: 1, max: DAY_S },
  /** ndctl tests with meson's timeout disabled. */
  hangTimeoutS: { min: 1, max: DAY_S },
  /** How long one stressor loops. */
  stressSeconds: { min: 0, max: DAY_S },
  seed: { min: 0, max: 2 ** 31 },
  /** Passes of a suite in one guest. */
  repeat: { min: 1, max: 1000 },
  nvdimms: { min: 0, max: 8 },
  cpus: { min: 1, max: 8 },
  numaNodes: { min: 1, max: 4 },
  /** QEMU binds the guest's ssh forward on 127.0.0.1: no privileged ports. */
  bindPort: { min: 1024, max: 65535 },
  /** Guests (or make jobs) at once on one host. */
  jobs: { min: 1, max: 256 },
  rerunFailures: { min: 0, max: 100 },
  nights: { min: 1, max: 10000 },
  /** repro --confirm: more runs of the reproducing test. */
  confirm: { min: 0, max: 1000 },
  /** repro --crash: the n-th report of the input. */
  crashIndex: { min: 1, max: 10000 },
  /** bisect: runs one step may take, and the whole bisection's budgets. */
  maxRunsPerStep: { min: 10, max: 100000 },
  budgetCount: { min: 1, max: 1000000 },
  keepLast: { min: 0, max: 1000000 },
  /** repro --budget: a week is the longest search anyone waits for. */
  budgetMs: { min: 1000, max: 7 * DAY_S * 1000 },
  /** run --keep-idle: no kept guest lives past 6 h anyway. */
  keepIdleMs: { min: 1000, max: 6 * HOUR_S * 1000 },
  /** cache prune --older-than: an age, not a timer; ten years is everything. */
  ageMs: { min: 0, max: 3650 * DAY_S * 1000 },
} as const satisfies Record<string, Range>;

function rangeText(r: Range, unit = ''): string {
  return `${r.min}${unit} to ${r.max}${unit}`;
}

/** A whole number within `range`; undefined gives `dflt`. */
export function wholeOption(text: string | undefined, name: string, range: Range, dflt: number, unit = ''): number {
  if (text === undefined) return dflt;
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new InputError(`${name} "${text}" is not a whole number: give one from ${rangeText(range)}${unit}`);
  const n = Number(t);
  if (n < range.min || n > range.max) throw new InputError(`${name} ${t} is out of range: give ${rangeText(range)}${unit}`);
  return n;
}

/** A value read from a file (already a number, or not): a whole number within `range`. */
export function inRange(v: unknown, range: Range): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= range.min && v <= range.max;
}

/** A TCP port the harness binds on the host (unprivileged: 1024-65535). */
export function portOption(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const r = LIMITS.bindPort;
  const t = text.trim();
  if (!/^\d+$/.test(t) || Number(t) < r.min || Number(t) > r.max) throw new InputError(`${name} "${text}" is not a port the harness can bind: give ${rangeText(r)}`);
  return Number(t);
}

/**
 * A timeout given in seconds (`range`, `dfltS`) → ms. It takes the one
 * duration grammar (90s, 15m, 1h30m, 1d); a plain number is seconds, as before.
 */
export function secondsOption(text: string | undefined, name: string, range: Range, dfltS: number): number {
  if (text === undefined) return dfltS * 1000;
  return durationOption(text, name, { min: range.min * 1000, max: range.max * 1000 });
}

const UNIT_MS: Record<string, number> = { w: 7 * DAY_S * 1000, d: DAY_S * 1000, h: HOUR_S * 1000, m: 60_000, s: 1000 };

function durationText(ms: number): string {
  for (const [u, f] of Object.entries(UNIT_MS)) if (ms % f === 0 && ms >= f) return `${ms / f}${u}`;
  return `${ms} ms`;
}

/**
 * "90s", "30m", "2h", "1h30m", "30d", "2w" or plain seconds → ms within
 * `range` (`range` in ms). Units go largest first, each at most once.
 */
export function durationOption(text: string, name: string, range: Range): number {
  const t = text.trim();
  const m = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(t);
  if (!m || t === '' || m.slice(1).every((x) => x === undefined))
    throw new InputError(`${name} "${text}" is not a duration: write it as 90s, 30m, 2h, 1h30m or 2d (from ${durationText(range.min)} to ${durationText(range.max)})`);
  const [w, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
  const ms = ((((w! * 7 + d!) * 24 + h!) * 60 + mi!) * 60 + s!) * 1000;
  if (!(ms >= range.min && ms <= range.max)) throw new InputError(`${name} ${t} is out of range: give ${durationText(range.min)} to ${durationText(range.max)}`);
  return ms;
}

/** Names the harness makes paths of (night ids, run ids): one path component, nothing hidden. */
export const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isSafeId(id: unknown): id is string {
  return typeof id === 'string' && SAFE_ID.test(id) && !id.includes('..');
}

/** `parent/name` when that stays inside `parent`; null for anything that would climb out. */
export function childPath(parent: string, name: string): string | null {
  if (!isSafeId(name)) return null;
  const base = resolve(parent);
  const p = resolve(base, name);
  return p.startsWith(base + sep) ? p : null;
}
