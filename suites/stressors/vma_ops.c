// S11 vma_ops: VMA operations on PMD-mapped DAX ranges. mremap to an
// aligned VA, to a 4 KiB-skewed VA, and MREMAP_FIXED over an anonymous VMA;
// MADV_DONTNEED, MADV_POPULATE_READ/WRITE, MADV_COLD/PAGEOUT (harmless on
// DAX); a partial munmap of one page inside a PMD (the PMD is zapped, not
// split); and munmap/mmap racing with faults and remote reads. Data must be
// preserved throughout. On device-dax a mapping moved to a VA that breaks
// the device alignment must SIGBUS on access (or the move be refused), which
// is what dax-pmd accepts too.
#include "common.h"

static int fd;
static size_t align = PMD, len;
static int devdax;
static atomic_int stop;
static atomic_long race_faults, race_reads, race_remaps;
static char *race;

// Access after a move: 0 data ok, 1 data wrong, 2 SIGBUS.
static int probe(char *m, size_t n, uint64_t gen)
{
	for (size_t o = 0; o < n; o += PAGE) {
		uint64_t v;
		if (guarded_read((volatile uint64_t *)(m + o), &v))
			return 2;
		if (v != pattern(o, gen, 0))
			return 1;
	}
	return 0;
}

static char *fresh(uint64_t gen)
{
	char *m = map_shared(fd, len, align, 0, 0);
	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return NULL;
	}
	fill(m, len, 0, gen);
	return m;
}

static void moves(uint64_t gen)
{
	char *m = fresh(gen);
	if (!m)
		return;
	// 1. To an aligned VA (move_huge_pmd).
	char *dst = map_at(len, align, 0, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *n = mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (n == MAP_FAILED) {
		fail("mremap to an aligned VA: %s", strerror(errno));
		return;
	}
	CHECK(probe(n, len, gen) == 0, "data lost by mremap to an aligned VA");
	// 2. To a skewed VA: fsdax refaults with PTEs; device-dax must SIGBUS.
	char *sk = map_at(len, align, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *s = mremap(n, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, sk);
	if (s == MAP_FAILED) {
		CHECK(devdax, "mremap to a skewed VA: %s", strerror(errno));
		kv("devdax_skewed_mremap=%s", errname(errno));
		munmap(n, len);
		munmap(sk, len);
	} else {
		int r = probe(s, len, gen);
		if (devdax && align > PAGE) {
			kv("devdax_skewed_access=%s", r == 2 ? "SIGBUS" : r ? "wrong-data" : "ok");
			CHECK(r == 2, "device-dax access at a VA breaking its %zu alignment did not SIGBUS", align);
		} else
			CHECK(r == 0, "data lost by mremap to a skewed VA (%s)", r == 2 ? "SIGBUS" : "wrong data");
		munmap(s, len);
	}
	// 3. MREMAP_FIXED over an anonymous VMA that has pages of its own.
	m = fresh(gen);
	if (!m)
		return;
	char *anon = map_at(len, align, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(anon, 0xab, len);
	n = mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, anon);
	CHECK(n != MAP_FAILED, "mremap over an anonymous VMA: %s", strerror(errno));
	if (n != MAP_FAILED) {
		CHECK(probe(n, len, gen) == 0, "data lost by mremap over an anonymous VMA");
		munmap(n, len);
	}
}

static void madvises(uint64_t gen)
{
	char *m = fresh(gen);
	if (!m)
		return;
	int advs[] = { MADV_DONTNEED, MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_COLD, MADV_PAGEOUT };
	const char *names[] = { "dontneed", "populate_read", "populate_write", "cold", "pageout" };
	for (int i = 0; i < 5; i++) {
		int rc = madvise(m, len, advs[i]);
		// EINVAL: an advice this kernel or mapping does not take (e.g.
		// MADV_DONTNEED on device-dax): harmless, and so noted.
		if (rc && errno != EINVAL)
			fail("madvise %s: %s", names[i], strerror(errno));
		if (gen == 1)
			kv("madv_%s=%s", names[i], rc ? errname(errno) : "ok");
		CHECK(probe(m, len, gen) == 0, "data wrong after madvise %s", names[i]);
	}
	// Partial munmap of one page in the middle of the first PMD.
	size_t hole = PMD / 2;
	if (align <= PMD && munmap(m + hole, PAGE) == 0) {
		CHECK(probe(m, hole, gen) == 0, "data wrong before the partial-munmap hole");
		long bad = check(m + hole + PAGE, len - hole - PAGE, hole + PAGE, gen);
		CHECK(bad < 0, "data wrong after the partial-munmap hole");
		munmap(m, hole);
		munmap(m + hole + PAGE, len - hole - PAGE);
	} else {
		if (align > PMD)
			kv("partial_munmap=%s", errname(errno));
		munmap(m, len);
	}
}

static void *race_fault(void *a)
{
	(void)a;
	uint64_t rs = O.seed * 41;
	while (!atomic_load(&stop)) {
		size_t off = (rnd(&rs) % (len / PAGE)) * PAGE;
		uint64_t v;
		if (!guarded_read((volatile uint64_t *)(race + off), &v))
			CHECK(v == pattern(off, 1, 0), "racing fault read wrong data at %zu", off);
		atomic_fetch_add(&race_faults, 1);
	}
	return NULL;
}

static void *race_remote(void *a)
{
	(void)a;
	uint64_t rs = O.seed * 43, v;
	while (!atomic_load(&stop)) {
		size_t off = (rnd(&rs) % (len / PAGE)) * PAGE;
		struct iovec l = { &v, 8 }, r = { race + off, 8 };
		if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 8)
			CHECK(v == pattern(off, 1, 0), "racing remote read wrong data at %zu", off);
		atomic_fetch_add(&race_reads, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "either");
	sigbus_install();
	if (O.dev) {
		struct devdax d;
		if (open_devdax(O.dev, &d))
			return finish();
		fd = d.fd;
		align = d.align;
		devdax = 1;
		len = O.size < 2 * align ? 2 * align : O.size;
	} else {
		len = O.size;
		if ((fd = open_file(O.file, len, 1)) < 0)
			return finish();
	}
	clock_start();
	uint64_t rounds = 0;
	while (keep_going(rounds)) {
		moves(1);
		madvises(1);
		// munmap/mmap of one PMD at a fixed VA under racing faults and GUP.
		race = fresh(1);
		if (!race)
			break;
		atomic_store(&stop, 0);
		pthread_t t1, t2;
		pthread_create(&t1, NULL, race_fault, NULL);
		pthread_create(&t2, NULL, race_remote, NULL);
		for (int i = 0; i < 200; i++) {
			size_t off = (i % (len / align)) * align;
			munmap(race + off, align);
			if (mmap(race + off, align, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, off) == MAP_FAILED) {
				fail("remap under racing faults: %s", strerror(errno));
				break;
			}
			atomic_fetch_add(&race_remaps, 1);
		}
		atomic_store(&stop, 1);
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		munmap(race, len);
		rounds++;
	}
	kv("rounds=%llu race_faults=%ld race_reads=%ld race_remaps=%ld", (unsigned long long)rounds,
	   atomic_load(&race_faults), atomic_load(&race_reads), atomic_load(&race_remaps));
	close(fd);
	if (O.file)
		unlink(O.file);
	return finish();
}
