// Names a grouped report the way kernel developers already name them on syzbot:
// a class plus the guilty function, chosen by skipping the frames that are never
// to blame (spec §4.2–§4.4).
import type { Frame } from '../results/records.js';
import type { ReportType } from './patterns.js';
import { DEATH_RE, FATAL_TYPES } from './patterns.js';
import { normaliseFn, parseFrame } from './stack.js';

// §4.3: reporting, trap/fault entry, sanitizer, lock/atomic/refcount/list/mem/str
// helpers, plus the DAX refcount helpers whose caller is the interesting one.
const SKIP_RE = new RegExp(
  '^(?:' +
    [
      'panic\\w*',
      'nmi_panic',
      'invalid_op',
      'report_bug',
      'fixup_bug',
      'do_error\\w*',
      '\\w*_trap',
      'do_trap\\w*',
      'show_stack\\w*',
      'show_regs',
      'dump_stack\\w*',
      '__warn\\w*',
      'warn_slowpath\\w*',
      '\\w*kasan\\w*',
      '__sanitizer\\w*',
      '__asan\\w*',
      '__tsan\\w*',
      'check_memory_region\\w*',
      'ubsan_\\w+',
      '__ubsan_\\w+',
      'kfence_\\w+',
      '__kfence_\\w+',
      '(?:_raw|do_raw|__raw)_(?:spin|read|write)_\\w+',
      '(?:spin|read|write)_(?:un)?lock\\w*',
      'native_queued_spin_lock\\w*',
      'queued_(?:spin|read|write)_lock\\w*',
      '__pv_queued_spin\\w*',
      'mutex_(?:un)?lock\\w*',
      '__mutex_\\w+',
      'lock_(?:acquire|release|is_held|acquired|contended)\\w*',
      '__lock_\\w+',
      'lockdep_\\w+',
      'debug_lockdep\\w*',
      'rcu_lock_\\w+',
      '(?:arch_|raw_)?atomic\\w*',
      '__refcount\\w*',
      'refcount_\\w+',
      '__list_\\w+',
      'list_\\w+',
      '__?mem(?:cpy|set|move|cmp|chr|dup)\\w*',
      'mem(?:cpy|set|move|cmp|chr|dup)\\w*',
      'str(?:cpy|cmp|len|ncpy|ncmp|chr|rchr|lcpy|scpy|cat|ncat|nlen|str|dup)\\w*',
      '_{0,2}copy_(?:to|from)_user\\w*',
      '_copy_(?:to|from)_user\\w*',
      'copy_user_\\w+',
      'rep_movs\\w*',
      'die',
      'die_\\w+',
      '__die\\w*',
      'oops_\\w+',
      'handle_bug',
      'exc_invalid_op',
      'asm_exc_\\w+',
      'exc_page_fault',
      'exc_general_protection',
      'do_user_addr_fault',
      'do_kern_addr_fault',
      'page_fault_oops',
      'kernelmode_fixup_or_oops\\w*',
      '__bad_area\\w*',
      'bad_area\\w*',
      'no_context',
      'dump_page',
      '__dump_page',
      '__dump_folio',
      'dump_mapping',
      'bad_page',
      'print_bad_pte',
      'print_bad_page_map',
      'folio_(?:get|put|try_get|put_refs|ref_\\w+)',
      '__folio_put\\w*',
      'folio_put_testzero',
      'put_page\\w*',
      'get_page',
      'page_ref_\\w+',
      'put_page_testzero',
      'gup_put_folio',
      'free_zone_device_folio',
      'refcount_warn_saturate',
      'check_panic_on_warn',
      '__might_\\w+',
      'might_\\w+',
      '___might_sleep',
      'print_report',
      'end_report',
      'start_report',
    ].join('|') +
    ')$',
);

const LAST_RESORT_RE = /^(?:handle_mm_fault|__handle_mm_fault|do_syscall_64|do_syscall_x64|x64_sys_call|entry_SYSCALL_64\w*|ret_from_fork\w*|kthread|worker_thread|process_one_work\w*)$/;

// A hung task's own stack is all scheduler and wait plumbing at the top.
const SCHED_RE =
  /^(?:__?schedule\w*|schedule\w*|io_schedule\w*|context_switch|__switch_to\w*|preempt_schedule\w*|\w*wait_for_completion\w*|_{0,3}wait_(?:var_)?event\w*|__?wait_on_\w+|wait_on_\w+|folio_wait_\w+|wait_page_idle\w*|bit_wait\w*|out_of_line_wait\w*|rwsem_down_\w+|__?down\w*|down_\w+|rt_mutex\w*|__?percpu_(?:down|rwsem)\w*|percpu_rwsem_wait|do_nanosleep|schedule_hrtimeout\w*|__wait_\w+|wait_woken|prepare_to_wait\w*|finish_wait|__rwsem_\w+|rwsem_\w+|__flush_work|flush_work|__synchronize_\w+|synchronize_\w+|wait_rcu_gp|__wait_rcu_gp)$/;

// Interrupt/timer plumbing seen above a stalled or locked-up CPU's real work.
const IRQ_RE =
  /^(?:rcu_\w+|__rcu_\w+|__?sysvec_\w+|sysvec_\w+|update_process_times|tick_\w+|__?hrtimer_\w+|hrtimer_\w+|__?irq_exit\w*|__?do_softirq|handle_softirqs?|__?irq_\w+|nmi_\w+|arch_trigger\w*|trigger_\w+|print_cpu_stall\w*|check_cpu_stall\w*|dump_cpu_task|sched_show_task|watchdog_timer_fn|__run_hrtimer|invoke_softirq|irqentry_\w+|asm_sysvec_\w+|asm_common_interrupt|common_interrupt|__common_interrupt|smp_call_function\w*|csd_lock_wait\w*)$/;

const ALLOC_RE =
  /^(?:post_alloc_hook|prep_new_page|get_page_from_freelist|__alloc_pages\w*|alloc_pages\w*|__folio_alloc\w*|folio_alloc\w*|__?alloc_frozen_pages\w*|vma_alloc_folio\w*|__get_free_pages|get_zeroed_page\w*|__set_page_owner|set_page_owner|__reset_page_owner|__?kmalloc\w*|alloc_slab_page|allocate_slab|new_slab|___?slab_alloc\w*|kmem_cache_alloc\w*|stack_depot\w*|stack_trace_save|save_stack|kasan_save_\w+)$/;
const FREE_RE =
  /^(?:free_pages_prepare|free_page_is_bad\w*|free_unref_page\w*|free_unref_folios|__?free_pages\w*|free_pages\w*|__free_one_page|free_pcppages_bulk|free_tail_page_prepare|__?free_frozen_pages|folios_put\w*|release_pages|__page_cache_release|free_pages_and_swap_cache|free_compound_page|destroy_large_folio|free_large_kmalloc|__put_page|check_free_page\w*)$/;

export function isSkipped(fn: string): boolean {
  return SKIP_RE.test(normaliseFn(fn));
}

export interface Guilt {
  fn: string | null;
  /** The first (up to) four frames that are not skipped, for the dedup key. */
  frames: string[];
}

/**
 * Choose the guilty function: the RIP function unless skippable, then the first
 * reliable, non-skipped frame of the main trace; last-resort frames only when
 * nothing else is left.
 */
export function chooseGuilty(rip: Frame | null, frames: readonly Frame[], extraSkip?: RegExp): Guilt {
  const ok = (f: Frame) => f.reliable && !SKIP_RE.test(f.norm) && !(extraSkip && extraSkip.test(f.norm));
  const picked: string[] = [];
  let lastResort: string | null = null;
  const consider = (f: Frame) => {
    if (!ok(f)) return;
    if (LAST_RESORT_RE.test(f.norm)) {
      lastResort ??= f.norm;
      return;
    }
    if (picked[picked.length - 1] !== f.norm) picked.push(f.norm);
  };
  if (rip) consider(rip);
  for (const f of frames) {
    if (picked.length >= 4) break;
    consider(f);
  }
  return { fn: picked[0] ?? lastResort, frames: picked.length > 0 ? picked : lastResort ? [lastResort] : [] };
}

/** §4.4: drop the build directory so the same file names match across build trees. */
export function normaliseFile(path: string): string {
  let p = path.trim();
  // Only an absolute build path has a tree root to cut; "include/linux/mm.h" must stay whole.
  if (p.startsWith('/')) {
    const m = /\/linux(?:-[^/]*)?\/(.*)$/.exec(p);
    if (m && m[1] && !/^include\//.test(p.slice(p.indexOf(m[0]) - 8))) p = m[1];
  }
  return p.replace(/^\.\//, '');
}

/** Remove things that differ between boots: long hex, pointers, pids in brackets, counters. */
export function scrub(s: string): string {
  return s
    .replace(/\b(?:0x)?[0-9a-f]{6,}\b/gi, '')
    .replace(/\(____ptrval____\)|\(ptrval\)/g, '')
    .replace(/\[#\d+\]/g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s+([,.;:)])/g, '$1')
    .replace(/:(?:\s*:)+/g, ':')
    .trim();
}

export interface Classified {
  type: ReportType;
  title: string;
  fatal: boolean;
  guilty: string | null;
  frames: string[];
  file: string | null;
  sourceLine: number | null;
  reason: string;
}

export interface ClassifyInput {
  type: ReportType;
  /** Kernel text of the report from its primary line on (blanks at the start kept). */
  body: readonly string[];
  died: boolean;
  rip: Frame | null;
  /** Frames of the main trace (first trace after the primary line). */
  main: readonly Frame[];
  /** Frames of the page_owner "page last allocated" stack, if any. */
  alloc: readonly Frame[];
  /** Canonical page-dump assertion, if a dump is attached. */
  assertion: string | null;
}

export function classify(inp: ClassifyInput): Classified {
  const head = inp.body[0]!.trimStart();
  let { type } = inp;
  const body = inp.body.map((l) => l.trimStart());
  // refcount_t/list corruption: fatal when BUG_ON_DATA_CORRUPTION turned them into BUG().
  const fatal = FATAL_TYPES.has(type) || inp.died || body.some((l) => DEATH_RE.test(l));

  let file: string | null = null;
  let sourceLine: number | null = null;
  const setFile = (f: string, l: string | undefined) => {
    file ??= normaliseFile(f);
    if (sourceLine === null && l !== undefined) sourceLine = Number(l);
  };
  for (const l of body) {
    let m = /^[Kk]ernel BUG at ([^\s:]+):(\d+)/.exec(l);
    if (m) setFile(m[1]!, m[2]);
    m = /^WARNING: CPU: \d+ PID: \d+ at ([^\s:]+):(\d+) /.exec(l) ?? /^WARNING: ([^\s:]+\.[chS]):(\d+) at /.exec(l);
    if (m) setFile(m[1]!, m[2]);
    m = /^UBSAN: [\w-]+ in ([^\s:]+):(\d+)/.exec(l);
    if (m) setFile(m[1]!, m[2]);
    m = /^BUG: sleeping function called from invalid context at ([^\s:]+):(\d+)/.exec(l);
    if (m) setFile(m[1]!, m[2]);
    if (file !== null) break;
  }

  let reason = inp.assertion ?? '';
  if (type === 'refcount_t') reason = /^refcount_t: ([^.]*)/.exec(head)?.[1] ?? reason;
  if (type === 'list corruption') reason = scrub(head.replace(/0x[0-9a-f]+|[0-9a-f]{8,}/g, '')).replace(/\(\s*\)|\(\w+=\s*\)/g, '').replace(/\s+/g, ' ').trim();

  let extra: RegExp | undefined;
  let frames = inp.main;
  let rip = inp.rip;
  if (type === 'hung task') {
    extra = SCHED_RE;
    rip = null;
  } else if (type === 'RCU stall' || type === 'soft lockup' || type === 'hard lockup') extra = IRQ_RE;
  else if (type === 'bad page state') {
    if (inp.alloc.length > 0) {
      frames = inp.alloc;
      extra = ALLOC_RE;
      rip = null;
    } else extra = FREE_RE;
  }

  // Some reports name their culprit on the first line.
  let named: Frame | null = null;
  const inFn = /(?:\bin|\bat) ([A-Za-z_.$][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[\w-]+\])?)/.exec(head);
  if ((type === 'KASAN' || type === 'KFENCE' || type === 'WARNING') && inFn) named = parseFrame(inFn[1]!, 'named');
  if (type === 'lockdep') {
    const i = body.findIndex((l) => / is trying to acquire lock:$/.test(l) || /^\S+ is trying to acquire/.test(l));
    const at = i >= 0 ? /, at: ([A-Za-z_.$][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+)/.exec(body[i + 1] ?? '') : null;
    if (at) named = parseFrame(at[1]!, 'named');
    // The lock site is reported from lockdep's own stack; RIP is meaningless here.
    rip = null;
  }
  if (type === 'WARNING' || type === 'refcount_t' || type === 'list corruption') {
    const w = body.find((l) => l.startsWith('WARNING: '));
    // Old style names the site as "at FILE:LINE FN+off/size", new style as "FILE:LINE at FN+off/size".
    const wm = w ? /\bat (?:\S+:\d+ )?([A-Za-z_.$][\w.$]*\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[[\w-]+\])?)/.exec(w) : null;
    if (wm) named = parseFrame(wm[1]!, 'named');
  }
  const g = chooseGuilty(named ?? rip, named && rip && named.norm !== rip.norm ? [rip, ...frames] : frames, extra);
  const fn = g.fn;
  const inF = fn ? ` in ${fn}` : '';

  let title: string;
  switch (type) {
    case 'BUG':
      if (/^[Kk]ernel BUG at /.test(head)) title = fn ? `kernel BUG in ${fn}` : `kernel BUG at ${file ?? '?'}`;
      else title = `${scrub(head.replace(/ (?:at|in) \S+$/, '').replace(/:.*$/, ''))}${inF}`;
      break;
    case 'WARNING':
      title = `WARNING${inF}`;
      break;
    case 'KASAN': {
      const m = /^BUG: KASAN: ([\w-]+)/.exec(head);
      const acc = body.find((l) => /^(?:Read|Write) of size/.test(l));
      title = `KASAN: ${m?.[1] ?? 'invalid-access'}${acc ? ' ' + acc.split(' ')[0] : ''}${inF}`;
      break;
    }
    case 'KFENCE': {
      const m = /^BUG: KFENCE: ([\w-]+(?: \w+)?)(?: in)?/.exec(head);
      title = `KFENCE: ${m?.[1] ?? 'bug'}${inF}`;
      break;
    }
    case 'GPF':
      title = `general protection fault${inF}`;
      break;
    case 'Oops': {
      let what = 'Oops';
      if (/NULL pointer dereference/.test(head)) what = 'BUG: kernel NULL pointer dereference';
      else if (/unable to handle|Unable to handle kernel paging request/.test(head)) what = 'BUG: unable to handle kernel paging request';
      title = `${what}${inF}`;
      break;
    }
    case 'invalid opcode':
      title = `invalid opcode${inF}`;
      break;
    case 'panic': {
      const msg = scrub(head.replace(/^Kernel panic - not syncing:\s*/, ''));
      title = `kernel panic: ${msg}`;
      break;
    }
    case 'hung task':
      title = `INFO: task hung${inF}`;
      break;
    case 'RCU stall':
      title = `INFO: rcu detected stall${inF}`;
      break;
    case 'soft lockup':
      title = `BUG: soft lockup${inF}`;
      break;
    case 'hard lockup':
      title = `watchdog: hard LOCKUP${inF}`;
      break;
    case 'workqueue lockup':
      title = 'BUG: workqueue lockup';
      break;
    case 'bad page state':
      title = `BUG: Bad page state${inF}`;
      break;
    case 'bad page map':
      title = `BUG: Bad page map${inF}`;
      break;
    case 'bad rss-counter':
      title = 'BUG: Bad rss-counter state';
      break;
    case 'refcount_t':
      title = `WARNING: refcount bug${inF}`;
      break;
    case 'list corruption':
      title = `BUG: corrupted list${inF}`;
      break;
    case 'UBSAN': {
      const m = /^UBSAN: ([\w-]+(?: [\w-]+)*?)(?: in |$)/.exec(head);
      title = `UBSAN: ${m?.[1] ?? 'bug'}${inF}`;
      break;
    }
    case 'lockdep': {
      const what = head.replace(/^WARNING: /, '').replace(/!$/, '').trim();
      if (/^possible (?:circular|recursive) locking/.test(what)) title = `possible deadlock${inF}`;
      else if (/^suspicious RCU usage/.test(what)) {
        const at = body.find((l) => /^\S+\.[ch]:\d+ /.test(l));
        title = at ? `suspicious RCU usage at ${normaliseFile(at.split(':')[0]!)}` : 'suspicious RCU usage';
      } else title = `${what.replace(/ detected$/, '')}${inF}`;
      break;
    }
    case 'sleeping in atomic':
      title = `BUG: sleeping function called from invalid context${inF}`;
      break;
    case 'scheduling while atomic':
      title = `BUG: scheduling while atomic${inF}`;
      break;
    case 'memory failure': {
      title = scrub(head.replace(/^Memory failure: 0x[0-9a-f]+: /, 'Memory failure: '));
      break;
    }
    case 'page dump':
      title = `page dumped because: ${inp.assertion ?? scrub(head.replace(/^page dumped because:\s*/, ''))}`;
      break;
    default:
      title = scrub(head);
  }
  return { type, title, fatal, guilty: fn, frames: g.frames, file, sourceLine, reason };
}
