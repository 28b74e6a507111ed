// `dax-harness cache`: what the cache holds and pruning it. The work is
// host/cache.ts; this parses, prints and maps errors to exit codes.
import { cacheRoot } from '../host/paths.ts';
import { listCache, pruneCache, type CacheEntry } from '../host/cache.ts';
import { LIMITS, durationOption, wholeOption } from '../host/limits.ts';
import { formatColumns } from '../host/table.ts';
import { defineCommand, parseCommand } from './command.ts';
import { reportError, usageError } from './exit.ts';

export const CACHE_HELP = `usage: dax-harness cache [list] [--json]
       dax-harness cache prune [--older-than DUR] [--keep-last N] [--dry-run] [--json]

The cache (\${DAX_HARNESS_CACHE:-~/.cache/dax-harness}) holds kernels (Debian's,
built ones, their sources, headers and build directories), images, initrds
and module archives, each keyed by what went into it.

list (default)     every entry with its size on disk, when it was last used,
                   and whether it is busy (being built, or in use by a running
                   harness)
prune              remove entries; at least one of:
  --older-than DUR   not used for DUR (e.g. 30d, 12h, 1h30m, 2w)
  --keep-last N      all but the N most recently used of each kind
                   (both given: an entry must meet both to go)
  --dry-run        say what would go, remove nothing
                   An entry being built or in use is never removed (it is
                   listed as skipped); temp directories of builds that died
                   and work directories (NVDIMM files, overlays) of runs whose
                   harness died (SIGKILL, host lost) are removed on every
                   prune, --dry-run only lists them.
  --json           print what it lists (or removes) as JSON`;

export const CACHE_SPEC = defineCommand({
  name: 'cache',
  options: {
    'older-than': { type: 'string' },
    'keep-last': { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  positionals: true,
  manual: CACHE_HELP,
  examples: [
    ['dax-harness cache', 'what the cache holds, largest and oldest visible'],
    ['dax-harness cache prune --older-than 30d --dry-run', 'what a month unused would remove'],
    ['dax-harness cache prune --keep-last 2', 'all but the two newest of each kind'],
  ],
  exit: { 0: 'done' },
});

function human(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)}${units[i]}`;
}

function age(ms: number): string {
  const s = Math.max(0, ms / 1000);
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400 * 2) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function table(entries: CacheEntry[], now: number): string {
  const rows = entries.map((e) => [human(e.bytes), age(now - e.lastUsedMs), e.name, e.busy ? `[${e.busy}]` : '']);
  return formatColumns([['SIZE', 'LAST USED', 'ENTRY', ''], ...rows], { right: [0, 1] });
}

export async function cacheCommand(argv: string[]): Promise<number> {
  const usage = (msg: string) => usageError('cache', `${msg} — run 'dax-harness cache --help'`);
  const parsed = parseCommand(CACHE_SPEC, argv);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [sub = 'list', ...extra] = positionals;
  if (extra.length) return usage(`unexpected "${extra.join(' ')}"`);
  const now = Date.now();
  try {
    if (sub === 'list') {
      if (values['older-than'] !== undefined || values['keep-last'] !== undefined) return usage('--older-than and --keep-last go with prune');
      const entries = await listCache();
      if (values.json) process.stdout.write(JSON.stringify({ root: cacheRoot(), entries }, null, 2) + '\n');
      else {
        const total = entries.reduce((a, e) => a + e.bytes, 0);
        process.stdout.write(`${table(entries, now)}\n${human(total)} in ${entries.length} entries under ${cacheRoot()}\n`);
      }
      return 0;
    }
    if (sub !== 'prune') return usage(`unknown subcommand "${sub}": use list or prune`);
    const olderThanMs = values['older-than'] !== undefined ? durationOption(values['older-than'], '--older-than', LIMITS.ageMs) : undefined;
    const keepText = values['keep-last'];
    const keepLast = keepText !== undefined ? wholeOption(keepText, '--keep-last', LIMITS.keepLast, 0) : undefined;
    if (olderThanMs === undefined && keepLast === undefined) return usage('prune needs --older-than DUR or --keep-last N');
    const r = await pruneCache({ olderThanMs, keepLast, dryRun: Boolean(values['dry-run']), now });
    if (values.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      return 0;
    }
    const verb = values['dry-run'] ? 'would remove' : 'removed';
    for (const e of r.removed) process.stdout.write(`${verb} ${e.name} (${human(e.bytes)})\n`);
    for (const s of r.skipped) process.stdout.write(`kept ${s.entry.name}: ${s.why}\n`);
    for (const g of r.garbage) process.stdout.write(`removed leftover ${g}\n`);
    for (const o of r.orphans) process.stdout.write(`${verb} orphaned run work directory ${o.name} (${human(o.bytes)}): ${o.why}\n`);
    const orphans = r.orphans.length ? `; ${verb} ${r.orphans.length} orphaned work directories, ${human(r.orphans.reduce((a, o) => a + o.bytes, 0))}` : '';
    process.stdout.write(`${verb} ${r.removed.length} entries, ${human(r.removed.reduce((a, e) => a + e.bytes, 0))}; ${r.skipped.length} busy kept${orphans}\n`);
    return 0;
  } catch (e) {
    return reportError('cache', e);
  }
}
