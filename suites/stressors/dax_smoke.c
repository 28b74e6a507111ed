// dax_smoke: the first DAX mmap stressor. On a file in a filesystem mounted
// -o dax it maps the file MAP_SHARED at a 2 MiB-aligned address, at an
// address 4 KiB off that alignment, and through MAP_SYNC; writes the per-page
// pattern, reads it back through the mapping and through pread(2), and counts
// page faults to tell PMD mappings (one fault per 2 MiB) from PTE mappings
// (one per 4 KiB).
//
// --expect yes|no|any: whether the aligned mapping must be PMD-mapped
// (default yes). Output and exit codes as in common.h.
#include "common.h"

// Write a generation through a mapping, read it back through the mapping and
// through pread; returns the faults taken by the writes.
static long exercise(const char *label, char *m, size_t len, int fd, uint64_t gen)
{
	long before = faults_self();
	fill(m, len, 0, gen);
	long taken = faults_self() - before;
	long bad = check(m, len, 0, gen);
	CHECK(bad < 0, "%s: mapping readback mismatch at offset %ld", label, bad);
	if (bad < 0) {
		bad = check_file(fd, len, 0, gen);
		CHECK(bad < 0, "%s: file readback mismatch at offset %ld", label, bad);
	}
	return taken;
}

int main(int argc, char **argv)
{
	O.seconds = 0;
	O.size = 8 * PMD;
	parse_args(argc, argv, "file");
	const char *expect_pmd = O.expect ? O.expect : "yes";
	int fd = open(O.file, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fail("open %s: %s", O.file, strerror(errno));
		return finish();
	}
	int err = posix_fallocate(fd, 0, O.size);
	if (err) {
		fail("fallocate: %s", strerror(err));
		return finish();
	}

	size_t skew_len = O.size - PMD;
	uint64_t gen = 0;
	long pmd_faults = 0, pte_faults = 0, sync_faults = 0;
	clock_start();
	do {
		gen++;
		// 1. 2 MiB-aligned shared mapping: expect one fault per 2 MiB.
		char *m = map_shared(fd, O.size, PMD, 0, 0);
		if (m == MAP_FAILED) {
			fail("mmap aligned: %s", strerror(errno));
			break;
		}
		pmd_faults = exercise("aligned", m, O.size, fd, gen * 3);
		munmap(m, O.size);

		// 2. VA skewed by 4 KiB from 2 MiB alignment: a PMD mapping is impossible.
		m = map_shared(fd, skew_len, PMD, PAGE, 0);
		if (m == MAP_FAILED) {
			fail("mmap skewed: %s", strerror(errno));
			break;
		}
		pte_faults = exercise("skewed", m, skew_len, fd, gen * 3 + 1);
		munmap(m, skew_len);

		// 3. MAP_SYNC is only accepted on a DAX file: it proves DAX is really on.
		m = map_at(O.size, PMD, 0, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
		if (m == MAP_FAILED) {
			fail("mmap MAP_SYNC: %s (file is not DAX?)", strerror(errno));
			break;
		}
		sync_faults = exercise("map_sync", m, O.size, fd, gen * 3 + 2);
		munmap(m, O.size);
	} while (!atomic_load(&failed) && keep_going(gen));

	long pmds = O.size / PMD, ptes = skew_len / PAGE;
	kv("generations=%llu", (unsigned long long)gen);
	kv("aligned_faults=%ld pmd_count=%ld", pmd_faults, pmds);
	kv("skewed_faults=%ld pte_count=%ld", pte_faults, ptes);
	kv("map_sync_faults=%ld", sync_faults);
	// A PMD mapping takes one fault per 2 MiB (pattern words touch each page
	// twice, still one fault); allow slack for the process's own faults.
	int got_pmd = pmd_faults <= pmds + 16;
	kv("pmd_mapped=%s", got_pmd ? "yes" : "no");
	CHECK(pte_faults >= ptes / 2, "skewed mapping took %ld faults for %ld pages: PTE faults expected", pte_faults, ptes);
	CHECK(strcmp(expect_pmd, "yes") || got_pmd, "aligned mapping took %ld faults for %ld PMDs: PMD faults expected", pmd_faults, pmds);
	CHECK(strcmp(expect_pmd, "no") || !got_pmd, "aligned mapping took %ld faults: PTE faults expected", pmd_faults);
	close(fd);
	if (unlink(O.file))
		CHECK(0, "unlink: %s", strerror(errno));
	return finish();
}
