// Which stack frame a kernel report blames. Reports are printed from inside
// reporting, sanitizer, allocator and locking machinery; the function a kernel
// developer recognises is the first one that is none of those. The list below
// names those families (matched anywhere in the name, as the families are
// spread over prefixes and suffixes), and each kind of report adds its own
// (see titles.ts). How a report's frames are walked and which one is chosen
// follows the conventions syzbot's titles use, so that our titles and theirs
// name the same function.

const ANYWHERE = [
  // Sanitizers and their reporting paths.
  'kasan', 'kmsan', '__msan', '__asan', 'hwasan', '__sanitizer', 'kcsan_setup_watchpoint', 'check_memory_region',
  'check_heap_object', 'check_object', 'read_word_at_a_time', '(?:read|write)_once_.*nocheck',
  'print_address_description', 'print_report', 'print_usage_bug', 'print_unlock', 'imbalance_bug',
  // Oops, WARN and BUG plumbing, stack printing.
  'panic', 'invalid_op', 'report_bug', 'fixup_bug', 'do_error', '_trap$', 'do_trap', 'show_stack', 'dump_stack',
  'walk_stack', 'dump_backtrace', 'warn_slowpath', 'warn_alloc', 'warn_bogus', '__warn', 'stack_trace_consume_entry',
  'arch_stack_walk', 'stack_trace_save', 'print_tainted', '^get_taint$', 'program_check_exception', 'program_check_common',
  '__might_fault', 'might_fault', 'might_sleep', '__might_resched', 'assertfail', '__fortify_report', 'seqprop_assert',
  // Rust's panic machinery (core::panicking::* is caught by 'panic') and its BUG() helper.
  'rust_begin_unwind', '^rust_helper_BUG$',
  // Page and slab allocation.
  'alloc_page', 'k?v?(?:m|z|c)alloc', 'krealloc', 'kmem_cache', 'allocate_slab', 'slab_', '__alloc_frozen_pages_noprof',
  'folio_(?:alloc|unlock)', 'filemap_alloc_folio', '__filemap_get_folio', 'find_or_create_page', 'do_read_cache_folio',
  'read_cache_page', 'pagecache_get_page', 'grab_cache_page_write_begin', '^kv?free$', 'kfree_skb', '__phys_addr',
  // Object debugging, timers and work items (their users are to blame).
  'debug_object', 'timer_is_static_object', 'work_is_static_object', 'del_timer', 'lock_timer_base',
  '__timer_delete_sync', 'sk_stop_timer_sync', '__mod_timer', 'flush_work', '__cancel_work_timer', 'cancel_work_sync',
  'try_to_grab_pending', 'flush_workqueue', 'drain_workqueue', 'destroy_workqueue', 'queue_work', 'insert_work',
  '__queue_delayed_work', 'queue_delayed_work_on', 'finish_wait', 'kthread_stop', '^complete$', 'wait_for_completion',
  'cleanup_srcu_struct',
  // Locks, atomics and bit operations.
  'lockdep', 'lock_acquire', 'lock_release', 'lock_class', 'mark_lock', '(?:reacquire|mark)_held_locks',
  '(?:trace|lockdep)_(?:hard|soft)irq', 'bh_enable', 'bh_disable', 'perf_trace', 'raw_spin_rq', 'spin_lock',
  'spin_trylock', 'spin_unlock', 'read_lock', 'read_trylock', 'write_lock', 'write_trylock', 'read_unlock', 'write_unlock',
  '^down$', 'down_read', 'down_write', 'down_trylock', 'up_read', 'up_write', '^mutex_', '^__mutex_', '^rt_mutex_',
  'owner_on_cpu', 'osq_lock', 'osq_unlock', 'atomic(?:64)?_(?:dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)',
  '(?:set|clear|change|test)_bit', '__wake_up', '^(?:un)?lock_page',
  // Reference counts.
  '^refcount_', '^kref_', 'ref_tracker', '^put_device$',
  // String, memory and user-copy helpers, printing.
  'memcpy', 'memcmp', 'memset', 'memchr', 'memmove', 'memdup', 'strcmp', 'strncmp', 'strcpy', 'strlcpy', 'strncpy',
  'strscpy', 'strlen', 'strstr', 'strnstr', 'strnlen', 'strchr', 'strdup', 'strndup', 'copy_to_user', 'copy_from_user',
  'copy_to_iter', 'copy_from_iter', 'copy_page_to_iter', 'copy_page_from_iter', 'copy_folio_to_iter', '^copyin$',
  '^copyout$', 'put_user', 'get_user', 'extract_(?:user|iter)_to_sg', 'string', 'pointer', 'snprintf', 'scnprintf',
  'kasprintf', 'kvasprintf', 'printk', 'va_format', 'hex_dump_to_buffer', 'print_hex_dump', 'dev_(?:info|notice|warn|err|alert|crit|emerg)',
  '^crc\\d+', 'crc_itu_t',
  // Containers.
  'list_add', 'list_del', 'list_replace', 'list_move', 'list_splice', '^rb_', '^__rb_', '^klist_', 'rhashtable_lookup',
  'xas_(?:start|load|find)', 'ida_free',
  // Device, kobject and VFS teardown helpers.
  'kobject_', 'add_uevent_var', 'get_device_parent', 'device_add', 'device_del', 'device_unregister', 'device_destroy',
  'device_release', 'devres_release_all', 'device_for_each_child', 'device_remove_file', 'sysfs_remove', 'hwrng_unregister',
  'i2c_del_adapter', '__unregister_client', 'rollback_registered', 'unregister_netdev', 'tty_unregister_device',
  'dummy_urb_enqueue', 'usb_kill_urb', 'usb_kill_anchored_urbs', 'usb_control_msg', 'usb_hcd_submit_urb', 'usb_submit_urb',
  '^iput$', '^iput_final$', '^ihold$', 'drop_nlink', 'dput', 'mark_buffer_dirty', 'find_lock_entries',
  'truncate_inode_pages_range',
  // MMIO accessors and port I/O.
  'readb$', 'readw$', 'readl$', 'readq$', 'writeb$', 'writew$', 'writel$', 'writeq$', 'logic_in', 'logic_out',
  // Retpolines, arm64 fault entry, and arm64's WARN/BUG trap (a BRK instruction), which panic()'s
  // stack walks through when panic_on_warn panics before the registers are shown.
  '_indirect_thunk_', 'do_(?:kernel|translation)_fault', 'do_mem_abort', 'el1_abort', 'el1h_64_sync(?:_handler)?',
  '^(?:bug|brk|early_brk64|reserved_fault)_handler$', '^call_(?:el1_)?break_hook$', '^do_debug_exception$', '^el1_(?:dbg|brk64)$',
];

// Ours, for the DAX and page-refcount paths this harness exists for: the folio
// and page reference helpers, the page-dump and bad-page reporters, the x86
// fault/die path, and fs/dax.c's entry-lock wrappers. Their callers are the
// interesting frame.
const EXACT = [
  'folio_(?:get|put|try_get|put_refs|ref_\\w+|lock)', '__folio_(?:put\\w*|lock)', 'folio_put_testzero', 'folios_put\\w*',
  'put_page\\w*', 'get_page', 'page_ref_\\w+', 'put_page_testzero', 'gup_put_folio', 'free_zone_device_\\w+',
  'dump_page', '__dump_page', '__dump_folio', 'dump_mapping', 'bad_page', 'print_bad_pte', 'print_bad_page_map',
  '__?ubsan_\\w+', '__?kfence_\\w+', 'start_report', 'end_report',
  'die', 'die_\\w+', '__die\\w*', 'oops_\\w+', 'handle_bug', 'exc_invalid_op', 'asm_exc_\\w+', 'exc_page_fault',
  'exc_general_protection', 'do_user_addr_fault', 'do_kern_addr_fault', 'page_fault_oops', 'kernelmode_fixup_or_oops\\w*',
  '__bad_area\\w*', 'bad_area\\w*', 'no_context', 'check_panic_on_warn',
  'dax_(?:read|write)_(?:un)?lock', 'dax_(?:un)?lock_entry', '(?:get|put)_unlocked_entry', 'wait_entry_unlocked',
  'dax_wake_entry', 'dax_direct_access',
];

export const NEVER_GUILTY = new RegExp(`${ANYWHERE.join('|')}|^(?:${EXACT.join('|')})$`);

// Function names repeat across reports and the list is long: remember the verdicts.
const verdicts = new Map<string, boolean>();

/** Whether a frame (function name without clone suffix) is never the one to blame. */
export function neverGuilty(fn: string, extra?: RegExp): boolean {
  let v = verdicts.get(fn);
  if (v === undefined) {
    v = NEVER_GUILTY.test(fn);
    if (verdicts.size >= 100_000) verdicts.clear();
    verdicts.set(fn, v);
  }
  return v || (extra !== undefined && extra.test(fn));
}

// Syscall entry points are named after the syscall by several wrappers; the
// shortest name is the one a developer searches for.
export const SYSCALL_PREFIXES: readonly string[] = [
  'SYSC_', 'SyS_', 'sys_', '__x64_', '__ia32_', '__arm64_', '____sys_', '___sys_', '__sys_', '__se_', '__se_sys_',
  '__do_sys_', 'compat_SYSC_', 'compat_SyS_', 'ksys_',
];

/** The frame name without syscall-wrapper prefixes: `__do_sys_clone` → `clone`, `__x64_sys_ioctl` → `sys_ioctl`. */
export function canonicalFrame(fn: string): string {
  // Every prefix but the arch ones has "sys"/"SyS"/"SYS" in it, and those precede "sys_".
  if (!fn.includes('ys') && !fn.includes('YS')) return fn;
  let best = fn;
  for (const p of SYSCALL_PREFIXES) if (fn.startsWith(p) && fn.length - p.length < best.length) best = fn.slice(p.length);
  return best;
}

// A stalled CPU or task loops somewhere inside a syscall, a work item, a timer
// or a softirq; the frame just above the dispatcher (the syscall, the work
// function) names the stall consistently wherever in the loop it was caught.
const DISPATCHERS = new RegExp(
  [
    'process_one_work', 'do_syscall_', 'do_fast_syscall_', 'sysenter_dispatch', 'tracesys_phase2', 'el0_svc_handler',
    'invoke_syscall', 'ret_fast_syscall', 'netif_receive_skb', 'do_softirq', 'call_timer_fn', '_run_timers',
    'run_timer_softirq', 'hrtimer_run', 'run_ksoftirqd', 'smpboot_thread_fn', '^kthread$', 'start_secondary',
    'cpu_startup_entry', 'ret_from_fork',
    // File, ioctl, mmap and socket operations dispatch further by object type: stop one level above them.
    'vfs_write', 'vfs_read', 'vfs_iter_read', 'vfs_iter_write', 'do_iter_read', 'do_iter_write', 'call_read_iter',
    'call_write_iter', 'new_sync_read', 'new_sync_write', 'vfs_ioctl', 'ksys_ioctl', 'compat_ioctl', 'compat_sys_ioctl',
    'blkdev_driver_ioctl', 'blkdev_ioctl', 'do_iter_readv_writev', '^call_mmap', 'mmap_region', 'do_mmap',
    'do_dentry_open', 'vfs_open', '^sock_sendmsg', '^sock_recvmsg', '^sock_release', '^__sock_release', '^setsockopt$',
    'kernel_setsockopt', 'sock_common_setsockopt', '^listen$', 'kernel_listen', 'sk_common_release', '^sock_mmap',
    '^accept$', 'kernel_accept', '^sock_do_ioctl', '^sock_ioctl', '^compat_sock_ioctl', '^nfnetlink_rcv_msg',
    '^rtnetlink_rcv_msg', '^netlink_dump', '^(?:sys_)?(?:socketpair|connect|ioctl)', '__do_fault', 'do_page_fault',
    '^page_fault$', '__fput', 'task_work_run', 'exit_to_usermode', 'smp_call_function', 'tasklet_action',
    'tasklet_hi_action',
  ].join('|'),
);

/** Index of the frame that names a stall (the one above the first dispatcher), or -1. */
export function stallFrame(frames: readonly string[]): { fn: string; i: number } | null {
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    if (!DISPATCHERS.test(f)) continue;
    if (f.includes('smp_call_function')) return { fn: 'smp_call_function', i };
    return i === 0 ? { fn: f, i } : { fn: frames[i - 1]!, i: i - 1 };
  }
  return null;
}

// A hung task sleeps in scheduler and wait primitives; RCU and rtnl waits are
// grouped, since a stuck grace period or rtnl holder hangs everyone behind it.
const HANG_GROUPS: Array<[string, string]> = [
  ['rtnl_lock', ''],
  ['synchronize_rcu', 'synchronize_rcu'],
  ['synchronize_srcu', 'synchronize_rcu'],
  ['synchronize_net', 'synchronize_rcu'],
  ['synchronize_sched', 'synchronize_rcu'],
];
const SLEEPING = /sched|_lock|_slowlock|down|rwsem|completion|kthread|wait|synchronize|context_switch|__switch_to|cancel_delayed_work|rcu_barrier/;

export function hangFrame(frames: readonly string[]): { fn: string; i: number } | null {
  for (let i = 0; i < frames.length; i++) {
    for (const [needle, group] of HANG_GROUPS) if (frames[i]!.includes(needle)) return { fn: group || frames[i]!, i };
  }
  for (let i = 0; i < frames.length; i++) if (!SLEEPING.test(frames[i]!)) return { fn: frames[i]!, i };
  return null;
}
