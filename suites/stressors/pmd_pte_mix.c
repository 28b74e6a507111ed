// S1 pmd_pte_mix: threads fault the same 2 MiB ranges of a DAX file through a
// 2 MiB-aligned mapping (PMD faults: read the PMD's first byte, then write)
// and through a 4 KiB-skewed mapping of the same file (PTE faults), so the
// mapping's xarray sees PMD and PTE entries for one range at once. Each
// thread owns the pages with (page index % threads == id), so every page has
// exactly one writer and its content is checkable. Fallback variants run in
// the same rounds: a 1 MiB VMA (too small for a PMD) and a file whose EOF
// falls inside its last PMD. Zapping (MADV_DONTNEED) between rounds makes
// every round fault again.
#include "common.h"

static int fd, fd_eof;
static char *aligned, *skewed, *small, *eofmap;
static size_t eof_len = PMD + PMD / 2;

static void *worker(void *a)
{
	struct worker *w = a;
	uint64_t rs = O.seed * 977 + w->id;
	size_t pages = O.size / PAGE;
	// A fixed batch per call; main() interleaves the fallback cases between batches.
	for (int k = 0; k < 8 && !atomic_load(&failed); k++) {
		uint64_t gen = (w->rounds + 1) * 64 + w->id;
		size_t pmd = (rnd(&rs) % (O.size / PMD)) * PMD;
		// Odd threads use PTE-granular access through the skewed mapping
		// (which covers file offsets [PAGE, size)); even ones go through the
		// aligned mapping, PMD-first.
		int pte = w->id & 1;
		if (!pte)
			(void)*(volatile char *)(aligned + pmd);
		for (size_t pg = pmd / PAGE; pg < pmd / PAGE + PMD / PAGE && pg < pages; pg++) {
			if (pg % O.threads != (size_t)w->id)
				continue;
			size_t off = pg * PAGE;
			char *p = pte ? (off >= PAGE ? skewed + off - PAGE : aligned) : aligned + off;
			fill(p, PAGE, off, gen);
		}
		for (size_t pg = pmd / PAGE; pg < pmd / PAGE + PMD / PAGE; pg++) {
			if (pg % O.threads != (size_t)w->id)
				continue;
			size_t off = pg * PAGE;
			// Read back through the other mapping than the one written.
			char *p = pte || off < PAGE ? aligned + off : skewed + off - PAGE;
			if (check(p, PAGE, off, gen) >= 0) {
				fail("thread %d: page at file offset %zu lost its write (gen %llu, %s write)", w->id, off,
				     (unsigned long long)gen, pte ? "PTE" : "PMD");
				return NULL;
			}
		}
		// Now and then drop this PMD's mappings so the next round faults
		// again and the PMD/PTE entry conflict is rebuilt.
		if (rnd(&rs) % 4 == 0)
			madvise(aligned + pmd, PMD, MADV_DONTNEED);
		w->rounds++;
	}
	return NULL;
}

// Fallback cases, run single-threaded each round: VMA smaller than a PMD,
// and a mapping whose last PMD is cut by EOF. Both must still hold data.
static void fallbacks(uint64_t gen)
{
	fill(small, PMD / 2, PMD, gen);
	if (check_file(fd, PMD / 2, PMD, gen) >= 0)
		fail("small VMA: write not visible through pread");
	fill(eofmap, eof_len, 0, gen);
	if (check_file(fd_eof, eof_len, 0, gen) >= 0)
		fail("EOF-in-PMD mapping: write not visible through pread");
	// The page past EOF inside the mapping's last PMD must SIGBUS.
	uint64_t v;
	int code = guarded_read((volatile uint64_t *)(eofmap + eof_len), &v);
	if (!code)
		fail("read past EOF at %zu did not SIGBUS", eof_len);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	sigbus_install();
	if ((fd = open_file(O.file, O.size, 1)) < 0 || (fd_eof = open_file(sibling("eof"), eof_len, 1)) < 0)
		return finish();
	int ext_aligned;
	fiemap_phys(fd, 0, 0, &ext_aligned);
	kv("extents_pmd_aligned=%s", ext_aligned < 0 ? "unknown" : ext_aligned ? "yes" : "no");
	aligned = map_shared(fd, O.size, PMD, 0, 0);
	skewed = map_shared(fd, O.size - PAGE, PMD, PAGE, PAGE);
	small = map_shared(fd, PMD / 2, PMD, 0, PMD);
	// Map two PMDs of a 1.5-PMD file: the tail beyond EOF is there to SIGBUS.
	eofmap = map_shared(fd_eof, 2 * PMD, PMD, 0, 0);
	if (aligned == MAP_FAILED || skewed == MAP_FAILED || small == MAP_FAILED || eofmap == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return finish();
	}
	// First touch of the aligned mapping, alone: the fault count says whether
	// the kernel gave us PMDs (expected with aligned extents).
	const char *lvl = fault_level(aligned, O.size);
	kv("aligned_mapping=%s", lvl);
	if (O.expect && !strcmp(O.expect, "pmd") && strcmp(lvl, "pmd"))
		fail("aligned mapping was faulted at %s level, PMD expected", lvl);
	madvise(aligned, O.size, MADV_DONTNEED);

	clock_start();
	struct worker w[64] = { 0 };
	uint64_t rounds = 0;
	while (keep_going(rounds)) {
		run_threads(O.threads, worker, w, NULL);
		fallbacks(rounds + 1000);
		rounds++;
	}
	uint64_t total = 0;
	for (int i = 0; i < O.threads; i++)
		total += w[i].rounds;
	kv("rounds=%llu thread_rounds=%llu", (unsigned long long)rounds, (unsigned long long)total);
	munmap(aligned, O.size);
	munmap(skewed, O.size - PAGE);
	munmap(small, PMD / 2);
	munmap(eofmap, 2 * PMD);
	close(fd);
	close(fd_eof);
	unlink(sibling("eof"));
	unlink(O.file);
	return finish();
}
