// dax_smoke: the first DAX mmap stressor. On a file in a filesystem mounted
// -o dax it maps the file MAP_SHARED at a 2 MiB-aligned address and at an
// address 4 KiB off that alignment, and through MAP_SYNC, writes a per-page
// pattern (file offset + generation + seed), reads it back through the
// mapping and through pread(2), and counts page faults to tell PMD mappings
// (one fault per 2 MiB) from PTE mappings (one per 4 KiB).
//
// Output: one "key=value" line per measurement, last line "result=ok" or
// "result=fail reason=...". Exit 0 only if every check held.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

#define PAGE 4096UL
#define PMD (2UL << 20)

static int failed;

static void fail(const char *fmt, ...)
{
	va_list ap;
	if (failed++)
		return; // the first failure is the one worth reading
	printf("result=fail reason=");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static long faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	// First-touch DAX faults are accounted as major faults.
	return ru.ru_minflt + ru.ru_majflt;
}

static uint64_t pattern(uint64_t off, uint64_t gen, uint64_t seed)
{
	uint64_t x = off ^ (gen << 48) ^ (seed * 0x9e3779b97f4a7c15ULL);
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 29);
}

// Reserve a larger anonymous region and carve an aligned window out of it, so
// the file mapping lands at a known alignment (plus skew).
static void *map_at(size_t len, unsigned long align, unsigned long skew, int flags, int fd)
{
	size_t span = len + align + skew;
	char *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return MAP_FAILED;
	uintptr_t a = ((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1);
	void *want = (void *)(a + skew);
	void *m = mmap(want, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		munmap(r, span);
		errno = e;
	}
	return m;
}

// Write a generation of the pattern through a mapping, read it back through
// the mapping and through pread; returns the faults taken by the writes.
static long exercise(const char *label, char *m, size_t len, int fd, uint64_t gen, uint64_t seed)
{
	long before = faults();
	for (size_t off = 0; off < len; off += PAGE)
		*(volatile uint64_t *)(m + off) = pattern(off, gen, seed);
	long taken = faults() - before;
	for (size_t off = 0; off < len; off += PAGE) {
		uint64_t got = *(volatile uint64_t *)(m + off);
		if (got != pattern(off, gen, seed)) {
			fail("%s: mapping readback mismatch at offset %zu", label, off);
			return taken;
		}
	}
	for (size_t off = 0; off < len; off += PAGE) {
		uint64_t got;
		if (pread(fd, &got, sizeof(got), off) != sizeof(got)) {
			fail("%s: pread at %zu: %s", label, off, strerror(errno));
			return taken;
		}
		if (got != pattern(off, gen, seed)) {
			fail("%s: file readback mismatch at offset %zu", label, off);
			return taken;
		}
	}
	return taken;
}

static void usage(void)
{
	fprintf(stderr, "usage: dax_smoke --file PATH [--size-mib N] [--seconds S] [--seed N] [--expect-pmd yes|no|any]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	size_t size = 8 * PMD;
	double seconds = 0;
	uint64_t seed = 1;
	const char *expect_pmd = "yes";
	static struct option opts[] = {
		{ "file", required_argument, 0, 'f' },
		{ "size-mib", required_argument, 0, 'z' },
		{ "seconds", required_argument, 0, 's' },
		{ "seed", required_argument, 0, 'r' },
		{ "expect-pmd", required_argument, 0, 'p' },
		{ 0, 0, 0, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': path = optarg; break;
		case 'z': size = strtoul(optarg, NULL, 0) << 20; break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'r': seed = strtoull(optarg, NULL, 0); break;
		case 'p': expect_pmd = optarg; break;
		default: usage();
		}
	}
	if (!path || size < 2 * PMD || size % PMD)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("file=%s size=%zu seed=%llu\n", path, size, (unsigned long long)seed);

	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fail("open %s: %s", path, strerror(errno));
		return 1;
	}
	int err = posix_fallocate(fd, 0, size);
	if (err) {
		fail("fallocate: %s", strerror(err));
		return 1;
	}

	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t gen = 0;
	long pmd_faults = 0, pte_faults = 0, sync_faults = 0;
	do {
		gen++;
		// 1. 2 MiB-aligned shared mapping: expect one fault per 2 MiB.
		char *m = map_at(size, PMD, 0, MAP_SHARED, fd);
		if (m == MAP_FAILED) {
			fail("mmap aligned: %s", strerror(errno));
			break;
		}
		pmd_faults = exercise("aligned", m, size, fd, gen, seed);
		munmap(m, size);

		// 2. VA skewed by 4 KiB from 2 MiB alignment: PMD mapping is impossible.
		size_t skew_len = size - PMD;
		m = map_at(skew_len, PMD, PAGE, MAP_SHARED, fd);
		if (m == MAP_FAILED) {
			fail("mmap skewed: %s", strerror(errno));
			break;
		}
		pte_faults = exercise("skewed", m, skew_len, fd, gen + 1000, seed);
		munmap(m, skew_len);

		// 3. MAP_SYNC is only accepted on a DAX file: it proves DAX is really on.
		m = map_at(size, PMD, 0, MAP_SHARED_VALIDATE | MAP_SYNC, fd);
		if (m == MAP_FAILED) {
			fail("mmap MAP_SYNC: %s (file is not DAX?)", strerror(errno));
			break;
		}
		sync_faults = exercise("map_sync", m, size, fd, gen + 2000, seed);
		munmap(m, size);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (!failed && (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 < seconds);

	long pmds = size / PMD, ptes = (size - PMD) / PAGE;
	printf("generations=%llu\n", (unsigned long long)gen);
	printf("aligned_faults=%ld pmd_count=%ld\n", pmd_faults, pmds);
	printf("skewed_faults=%ld pte_count=%ld\n", pte_faults, ptes);
	printf("map_sync_faults=%ld\n", sync_faults);
	// A PMD mapping takes one fault per 2 MiB; allow slack for the few faults
	// of the process itself. A PTE mapping takes one per 4 KiB.
	int got_pmd = pmd_faults <= pmds + 16;
	printf("pmd_mapped=%s\n", got_pmd ? "yes" : "no");
	if (!failed && pte_faults < ptes / 2)
		fail("skewed mapping took %ld faults for %ld pages: PTE faults expected", pte_faults, ptes);
	if (!failed && !strcmp(expect_pmd, "yes") && !got_pmd)
		fail("aligned mapping took %ld faults for %ld PMDs: PMD faults expected", pmd_faults, pmds);
	if (!failed && !strcmp(expect_pmd, "no") && got_pmd)
		fail("aligned mapping took %ld faults: PTE faults expected", pmd_faults);
	close(fd);
	if (unlink(path) && !failed)
		fail("unlink: %s", strerror(errno));
	if (failed)
		return 1;
	printf("result=ok\n");
	return 0;
}
