// `dax-harness attach RUN` and `dax-harness stop RUN`: another shell in a
// guest that is up (kept by run --keep, or a shell session's), and ending one.
import { join, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { defaultResultsRoot } from '../host/paths.ts';
import { checkProcess, pidAlive, signalRecorded } from '../host/pid.ts';
import { removeInside } from '../host/private.ts';
import { loadRun } from '../results/store.ts';
import { execInKept, keptLogin, shellInKept } from '../workflows/attach.ts';
import { connectHost, crashNotice, guestRefusal, guestState, readGuest, GuestRefusedError, GUEST_DIR, GUEST_FILE, type GuestInfo } from '../workflows/kept.ts';
import { lineForTerminal } from '../host/terminal.ts';
import { defineCommand, parseCommand } from './command.ts';
import { messageOf, usageError } from './exit.ts';

export const ATTACH_HELP = `usage: dax-harness attach [--results DIR] RUN [-- COMMAND [ARG...]]

Opens another shell (ssh with a pty) in the guest of RUN while it is up: one
left by 'dax-harness run --keep', or the guest of a 'dax-harness shell' session.
RUN is the run id (under --results) or its directory. Kernel reports the
guest's console shows meanwhile are printed here as they happen (the run
records them). Plain ssh works too: ssh -F RUN/ssh/config ID.
With -- COMMAND the command runs instead and its exit status is attach's.

Only the user who started the guest, or root, may attach to it. Bad input
(exit 2) includes no such run, its guest not up, or not yours.`;

export const STOP_HELP = `usage: dax-harness stop [--results DIR] RUN

Ends the guest of RUN cleanly (left up by 'dax-harness run --keep', or a
'dax-harness shell' session's): its owner shuts QEMU down, run.json gets its
final state, and the attach files go. A guest whose owner is gone already
(host rebooted, owner killed) is only cleaned up after. Only the user who
started the guest, or root, may stop it; its owner is signalled only while
its pid still names the process that started it. Not your guest is bad
input (exit 2); an owner that did not end it, exit 3.`;

const options = { results: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } as const;

export const ATTACH_SPEC = defineCommand({
  name: 'attach',
  options,
  positionals: true,
  manual: ATTACH_HELP,
  examples: [
    ['dax-harness attach 20261207-101500-ab12', 'a shell in the guest that run --keep left up'],
    ['dax-harness attach 20261207-101500-ab12 -- dmesg', 'one command in it'],
  ],
  exit: { 0: "the shell's (or the command's) exit status", 1: 'the guest went down meanwhile' },
});

export const STOP_SPEC = defineCommand({
  name: 'stop',
  options,
  positionals: true,
  manual: STOP_HELP,
  examples: [['dax-harness stop 20261207-101500-ab12', 'end the guest that run --keep left up']],
  exit: { 0: 'the guest is down' },
});

/** RUN (an id under the results root, or a directory) → its directory and guest.json. */
async function locate(run: string, results: string | undefined): Promise<{ dir: string; info: GuestInfo | null }> {
  const asDir = resolve(run);
  const dir = (await stat(join(asDir, 'run.json')).catch(() => null)) ? asDir : join(results ? resolve(results) : defaultResultsRoot(), run);
  if (!(await stat(join(dir, 'run.json')).catch(() => null))) throw new Error(`no run ${run} ${results ? `in ${resolve(results)}` : 'under results/'}: give the run id 'dax-harness results' lists, or its directory`);
  return { dir, info: await readGuest(dir) };
}

function parse(spec: typeof ATTACH_SPEC, argv: string[]): { a: { results?: string; help?: boolean; quiet?: boolean }; rest: string[]; command: string[] | null } | number {
  const dash = argv.indexOf('--');
  const p = parseCommand(spec, dash >= 0 ? argv.slice(0, dash) : argv);
  if (typeof p === 'number') return p;
  return { a: p.values, rest: p.positionals, command: dash >= 0 ? argv.slice(dash + 1) : null };
}

export async function attachCommand(argv: string[]): Promise<number> {
  const bad = (m: string) => usageError('attach', m);
  const p = parse(ATTACH_SPEC, argv);
  if (typeof p === 'number') return p;
  if (p.rest.length !== 1) return bad('give one RUN (the run id or its directory)');
  if (p.command !== null && !p.command.length) return bad('nothing after --: give the command to run in the guest');
  let dir: string;
  let info: GuestInfo | null;
  try {
    ({ dir, info } = await locate(p.rest[0]!, p.a.results));
  } catch (e) {
    return bad(messageOf(e));
  }
  if (!info) return bad(`run ${p.rest[0]} has no guest up (keep one with dax-harness run --keep, or open one with dax-harness shell)`);
  const refused = await guestRefusal(dir, info.run, 'attach to');
  if (refused) return bad(refused);
  const state = guestState(info);
  if (!state.up) return bad(`the guest of ${info.run} is not up: ${state.why}`);
  const tty = p.command === null && Boolean(process.stdin.isTTY);
  const say = (l: string) => process.stderr.write(`${lineForTerminal(l)}${tty ? '\r\n' : '\n'}`);
  let down = false;
  const end = new AbortController();
  const host = await connectHost(
    dir,
    (ev) => {
      if (ev.event === 'crash') for (const l of crashNotice(ev, info!.runDir)) say(l);
      else if (ev.event === 'stopping') {
        down = true;
        say(`[dax-harness] the guest is going down: ${ev.why}`);
        end.abort();
      }
    },
    { pid: process.pid },
  ).catch((e: Error) => e);
  if (host instanceof GuestRefusedError) return bad(host.message);
  if (host instanceof Error) return bad(`cannot reach the owner of ${info.run} (${join(dir, GUEST_DIR, 'sock')}: ${host.message}); its guest may be going down`);
  const login = await keptLogin(dir, info);
  try {
    if (p.command) return await execInKept(login, p.command, { signal: end.signal, onOutput: (chunk, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk) });
    if (!p.a.quiet) say(`attached to ${info.run} (${info.mode === 'kept' ? 'kept by run --keep' : 'a shell session'}); exit or Ctrl-D to leave, dax-harness stop ${info.run} ends it`);
    const status = await shellInKept(login, { stdin: process.stdin, stdout: process.stdout }, end.signal);
    return status ?? (down ? 1 : 0);
  } catch (e) {
    say(`dax-harness attach: ${(e as Error).message}`);
    return 1;
  } finally {
    host.close();
  }
}

export async function stopCommand(argv: string[]): Promise<number> {
  const bad = (m: string) => usageError('stop', m);
  const p = parse(STOP_SPEC, argv);
  if (typeof p === 'number') return p;
  if (p.rest.length !== 1 || p.command !== null) return bad('give one RUN (the run id or its directory)');
  let dir: string;
  let info: GuestInfo | null;
  try {
    ({ dir, info } = await locate(p.rest[0]!, p.a.results));
  } catch (e) {
    return bad(messageOf(e));
  }
  if (!info) return bad(`run ${p.rest[0]} has no guest up: nothing to stop`);
  const refused = await guestRefusal(dir, info.run, 'stop');
  if (refused) return bad(refused);
  const state = guestState(info);
  if (!state.up) {
    // Its owner is gone and QEMU with it (pdeathsig): only the files are left.
    // Names of our own in RUN, never a path guest.json gives (guest.sock: an older harness's socket).
    for (const name of [GUEST_FILE, 'ssh', GUEST_DIR, 'guest.sock']) await removeInside(dir, name);
    process.stdout.write(`${lineForTerminal(`${info.run}: the guest was not up (${state.why}); cleaned up after it`)}\n`);
    return 0;
  }
  const owner = info.owner;
  // Unverifiable (a guest.json without start time, or /proc hiding it): waited for, never signalled.
  const alive = () => {
    const c = checkProcess(owner);
    return c === 'same' || (c === 'unknown' && pidAlive(owner.pid));
  };
  const host = await connectHost(dir, () => {}, { pid: process.pid }).catch((e: Error) => e);
  if (host instanceof GuestRefusedError) return bad(host.message);
  if (host instanceof Error) signalRecorded(owner, 'SIGTERM');
  else host.send({ cmd: 'stop', pid: process.pid });
  const gone = async (ms: number) => {
    const until = Date.now() + ms;
    while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    return !alive();
  };
  // A shell session's owner goes on (it prints its verdict) once its guest is down: wait for the files to go.
  const down = async (ms: number) => {
    const until = Date.now() + ms;
    while ((await readGuest(dir)) && alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    return !(await readGuest(dir)) || !alive();
  };
  let ok = info.mode === 'kept' ? await gone(60000) : await down(60000);
  if (!ok && signalRecorded(owner, 'SIGTERM') === 'same') ok = await gone(15000);
  if (!(host instanceof Error)) host.close();
  if (!ok) {
    const unverified = checkProcess(owner) === 'unknown' ? ': its start time and command line were not recorded, so it was not signalled' : '';
    process.stderr.write(`dax-harness stop: the owner of ${info.run} (pid ${owner.pid}) did not end the guest${unverified}\n`);
    return 3;
  }
  const run = await loadRun(dir).catch(() => null);
  process.stdout.write(`${lineForTerminal(`${info.run}: guest stopped${run ? `; run ${run.status}${run.reason ? ` — ${run.reason}` : ''}` : ''}`)}\n`);
  return 0;
}
