// The title rules in isolation: normalisation, the frames that are never to
// blame, the stall and hang rules, syscall prefixes, and keys that let one bug
// match across report kinds through the alternative titles.
import t from 'tap';
import { normaliseTitle, titleReport } from '../../harness/src/oracle/titles.js';
import { canonicalFrame, hangFrame, neverGuilty, stallFrame } from '../../harness/src/oracle/guilty.js';
import { matchKey, sameCrash } from '../../harness/src/oracle/keys.js';
import { parseLog } from '../../harness/src/oracle/index.js';

t.test('titles are normalised the way syzbot shows them', async (t) => {
  t.equal(normaliseTitle('kernel BUG at fs/dax.c:1419'), 'kernel BUG at fs/dax.c:LINE');
  t.equal(normaliseTitle('BUG: soft lockup - CPU#3 stuck for 22s!'), 'BUG: soft lockup - CPU stuck for 22s!', 'a number glued to a word stays');
  t.equal(normaliseTitle('kernel panic: VFS: Unable to mount root fs on unknown-block(0,0)'), 'kernel panic: VFS: Unable to mount root fs on unknown-block(NUM,NUM)');
  t.equal(normaliseTitle('WARNING in dax_folio_put+0x1b2/0x1e0'), 'WARNING in dax_folio_put');
  t.equal(normaliseTitle('page at ffffea0004290000 is bad'), 'page at ADDR is bad');
  t.equal(normaliseTitle('x\tand\u0007 y   z'), 'x and y z', 'tabs to blanks, control characters dropped, blanks collapsed');
  t.equal(normaliseTitle('a'.repeat(200)).length, 120);
});

t.test('never-guilty frames', async (t) => {
  for (const fn of ['print_address_description', 'fortify_panic', 'skb_panic', '__x86_indirect_thunk_rax', 'kasan_report', '__kmalloc', 'kmem_cache_alloc_trace', '_raw_spin_lock_irqsave', 'mutex_lock_nested', 'lock_acquire', 'refcount_warn_saturate', 'memcpy_orig', '_copy_to_user', 'dump_stack_lvl', '__warn', 'folio_put', 'page_ref_dec_and_test', 'dax_unlock_entry', '__ubsan_handle_shift_out_of_bounds'])
    t.ok(neverGuilty(fn), fn);
  for (const fn of ['dax_insert_pfn_pmd', 'dax_iomap_rw', 'xfs_ilock', 'zap_huge_pmd', 'dax_folio_put', 'folio_mapping', 'dax_lock_folio'])
    t.notOk(neverGuilty(fn), fn);
  t.ok(neverGuilty('debug_print_object', /debug_/), 'a kind adds its own');
});

t.test('syscall wrappers name the syscall', async (t) => {
  t.equal(canonicalFrame('__do_sys_clone'), 'clone');
  t.equal(canonicalFrame('__x64_sys_ioctl'), 'sys_ioctl');
  t.equal(canonicalFrame('ksys_write'), 'write');
  t.equal(canonicalFrame('__se_sys_fallocate'), 'fallocate');
  t.equal(canonicalFrame('dax_iomap_rw'), 'dax_iomap_rw');
});

t.test('a stall is named by the frame above its dispatcher', async (t) => {
  t.same(stallFrame(['copy_huge_pmd', 'copy_page_range', 'clone', 'do_syscall_64']), { fn: 'clone', i: 2 });
  t.same(stallFrame(['census_walk_pfn', 'census_work', 'process_one_work', 'worker_thread']), { fn: 'census_work', i: 1 });
  t.same(stallFrame(['csd_lock_wait', 'smp_call_function_many_cond', 'on_each_cpu_cond_mask']), { fn: 'smp_call_function', i: 1 });
  t.equal(stallFrame(['a', 'b']), null, 'no dispatcher: no name');
});

t.test('a hang is named by the first frame that is not waiting, RCU and rtnl waits grouped', async (t) => {
  t.equal(hangFrame(['__schedule', 'schedule', '___wait_var_event', 'dax_break_layout_final', 'ext4_evict_inode'])?.fn, 'dax_break_layout_final');
  t.equal(hangFrame(['__schedule', 'schedule', '__wait_rcu_gp', 'synchronize_rcu_expedited', 'kill_dev_dax'])?.fn, 'synchronize_rcu');
  t.equal(hangFrame(['__schedule', 'rtnl_lock', 'dev_ioctl'])?.fn, 'rtnl_lock');
  t.equal(hangFrame(['__schedule', 'schedule', 'rwsem_down_read_slowpath']), null);
});

t.test('each kind keeps its own title format', async (t) => {
  const title = (lines: string[]) => titleReport(lines)?.title;
  t.equal(title(['BUG: kernel NULL pointer dereference, address: 0000000000000008', 'RIP: 0010:f+0x1/0x2', 'Call Trace:', 'g+0x1/0x2']), 'BUG: unable to handle kernel NULL pointer dereference in f', 'the newer NULL line gets the old title');
  t.equal(title(['Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b']), 'kernel panic: Attempted to kill init!', 'exitcode dropped');
  t.equal(title(['unregister_netdevice: waiting for lo to become free. Usage count = 2']), 'unregister_netdevice: waiting for DEV to become free');
  t.equal(title(['BUG: KCSAN: data-race in a / b']), 'KCSAN: data-race in a / b');
  t.equal(title(['WARNING: CPU: 0 PID: 1 at fs/dax.c:1 f+0x1/0x2']), 'WARNING in corrupted', 'a WARNING without its registers or stack');
  t.equal(titleReport(['WARNING: CPU: 0 PID: 1 at fs/dax.c:1 f+0x1/0x2'])?.corrupted, true);
  t.equal(title(['WARNING: workqueue cpumask: online intersect > possible intersect']), undefined, 'a benign boot line is no oops line');
});

t.test('alternative titles make one bug of two kinds, and the match key follows them', async (t) => {
  const soft = parseLog(
    [
      '[ 1.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [t:1]',
      '[ 1.0] RIP: 0010:dax_layout_busy_page_range+0x1/0x2',
      '[ 1.0] Call Trace:',
      '[ 1.0]  <TASK>',
      '[ 1.0]  xfs_break_dax_layouts+0x1/0x2',
      '[ 1.0]  __x64_sys_fallocate+0x1/0x2',
      '[ 1.0]  do_syscall_64+0x1/0x2',
      '[ 1.0]  </TASK>',
    ].join('\n'),
  )[0]!;
  const rcu = parseLog(
    [
      '[ 2.0] rcu: INFO: rcu_preempt self-detected stall on CPU',
      '[ 2.0] Call Trace:',
      '[ 2.0]  <IRQ>',
      '[ 2.0]  sysvec_apic_timer_interrupt+0x1/0x2',
      '[ 2.0]  </IRQ>',
      '[ 2.0]  <TASK>',
      '[ 2.0]  asm_sysvec_apic_timer_interrupt+0x1/0x2',
      '[ 2.0] RIP: 0010:xfs_break_dax_layouts+0x1/0x2',
      '[ 2.0]  xfs_break_layouts+0x1/0x2',
      '[ 2.0]  __x64_sys_fallocate+0x1/0x2',
      '[ 2.0]  do_syscall_64+0x1/0x2',
      '[ 2.0]  </TASK>',
    ].join('\n'),
  )[0]!;
  t.equal(soft.title, 'BUG: soft lockup in sys_fallocate');
  t.equal(rcu.title, 'INFO: rcu detected stall in sys_fallocate');
  t.ok(sameCrash(soft, rcu), 'both are "stall in sys_fallocate"');
  t.equal(soft.matchKey, rcu.matchKey);
  t.equal(soft.matchKey, 'stall|||sys_fallocate');

  const kasan = { title: 'KASAN: use-after-free Write in dax_lock_folio', altTitles: ['bad-access in dax_lock_folio'] };
  const gpf = { title: 'general protection fault in dax_lock_folio', altTitles: ['bad-access in dax_lock_folio'] };
  t.ok(sameCrash(kasan, gpf));
  t.equal(matchKey({ type: 'KASAN', reason: '', file: null, frames: ['dax_lock_folio'], ...kasan }), matchKey({ type: 'GPF', reason: '', file: null, frames: ['dax_lock_folio', 'x'], ...gpf }));
  t.notOk(sameCrash(kasan, { title: 'general protection fault in dax_insert_entry', altTitles: ['bad-access in dax_insert_entry'] }));
  t.ok(sameCrash({ title: 'kernel BUG in dax_insert_pfn_pmd' }, { title: 'kernel BUG in vmf_insert_folio_pmd' }), 'through the DAX renames');
  t.notOk(sameCrash({ title: 'WARNING in dax_folio_put' }, { title: 'WARNING in dax_folio_init' }));
});
