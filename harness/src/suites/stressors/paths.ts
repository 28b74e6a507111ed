// Which kernel functions each stressor drives, so a crash's stack can point at
// the tests worth trying (repro). Entries follow the "Kernel paths driven" and
// "Bugs caught" columns of dax-test-spec §1; old and new names of the same step
// (series revisions, renames across kernels) are listed side by side.

/** Functions by stressor name (suites/stressors/manifest.json test names; a test's variants share its entry). */
export const STRESSOR_PATHS: Readonly<Record<string, readonly string[]>> = {
  pmd_pte_mix: [
    'dax_iomap_pmd_fault', 'dax_fault_check_fallback', 'grab_mapping_entry', 'dax_fault_iter', 'dax_insert_entry', 'dax_associate_entry',
    'dax_folio_init', 'vmf_insert_folio_pmd', 'vmf_insert_page_mkwrite', 'dax_insert_pfn_pmd', 'vmf_insert_pfn_pmd', 'split_huge_pmd',
    '__split_huge_pmd', 'dax_iomap_pte_fault', 'get_next_unlocked_entry', 'wait_entry_unlocked',
  ],
  map_sync: [
    'dax_fault_synchronous_pfnp', 'dax_finish_sync_fault', 'dax_insert_pfn_mkwrite', 'vfs_fsync_range', 'dax_unlock_entry',
    'dax_iomap_pte_fault', 'dax_iomap_pmd_fault', 'ext4_dax_huge_fault', '__xfs_filemap_fault',
  ],
  private_cow: ['dax_fault_cow_page', 'copy_cow_page_dax', 'finish_fault', 'wp_page_copy', 'do_cow_fault', 'get_user_pages_remote', 'mem_rw', 'access_remote_vm', 'vm_normal_page', 'print_bad_pte'],
  fork_storm: ['copy_huge_pmd', 'copy_present_pte', 'copy_pte_range', 'copy_page_range', 'dup_mmap', 'zap_huge_pmd', 'zap_pte_range', 'exit_mmap', 'folio_put_testzero', 'check_mm', 'unmap_page_range'],
  odirect_into_dax: [
    'iov_iter_extract_pages', 'iov_iter_get_pages', 'pin_user_pages_fast', 'gup_fast_pmd_leaf', 'gup_huge_pmd', 'gup_fast_pte_range', 'gup_pte_range',
    '__get_user_pages', 'follow_page_mask', 'faultin_page', 'unpin_user_pages', 'unpin_user_page', 'gup_put_folio', 'free_zone_device_folio',
    'bio_release_pages', 'iomap_dio_bio_iter', '__blkdev_direct_IO', 'io_import_iovec',
  ],
  gup_fast_slow_race: [
    'gup_fast_pmd_leaf', 'gup_huge_pmd', 'gup_fast_pte_range', 'gup_pte_range', 'internal_get_user_pages_fast', 'follow_page_mask',
    'process_vm_rw_core', 'process_vm_rw', 'access_remote_vm', 'mem_rw', 'ptrace_access_vm', 'madvise_dontneed_free', 'zap_page_range_single',
  ],
  longterm_pin: ['pin_user_pages_fast', 'folio_is_longterm_pinnable', '__gup_longterm_locked', 'check_vma_flags', 'io_sqe_buffers_register', 'io_sqe_buffer_register', 'io_pin_pages', 'migrate_longterm_unpinnable_pages'],
  pipe_pin: [
    'vmsplice', 'iter_to_pipe', 'ext4_break_layouts', 'xfs_break_dax_layouts', 'xfs_break_layouts', 'dax_break_layout', 'dax_layout_busy_page_range',
    'wait_page_idle', 'ext4_wait_dax_page', 'xfs_wait_dax_page', 'dax_folio_put', 'page_cache_pipe_buf_release', 'pipe_release', 'free_pipe_info',
  ],
  layout_vs_fault: [
    'dax_break_layout', 'dax_delete_mapping_range', 'wait_entry_unlocked_exclusive', 'dax_disassociate_entry', 'dax_folio_put', '__dax_invalidate_entry',
    'dax_iomap_rw', 'invalidate_inode_pages2_range', 'dax_delete_mapping_entry', 'dax_layout_busy_page_range', 'ext4_punch_hole', 'ext4_collapse_range',
    'ext4_insert_range', 'ext4_zero_range', 'xfs_free_file_space', 'xfs_flush_unmap_range', 'truncate_inode_pages_range', 'truncate_folio_batch_exceptionals',
  ],
  reflink_share: [
    'dax_folio_make_shared', 'dax_page_share_get', 'dax_page_share_put', 'dax_iomap_copy_around', 'dax_unshare_iter', 'dax_file_unshare',
    '__dax_clear_dirty_range', 'dax_dedupe_file_range_compare', 'dax_remap_file_range_prep', 'xfs_reflink_remap_prep', 'xfs_reflink_unshare',
    'xfs_reflink_end_cow', 'dax_associate_entry', 'dax_disassociate_entry', 'dax_folio_put',
  ],
  vma_ops: [
    'move_huge_pmd', 'move_page_tables', 'mremap_to', '__split_huge_pmd_locked', '__split_huge_pmd', 'zap_huge_pmd', 'madvise_dontneed_free',
    'madvise_populate', 'madvise_cold_or_pageout_pte_range', 'check_mm', 'zap_page_range_single',
  ],
  hwpoison: [
    'madvise_inject_error', 'memory_failure', 'memory_failure_dev_pagemap', 'dax_holder_notify_failure', 'xfs_dax_notify_failure', 'mf_dax_kill_procs',
    'mf_generic_kill_procs', 'dax_lock_folio', 'dax_lock_page', 'dax_lock_mapping_entry', 'collect_procs_fsdax', 'kill_procs', 'put_ref_page', 'dax_recovery_write',
  ],
  teardown: [
    'dax_break_layout_final', 'kill_dev_dax', 'unregister_dev_dax', 'memunmap_pages', 'devm_memremap_pages_release', 'percpu_ref_kill', 'dev_dax_release',
    'ext4_evict_inode', 'xfs_fs_destroy_inode', 'evict', 'generic_shutdown_super', 'dax_alive',
  ],
  holes_zero: ['dax_load_hole', 'dax_pmd_load_hole', 'mm_get_huge_zero_folio', 'mm_get_huge_zero_page', 'set_pmd_at', 'grab_mapping_entry', 'unmap_mapping_pages', 'dax_insert_entry'],
  devdax_matrix: [
    'dev_dax_huge_fault', 'dev_dax_fault', '__dev_dax_pte_fault', '__dev_dax_pmd_fault', '__dev_dax_pud_fault', 'dax_set_mapping', 'vmf_insert_page_mkwrite',
    'vmf_insert_folio_pmd', 'vmf_insert_folio_pud', 'vmf_insert_pfn_pud', 'check_vma', 'dax_pgoff_to_phys',
  ],
};

/** A stressor's functions; a manifest variant (pipe_pin_unmapped) shares its program's entry. */
export function stressorPaths(name: string, binary: string): readonly string[] {
  return STRESSOR_PATHS[name] ?? STRESSOR_PATHS[binary] ?? [];
}
