// The umount watchdog: a leaked DAX page reference shows up as umount (or a
// truncate) stuck in D state. The command runs in the background in the guest
// and, if it has not finished within its budget, the watchdog reports where it
// sleeps (state, wchan, kernel stack) well before hung_task_timeout fires.
import { StepFailed, type SuiteContext, type TestLog } from './context.ts';

export interface StuckInfo {
  pid: number;
  state: string;
  wchan: string;
  stack: string[];
  /** The first frame that is not the scheduler's: where it waits. */
  where: string | null;
}

export interface WatchdogResult {
  finished: boolean;
  exitCode: number | null;
  /** Output of the watched command (when it finished). */
  output: string;
  waitedMs: number;
  stuck: StuckInfo | null;
}

const SCHED_FRAME = /^(?:__schedule|schedule|schedule_\w+|io_schedule\w*|preempt_schedule\w*|__wait_\w+|wait_\w+_common|__wait_on_\w+|rwsem_down_\w+|__mutex_lock\w*|mutex_lock\w*|down_\w+|__down\w*|bit_wait\w*|out_of_line_wait_on_bit\w*|__refrigerator|do_nanosleep|hrtimer_nanosleep|ret_from_fork\w*|entry_SYSCALL_64\w*|do_syscall_64|__x64_sys_\w+|__do_sys_\w+|__se_sys_\w+)$/;

/** Parse the watchdog script's output (pure). */
export function parseWatchdog(text: string): Omit<WatchdogResult, 'waitedMs'> {
  const lines = text.split('\n');
  const done = lines.map((l) => /^watchdog: done rc=(\d+)/.exec(l)).find(Boolean);
  const outStart = lines.indexOf('watchdog: output begin');
  const outEnd = lines.indexOf('watchdog: output end');
  const output = outStart >= 0 && outEnd > outStart ? lines.slice(outStart + 1, outEnd).join('\n') : '';
  if (done) return { finished: true, exitCode: Number(done[1]), output, stuck: null };
  const stuckLine = lines.map((l) => /^watchdog: stuck pid=(\d+)/.exec(l)).find(Boolean);
  if (!stuckLine) return { finished: false, exitCode: null, output, stuck: null };
  const get = (p: string) => lines.find((l) => l.startsWith(p))?.slice(p.length).trim() ?? '';
  const sb = lines.indexOf('watchdog: stack begin');
  const se = lines.indexOf('watchdog: stack end');
  const stack = sb >= 0 && se > sb ? lines.slice(sb + 1, se).map((l) => l.trim()).filter(Boolean) : [];
  const fns = stack.map((l) => /(?:\]\s*)?([A-Za-z_][\w.]*)\+0x/.exec(l)?.[1]).filter((f): f is string => !!f);
  const where = fns.find((f) => !SCHED_FRAME.test(f.replace(/\.(?:isra|constprop|part|cold)\.?\d*$/, ''))) ?? fns[0] ?? null;
  return { finished: false, exitCode: null, output, stuck: { pid: Number(stuckLine[1]), state: get('watchdog: state'), wchan: get('watchdog: wchan'), stack, where } };
}

// Runs "$@" in the background with its output in a file (so a stuck child does
// not hold the ssh channel open), polls it every 0.1 s, and on expiry reports
// its state, wchan and kernel stack instead of waiting. The budget is capped
// at half of hung_task_timeout_secs so we speak before the kernel's hung-task
// report would; the child is left alone (a D-state task cannot be killed).
const WATCHDOG_SH = [
  'tenths=$1; out=$2; shift 2',
  'ht=$(cat /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null || echo 0)',
  'if [ "$ht" -gt 0 ] && [ "$tenths" -gt $((ht * 5)) ]; then tenths=$((ht * 5)); fi',
  // Time from /proc/uptime in centiseconds, with builtins only: under TCG every
  // fork costs, so a loop counted in sleeps would overrun its budget.
  'now() { read -r up _ < /proc/uptime; t=${up%.*}${up#*.}; }',
  'now; start=$t; deadline=$((t + tenths * 10))',
  '"$@" > "$out" 2>&1 < /dev/null &',
  'p=$!',
  'while :; do',
  '  st=; [ -r /proc/$p/stat ] && read -r st < /proc/$p/stat',
  '  st=${st##*) }; st=${st%% *}',
  '  case "$st" in ""|Z) wait $p; rc=$?; now; echo "watchdog: done rc=$rc ms=$(((t - start) * 10))"; echo "watchdog: output begin"; cat "$out"; echo "watchdog: output end"; rm -f "$out"; exit 0;; esac',
  '  now; [ "$t" -ge "$deadline" ] && break',
  '  sleep 0.1',
  'done',
  'echo "watchdog: stuck pid=$p ms=$(((t - start) * 10))"',
  'echo "watchdog: state $(sed -n "s/^State:[[:space:]]*//p" /proc/$p/status 2>/dev/null)"',
  'echo "watchdog: wchan $(cat /proc/$p/wchan 2>/dev/null)"',
  'echo "watchdog: stack begin"; cat /proc/$p/stack 2>/dev/null; echo "watchdog: stack end"',
  'echo "watchdog: output begin"; cat "$out" 2>/dev/null; echo "watchdog: output end"',
  'exit 0',
].join('\n');

let wdSeq = 0;

/** Run a guest command under the watchdog: it finishes within `budgetMs`, or we learn where it is stuck. */
export async function watchdogExec(ctx: SuiteContext, log: TestLog, argv: string[], budgetMs = 60000): Promise<WatchdogResult> {
  const tenths = Math.max(1, Math.round(budgetMs / 100));
  const out = `/tmp/daxh-watchdog.${process.pid}.${++wdSeq}`;
  const t0 = Date.now();
  // The guest-side budget bounds the wait; the ssh timeout is only a backstop.
  const r = await log.exec(ctx, ['sh', '-c', WATCHDOG_SH, 'watchdog', String(tenths), out, ...argv], budgetMs / ctx.timeScale + 60000);
  if (ctx.signal.aborted) throw new StepFailed('crash', `watchdog on ${argv.join(' ')}: stopped (${String(ctx.signal.reason ?? 'aborted')})`);
  if (r.timedOut) throw new StepFailed('timeout', `watchdog on ${argv.join(' ')}: the guest did not answer within ${r.durationMs} ms`);
  return { ...parseWatchdog(r.stdout), waitedMs: Date.now() - t0 };
}

/** One line naming where a task is stuck, with its stack. */
export function describeStuck(what: string, w: WatchdogResult): string {
  const s = w.stuck!;
  const frames = s.stack.map((l) => /([A-Za-z_][\w.]*\+0x[0-9a-f]+\/0x[0-9a-f]+)/.exec(l)?.[1] ?? l).join(' < ');
  return `${what} stuck in ${s.where ?? s.wchan ?? 'an unknown place'} (state ${s.state || '?'}, wchan ${s.wchan || '?'}) after ${(w.waitedMs / 1000).toFixed(0)} s — a leaked DAX page reference? stack: ${frames || 'unavailable'}`;
}

/**
 * umount under the watchdog. A stuck umount fails the test with its kernel
 * stack (e.g. "umount /mnt/dax stuck in dax_break_layout_final ..."); a
 * failed one fails it with umount's message.
 */
export async function umountWithWatchdog(ctx: SuiteContext, log: TestLog, mnt: string, budgetMs = 60000): Promise<WatchdogResult> {
  const w = await watchdogExec(ctx, log, ['umount', mnt], budgetMs);
  if (w.stuck) throw new StepFailed('fail', describeStuck(`umount ${mnt}`, w));
  if (!w.finished) throw new StepFailed('fail', `umount ${mnt}: the watchdog printed no verdict`);
  if (w.exitCode !== 0) throw new StepFailed('fail', `umount ${mnt} failed (exit ${w.exitCode}): ${w.output.trim().split('\n').pop() ?? ''}`);
  return w;
}

// ------------------------------------------------------------------- fixture
