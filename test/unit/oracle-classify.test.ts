import t from 'tap';
import { chooseGuilty, isSkipped, normaliseFile, scrub } from '../../harness/src/oracle/classify.js';
import { dedupKey, matchKey, framesMatch, aliasFrame } from '../../harness/src/oracle/keys.js';
import { matchStart } from '../../harness/src/oracle/patterns.js';
import { parseFrame } from '../../harness/src/oracle/stack.js';
import { parseLog } from '../../harness/src/oracle/index.js';

const fr = (s: string) => parseFrame(s)!;

t.test('skip list', async (t) => {
  for (const fn of ['die', 'do_trap', 'exc_invalid_op', 'asm_exc_page_fault', 'refcount_warn_saturate', 'folio_get', 'folio_ref_inc', '__folio_put', 'put_page', 'gup_put_folio', 'free_zone_device_folio', 'dump_page', '__dump_folio', 'bad_page', 'print_bad_pte', '_raw_spin_lock', 'kasan_report', '__ubsan_handle_shift_out_of_bounds', 'memcpy_orig', 'copy_from_user', '__warn', 'report_bug', 'handle_bug', 'dump_stack_lvl', 'panic', 'list_del'])
    t.ok(isSkipped(fn), fn);
  for (const fn of ['dax_insert_pfn_pmd', 'dax_fault_iter', 'vmf_insert_folio_pmd', 'zap_huge_pmd', 'dax_folio_put', 'xfs_ilock', 'folio_mapping'])
    t.notOk(isSkipped(fn), fn);
});

t.test('guilty frame choice', async (t) => {
  t.equal(chooseGuilty(fr('dax_insert_pfn_pmd+0x41c/0x430'), [fr('dax_fault_iter+0x1/0x2')]).fn, 'dax_insert_pfn_pmd', 'RIP first');
  t.equal(chooseGuilty(fr('refcount_warn_saturate+0x1/0x2'), [fr('? __warn+0x1/0x2'), fr('? zzz+0x1/0x2'), fr('gup_put_folio+0x1/0x2'), fr('unpin_user_pages+0x1/0x2')]).fn, 'unpin_user_pages', 'skips helpers and ? frames');
  t.equal(chooseGuilty(null, [fr('do_syscall_64+0x1/0x2'), fr('entry_SYSCALL_64_after_hwframe+0x1/0x2')]).fn, 'do_syscall_64', 'last resort');
  t.equal(chooseGuilty(null, []).fn, null);
  t.same(chooseGuilty(fr('a.isra.0+0x1/0x2'), [fr('a+0x3/0x9'), fr('b+0x1/0x2'), fr('c+0x1/0x2'), fr('d+0x1/0x2'), fr('e+0x1/0x2')]).frames, ['a', 'b', 'c', 'd']);
});

t.test('normalisation', async (t) => {
  t.equal(normaliseFile('/build/linux-6.6/fs/dax.c'), 'fs/dax.c');
  t.equal(normaliseFile('include/linux/mm.h'), 'include/linux/mm.h');
  t.equal(normaliseFile('./fs/dax.c'), 'fs/dax.c');
  t.equal(scrub('Memory failure: 0x17c000: recovery action for dax page: Failed'), 'Memory failure: recovery action for dax page: Failed');
});

t.test('start patterns', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['kernel BUG at fs/dax.c:1!', 'BUG'],
    ['BUG: KASAN: use-after-free in f+0x1/0x2', 'KASAN'],
    ['BUG: KFENCE: out-of-bounds read in f+0x1/0x2', 'KFENCE'],
    ['BUG: Bad page state in process a  pfn:1', 'bad page state'],
    ['BUG: Bad page map in process a  pte:1 pmd:2', 'bad page map'],
    ['BUG: Bad rss-counter state mm:000000 type:MM_FILEPAGES val:-512 Comm:a Pid:1', 'bad rss-counter'],
    ['watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [a:1]', 'soft lockup'],
    ['BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!', 'workqueue lockup'],
    ['BUG: sleeping function called from invalid context at mm/gup.c:1', 'sleeping in atomic'],
    ['BUG: scheduling while atomic: a/1/0x00000002', 'scheduling while atomic'],
    ['BUG: kernel NULL pointer dereference, address: 0000000000000008', 'Oops'],
    ['BUG: unable to handle page fault for address: ffffea0040000008', 'Oops'],
    ['WARNING: possible circular locking dependency detected', 'lockdep'],
    ['WARNING: suspicious RCU usage', 'lockdep'],
    ['WARNING: CPU: 1 PID: 1 at fs/dax.c:1 f+0x1/0x2', 'WARNING'],
    ['WARNING: fs/dax.c:1 at f+0x1/0x2, CPU#0: a/1', 'WARNING'],
    ['general protection fault, probably for non-canonical address 0xdffffc0000000003: 0000 [#1] SMP KASAN', 'GPF'],
    ['Oops: general protection fault, probably for non-canonical address 0x1: 0000 [#1]', 'GPF'],
    ['invalid opcode: 0000 [#1] PREEMPT SMP PTI', 'invalid opcode'],
    ['Kernel panic - not syncing: Fatal exception', 'panic'],
    ['UBSAN: array-index-out-of-bounds in fs/dax.c:1:2', 'UBSAN'],
    ['refcount_t: underflow; use-after-free.', 'refcount_t'],
    ['refcount_t: saturated; leaking memory.', 'refcount_t'],
    ['list_add corruption. prev is NULL.', 'list corruption'],
    ['INFO: task umount:1 blocked for more than 120 seconds.', 'hung task'],
    ['rcu: INFO: rcu_preempt self-detected stall on CPU', 'RCU stall'],
    ['INFO: rcu_sched detected stalls on CPUs/tasks:', 'RCU stall'],
    ['Memory failure: 0x17c000: recovery action for dax page: Failed', 'memory failure'],
    ['Memory failure: 0x17c000: recovery action for dax page: Recovered', null],
    ['INFO: lockdep is turned off.', null],
    ['Spectre V2 : WARNING: Unprivileged eBPF', null],
    ['Oops, retrying', null],
    ['BUGGY device found', null],
  ];
  for (const [line, type] of cases) t.equal(matchStart(line), type, line);
});

t.test('keys', async (t) => {
  const k = { type: 'BUG', title: 'kernel BUG in dax_insert_pfn_pmd', reason: 'folio_ref_zero_or_close_to_overflow', file: 'include/linux/mm.h', frames: ['dax_insert_pfn_pmd', 'dax_fault_iter', 'dax_iomap_pmd_fault', 'ext4_dax_huge_fault', 'x'] };
  t.equal(dedupKey(k), 'kernel BUG in dax_insert_pfn_pmd|folio_ref_zero_or_close_to_overflow|dax_insert_pfn_pmd,dax_fault_iter,dax_iomap_pmd_fault,ext4_dax_huge_fault');
  const merged = { ...k, title: 'kernel BUG in vmf_insert_folio_pmd', frames: ['vmf_insert_folio_pmd', 'dax_fault_iter', 'dax_iomap_pmd_fault', 'xfs_dax_fault'] };
  t.equal(matchKey(k), matchKey(merged), 'aliases make revisions match');
  t.not(dedupKey(k), dedupKey(merged));
  t.equal(aliasFrame('dax_insert_pfn_mkwrite'), aliasFrame('dax_fault_iter'));
  t.ok(framesMatch(['dax_iomap_pmd_fault', 'dax_insert_pfn_pmd'], ['vmf_insert_folio_pmd', 'dax_iomap_pmd_fault']));
  t.notOk(framesMatch(['dax_iomap_pmd_fault', 'dax_insert_pfn_pmd'], ['dax_iomap_pte_fault', 'vmf_insert_page_mkwrite']));
});

t.test('dedup key ignores addresses, boots and line numbers', async (t) => {
  const mk = (line: number, pid: number, off: string, ts: string) =>
    [
      `[${ts}] ------------[ cut here ]------------`,
      `[${ts}] WARNING: CPU: 1 PID: ${pid} at fs/dax.c:${line} dax_folio_put+0x${off}/0x1e0`,
      `[${ts}] CPU: 1 PID: ${pid} Comm: t Not tainted 6.15.0 #1`,
      `[${ts}] RIP: 0010:dax_folio_put+0x${off}/0x1e0`,
      `[${ts}] RBX: ffffea000${pid}f08000`,
      `[${ts}] Call Trace:`,
      `[${ts}]  <TASK>`,
      `[${ts}]  dax_disassociate_entry+0x73/0xb0`,
      `[${ts}]  __dax_invalidate_entry+0x91/0x130`,
      `[${ts}]  </TASK>`,
      `[${ts}] ---[ end trace 0000000000000000 ]---`,
    ].join('\n');
  const a = parseLog(mk(395, 100, '1b2', '  10.000000'))[0]!;
  const b = parseLog(mk(402, 2233, '1c8', '9999.123456'))[0]!;
  t.equal(a.dedupKey, b.dedupKey);
  t.equal(a.matchKey, b.matchKey);
  t.not(a.sourceLine, b.sourceLine);
});
