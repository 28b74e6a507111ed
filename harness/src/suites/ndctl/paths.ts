// Which kernel functions each of ndctl's dax tests drives (what each test does,
// ndctl-dax-suite.md), the target it runs on, and the programs it runs (a
// crash report's Comm:), so repro can point a crash at the tests worth trying.
// Old and new names of the same step are listed side by side.
import { STRESSOR_PATHS } from '../stressors/paths.ts';
import type { DaxFs } from '../fsdax.ts';

/** ndctl's dax suite: test → functions its programs drive. */
export const NDCTL_PATHS: Readonly<Record<string, readonly string[]>> = {
  'dax-ext4.sh': [...STRESSOR_PATHS.pmd_pte_mix!, ...STRESSOR_PATHS.map_sync!, 'iov_iter_extract_pages', 'gup_fast_pmd_leaf', 'ext4_dax_huge_fault'],
  'dax-xfs.sh': [...STRESSOR_PATHS.pmd_pte_mix!, ...STRESSOR_PATHS.map_sync!, 'iov_iter_extract_pages', 'gup_fast_pmd_leaf', '__xfs_filemap_fault', 'xfs_dax_fault_locked'],
  'mmap.sh': ['dax_iomap_pte_fault', 'dax_iomap_pmd_fault', 'dax_fault_iter', 'dax_load_hole', 'dax_fault_cow_page', 'wp_page_copy', 'dax_insert_pfn_mkwrite'],
  'device-dax': [...STRESSOR_PATHS.devdax_matrix!, 'memory_failure_dev_pagemap'],
  'device-dax-fio.sh': ['dev_dax_huge_fault', '__dev_dax_pmd_fault', '__dev_dax_pte_fault'],
  'daxdev-errors.sh': ['memory_failure', 'memory_failure_dev_pagemap', 'dax_recovery_write', 'dev_dax_huge_fault'],
  'dax-dev': ['dev_dax_huge_fault', 'devm_memremap_pages', 'memremap_pages'],
  'multi-dax.sh': ['devm_create_dev_dax', 'devm_memremap_pages', 'memremap_pages', 'unregister_dev_dax'],
  'sub-section.sh': ['devm_memremap_pages', 'memremap_pages', 'memunmap_pages', 'section_activate', 'section_deactivate'],
  'dm.sh': ['dm_dax_direct_access', 'linear_dax_direct_access', 'dax_iomap_pmd_fault'],
  'revoke-devmem': ['devmem_is_allowed', 'revoke_iomem', 'iomem_is_exclusive'],
  'daxctl-devices.sh': ['dev_dax_kmem_probe', 'add_memory_driver_managed', 'online_pages', 'offline_pages'],
  'daxctl-create.sh': ['alloc_dev_dax_range', 'dev_dax_resize', 'devm_create_dev_dax', 'hmem_register_device'],
};

/** ndctl's dax tests and the target each one runs on, for matching a report's filesystem or mode. */
export const NDCTL_TARGET: Readonly<Record<string, { fs?: DaxFs; mode: 'fsdax' | 'devdax' | 'both' }>> = {
  'dax-ext4.sh': { fs: 'ext4', mode: 'fsdax' },
  'dax-xfs.sh': { fs: 'xfs', mode: 'fsdax' },
  'mmap.sh': { mode: 'fsdax' },
  'dm.sh': { mode: 'fsdax' },
  'device-dax': { mode: 'devdax' },
  'device-dax-fio.sh': { mode: 'devdax' },
  'daxdev-errors.sh': { mode: 'devdax' },
  'dax-dev': { mode: 'devdax' },
  'multi-dax.sh': { mode: 'devdax' },
  'sub-section.sh': { mode: 'both' },
  'revoke-devmem': { mode: 'both' },
  'daxctl-devices.sh': { mode: 'devdax' },
  'daxctl-create.sh': { mode: 'devdax' },
};

export const NDCTL_TESTS: readonly string[] = Object.keys(NDCTL_PATHS);

/**
 * Programs (a report's Comm:) that ndctl's tests run. dax-pmd is dax.sh's
 * program, which dax-ext4.sh and dax-xfs.sh call (older ndctl ran it from one
 * dax.sh), and device-dax runs its checks too.
 */
export const NDCTL_PROGRAMS: Readonly<Record<string, readonly string[]>> = {
  'dax-pmd': ['dax-ext4.sh', 'dax-xfs.sh', 'device-dax'],
  'dax.sh': ['dax-ext4.sh', 'dax-xfs.sh'],
  'dax-dev': ['dax-dev'],
  'dax-poison': ['device-dax'],
  'device-dax': ['device-dax'],
  mmap: ['mmap.sh'],
  fio: ['device-dax-fio.sh'],
  'daxdev-errors': ['daxdev-errors.sh'],
  'revoke_devmem': ['revoke-devmem'],
};
