// S14 holes_zero: read faults over holes of a sparse DAX file map the zero
// page (PTE) or the huge zero page (PMD); writes into the same PMD must then
// replace the zero entries with real blocks. Checks: holes read as zero
// through PMD- and PTE-granular mappings; a write through the mapping
// appears in the file and leaves the rest of the PMD zero; data written by
// write(2) is visible through a mapping that had the hole mapped (the
// generic/428 stale-read check), also while another thread keeps reading;
// a child forked with zero pages mapped sees zeros and its parent's later
// writes; a MAP_PRIVATE COW of a zero page diverges and the file keeps its
// hole. Holes are punched again each round.
#include "common.h"

static int fd;
static char *pmdmap, *ptemap;
static atomic_int stop;
static atomic_long stale_reads_ok;

// A reader that keeps the hole/zero entries hot while write(2) fills pages:
// every word must be zero or the value written.
static void *reader(void *a)
{
	uint64_t gen = *(uint64_t *)a;
	while (!atomic_load(&stop)) {
		for (size_t off = 2 * PMD; off < 3 * PMD; off += PAGE) {
			uint64_t v = *(volatile uint64_t *)(pmdmap + off);
			if (v && v != pattern(off, gen, 0)) {
				fail("reader saw %#llx at %zu: neither zero nor the written pattern", (unsigned long long)v, off);
				return NULL;
			}
		}
		atomic_fetch_add(&stale_reads_ok, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	if (O.size < 4 * PMD)
		usage();
	if ((fd = open_file(O.file, O.size, 0)) < 0) // sparse: no fallocate
		return finish();
	clock_start();
	uint64_t rounds = 0;
	while (keep_going(rounds)) {
		uint64_t gen = rounds + 1;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, O.size)) {
			fail("punch: %s", strerror(errno));
			break;
		}
		pmdmap = map_shared(fd, O.size, PMD, 0, 0);
		ptemap = map_shared(fd, O.size - PMD, PMD, PAGE, PMD);
		char *priv = map_at(PMD, PMD, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 3 * PMD);
		if (pmdmap == MAP_FAILED || ptemap == MAP_FAILED || priv == MAP_FAILED) {
			fail("mmap: %s", strerror(errno));
			break;
		}
		// 1. Read faults over holes: PMD (huge zero page) and PTE (zero page).
		CHECK(check_zero(pmdmap, O.size) < 0, "hole read through the PMD mapping is not zero");
		CHECK(check_zero(ptemap, O.size - PMD) < 0, "hole read through the PTE mapping is not zero");
		// 2. Write one page inside the first PMD through the mapping.
		fill(pmdmap + 5 * PAGE, PAGE, 5 * PAGE, gen);
		CHECK(check_file(fd, PAGE, 5 * PAGE, gen) < 0, "write through the mapping into a hole not in the file");
		CHECK(check_zero(pmdmap, 5 * PAGE) < 0 && check_zero(pmdmap + 6 * PAGE, PMD - 6 * PAGE) < 0,
		      "rest of the PMD not zero after a write into it");
		// 3. write(2) into the second PMD (mapped as zero by the PTE mapping
		// above): the mappings must show it at once.
		long bad = -1;
		if (write_file(fd, PMD, PMD, gen))
			fail("pwrite: %s", strerror(errno));
		else if ((bad = check(pmdmap + PMD, PMD, PMD, gen)) >= 0 || (bad = check(ptemap, PMD, PMD, gen)) >= 0)
			fail("stale read: write(2) at %ld not visible through a mapping that had the hole mapped", PMD + bad);
		// 4. Same, with a concurrent reader of the third PMD.
		atomic_store(&stop, 0);
		pthread_t t;
		pthread_create(&t, NULL, reader, &gen);
		for (size_t off = 2 * PMD; off < 3 * PMD && !failed; off += 16 * PAGE)
			write_file(fd, 16 * PAGE, off, gen);
		atomic_store(&stop, 1);
		pthread_join(t, NULL);
		CHECK(check(pmdmap + 2 * PMD, PMD, 2 * PMD, gen) < 0, "concurrent write(2) not visible through the mapping");
		// 5. fork with zero pages mapped (the fourth PMD is still a hole).
		pid_t p = fork();
		if (p == 0) {
			if (check_zero(pmdmap + 3 * PMD, PMD) >= 0)
				_exit(10);
			sleep_ms(50); // the parent writes meanwhile
			_exit(check(pmdmap + 3 * PMD, PAGE, 3 * PMD, gen) >= 0 ? 11 : 0);
		}
		sleep_ms(10);
		fill(pmdmap + 3 * PMD, PAGE, 3 * PMD, gen);
		char why[96];
		if (p < 0 || reap(p, why, sizeof(why)))
			fail("fork child with zero pages mapped: %s (10: not zero, 11: parent's write not seen)", p < 0 ? strerror(errno) : why);
		// 6. MAP_PRIVATE COW of a zero page: punch the fourth PMD again first.
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * PMD, PMD);
		CHECK(check_zero(priv, PMD) < 0, "private mapping of a hole is not zero");
		fill(priv + PAGE, PAGE, 3 * PMD + PAGE, gen);
		CHECK(check(priv + PAGE, PAGE, 3 * PMD + PAGE, gen) < 0, "private COW of a zero page lost its data");
		uint64_t v = 1;
		CHECK(pread(fd, &v, 8, 3 * PMD + PAGE) == 8 && v == 0, "private COW of a zero page reached the file");
		off_t d = lseek(fd, 3 * PMD, SEEK_DATA);
		CHECK(d < 0 || d >= (off_t)(4 * PMD), "private COW allocated blocks in the file (SEEK_DATA found %lld)", (long long)d);
		munmap(pmdmap, O.size);
		munmap(ptemap, O.size - PMD);
		munmap(priv, PMD);
		rounds++;
	}
	kv("rounds=%llu concurrent_read_passes=%ld", (unsigned long long)rounds, atomic_load(&stale_reads_ok));
	close(fd);
	unlink(O.file);
	return finish();
}
