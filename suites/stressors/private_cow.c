// S3 private_cow: MAP_PRIVATE mappings of a DAX file. Read faults map the
// DAX pages read-only; writes then copy them (COW), at PTE granularity
// (single pages) and over whole 2 MiB ranges (a PMD write on a private
// mapping must fall back to PTEs). The private copy must diverge while the
// file stays unchanged (checked through pread and through a shared mapping).
// Also writes through /proc/self/mem into a PROT_READ private mapping
// (FOLL_FORCE: COW in get_user_pages), which must not reach the file either.
#include "common.h"

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	int fd = open_file(O.file, O.size, 1);
	int mem = open("/proc/self/mem", O_RDWR);
	if (fd < 0)
		return finish();
	if (mem < 0)
		fail("open /proc/self/mem: %s", strerror(errno));
	clock_start();
	uint64_t rounds = 0, cow_pages = 0, force_writes = 0;
	while (keep_going(rounds)) {
		uint64_t fgen = rounds * 2 + 1, pgen = rounds * 2 + 2;
		if (write_file(fd, O.size, 0, fgen)) {
			fail("pwrite: %s", strerror(errno));
			break;
		}
		char *priv = map_at(O.size, PMD, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		char *shared = map_shared(fd, O.size, PMD, 0, 0);
		char *ro = map_at(O.size, PMD, 0, PROT_READ, MAP_PRIVATE, fd, 0);
		if (priv == MAP_FAILED || shared == MAP_FAILED || ro == MAP_FAILED) {
			fail("mmap: %s", strerror(errno));
			break;
		}
		// Read-fault everything first: the private mapping then points at
		// the DAX pages themselves.
		long bad = check(priv, O.size, 0, fgen);
		CHECK(bad < 0, "private mapping before COW differs from the file at %ld", bad);
		// COW: the first PMD range as a whole, and every third page elsewhere.
		for (size_t off = 0; off < O.size; off += PAGE) {
			if (off < PMD || (off / PAGE) % 3 == 0) {
				fill(priv + off, PAGE, off, pgen);
				cow_pages++;
			}
		}
		for (size_t off = 0; off < O.size && !failed; off += PAGE) {
			int cowed = off < PMD || (off / PAGE) % 3 == 0;
			if (check(priv + off, PAGE, off, cowed ? pgen : fgen) >= 0)
				fail("private mapping at %zu: %s page content wrong", off, cowed ? "COWed" : "unCOWed");
		}
		bad = check_file(fd, O.size, 0, fgen);
		CHECK(bad < 0, "private writes leaked into the file at offset %ld (pread)", bad);
		bad = check(shared, O.size, 0, fgen);
		CHECK(bad < 0, "private writes leaked into a shared mapping at offset %ld", bad);
		// FOLL_FORCE write into the read-only private mapping.
		check(ro, PMD, 0, fgen); // read-fault first: DAX pages mapped read-only
		for (size_t off = 0; off < 2 * PMD && mem >= 0; off += 64 * PAGE) {
			uint64_t v = pattern(off, pgen, 0);
			if (pwrite(mem, &v, 8, (off_t)(uintptr_t)(ro + off)) != 8) {
				fail("/proc/self/mem write into the private read-only mapping: %s", strerror(errno));
				break;
			}
			force_writes++;
			CHECK(*(volatile uint64_t *)(ro + off) == v, "forced write not visible in the private mapping at %zu", off);
		}
		bad = check_file(fd, O.size, 0, fgen);
		CHECK(bad < 0, "forced private write leaked into the file at offset %ld", bad);
		munmap(priv, O.size);
		munmap(shared, O.size);
		munmap(ro, O.size);
		rounds++;
	}
	kv("rounds=%llu cow_pages=%llu force_writes=%llu", (unsigned long long)rounds, (unsigned long long)cow_pages,
	   (unsigned long long)force_writes);
	close(fd);
	unlink(O.file);
	return finish();
}
