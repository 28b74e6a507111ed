// Who to Cc on a report: the MAINTAINERS entries of the files the culprit
// touches, as the kernel's own scripts/get_maintainer.pl finds them. The
// script is the tree's (a tree under test may carry anything in it), so it
// runs sandboxed like every other program that reads an untrusted tree: the
// tree read-only, nothing writable, no network. Roles and git history are off
// (--no-rolestats, --no-git, --no-git-fallback): the answer is the file's
// listed people and lists, the same on every machine, and fast.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAddress, type MailAddress } from '../host/mail-header.ts';
import { run, whichSync } from '../host/proc.ts';

export interface Maintainers {
  addresses: MailAddress[];
  /** Why the list is empty (no MAINTAINERS, no script, no perl, the script failed), or null when it ran. */
  reason: string | null;
}

/** Files a patch names that may be handed to the script: relative, inside the tree, no option look-alikes. */
export function usableFile(f: string): boolean {
  return f.length > 0 && f.length <= 4096 && !/[\x00-\x1f\x7f]/.test(f) && !f.startsWith('/') && !f.startsWith('-') && !f.split('/').includes('..');
}

/**
 * get_maintainer.pl's output (one entry a line: "Name <addr>", "\"Name, Jr.\" <addr>"
 * or a bare list address) → the addresses, each once, in the script's order.
 * Lines that hold no address (warnings the script prints on stdout) are skipped.
 */
export function parseMaintainers(stdout: string): MailAddress[] {
  const seen = new Set<string>();
  const out: MailAddress[] = [];
  for (const line of stdout.split('\n')) {
    // With roles on, an entry ends in "(maintainer:AREA)"; taken off in case a script ignores --no-rolestats.
    const a = parseAddress(line.replace(/\s+\((?:[^()]*:[^()]*|[^()@]*)\)\s*$/, '').trim());
    if (!a || seen.has(a.address.toLowerCase())) continue;
    seen.add(a.address.toLowerCase());
    out.push(a);
  }
  return out;
}

/**
 * The names to look up: a file the culprit deleted is not in the tree any
 * more and the script refuses it, so its nearest directory that still is
 * stands for it (MAINTAINERS patterns match directories too).
 */
async function lookupNames(tree: string, files: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const f of files) {
    let p = f.replace(/\/+$/, '');
    while (p && !(await stat(join(tree, p)).catch(() => null))) p = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
    if (p) out.add(p);
  }
  return [...out];
}

export const GET_MAINTAINER_TIMEOUT_MS = 120_000;

/**
 * The maintainers and lists of `files` in the kernel tree at `tree`. An
 * empty list with a reason when the tree cannot say (no MAINTAINERS, no
 * script, no perl) or the script fails; never an error, since a report
 * without Cc is still a report.
 */
export async function getMaintainers(tree: string, files: string[], o: { timeoutMs?: number } = {}): Promise<Maintainers> {
  const none = (reason: string): Maintainers => ({ addresses: [], reason });
  const script = join(tree, 'scripts', 'get_maintainer.pl');
  if (!(await stat(join(tree, 'MAINTAINERS')).catch(() => null))?.isFile()) return none(`${tree} has no MAINTAINERS file`);
  if (!(await stat(script).catch(() => null))?.isFile()) return none(`${tree} has no scripts/get_maintainer.pl`);
  const usable = await lookupNames(tree, files.filter(usableFile));
  if (!usable.length) return none(files.length ? `none of the culprit's ${files.length} file names can be looked up (absolute, outside the tree, not a plain name, or not in the tree)` : 'the culprit changes no files');
  if (!whichSync('perl')) return none('perl is not installed, so scripts/get_maintainer.pl cannot run');
  const r = await run('perl', [script, '--no-rolestats', '--no-git', '--no-git-fallback', '-f', '--', ...usable], {
    cwd: tree,
    timeoutMs: o.timeoutMs ?? GET_MAINTAINER_TIMEOUT_MS,
    reject: false,
    env: { LC_ALL: 'C' },
    sandbox: { readable: [tree] },
  });
  if (r.failed) {
    const why = r.timedOut ? 'timed out' : r.signal ? `was killed by ${r.signal}` : `exited with ${r.exitCode}`;
    const tail = r.stderr.trim().split('\n').slice(-1)[0]?.slice(0, 200);
    return none(`scripts/get_maintainer.pl ${why}${tail ? `: ${tail}` : ''}`);
  }
  const addresses = parseMaintainers(r.stdout);
  return { addresses, reason: addresses.length ? null : `scripts/get_maintainer.pl names nobody for ${usable.join(', ').slice(0, 200)}` };
}
