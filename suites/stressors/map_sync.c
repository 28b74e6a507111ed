// S2 map_sync: MAP_SHARED_VALIDATE|MAP_SYNC mappings of freshly fallocated
// (unwritten) extents, written at PMD granularity (2 MiB-aligned mapping) and
// PTE granularity (4 KiB-skewed mapping). Each write fault on an unwritten
// extent must commit the metadata first (VM_FAULT_NEEDDSYNC → fsync → the
// mkwrite insert). The file's first half is the checked range; in its second
// half a churn thread punches holes, truncates down and back up and
// re-fallocates while the writer faults into it (SIGBUS there is expected
// while the range is beyond EOF). The checked half must read back exactly
// through pread; the churned half may only hold zeros or words we wrote.
// Also: MAP_SYNC on a non-DAX file (a memfd) must fail with EOPNOTSUPP.
#include "common.h"

static int fd;
static char *pmdmap, *ptemap;
static atomic_int writer_done;
static atomic_long churn_ops, sigbus_churn;

static char *addr_of(size_t off)
{
	// Even PMDs through the aligned mapping, odd ones through the skewed one
	// (which maps file offsets from PAGE on).
	if ((off / PMD) % 2 == 0 || off < PAGE)
		return pmdmap + off;
	return ptemap + off - PAGE;
}

static void *churn(void *a)
{
	(void)a;
	size_t half = O.size / 2;
	int i = 0;
	while (!atomic_load(&writer_done) && !atomic_load(&failed)) {
		switch (i++ % 3) {
		case 0:
			fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, half, half);
			break;
		case 1:
			if (ftruncate(fd, half + PMD / 2) == 0 && ftruncate(fd, O.size))
				fail("ftruncate back up: %s", strerror(errno));
			break;
		case 2:
			fallocate(fd, 0, half, half);
			break;
		}
		atomic_fetch_add(&churn_ops, 1);
	}
	return NULL;
}

static void *writer(void *a)
{
	uint64_t gen = *(uint64_t *)a;
	size_t half = O.size / 2;
	for (size_t off = 0; off < half; off += PAGE)
		fill(addr_of(off), PAGE, off, gen);
	for (int pass = 0; pass < 4; pass++)
		for (size_t off = half; off < O.size; off += PAGE)
			if (guarded_write((volatile uint64_t *)addr_of(off), pattern(off, gen, 0)))
				atomic_fetch_add(&sigbus_churn, 1);
	atomic_store(&writer_done, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	sigbus_install();

	// The negative case first: MAP_SYNC is refused on a non-DAX file.
	int mfd = memfd_create("map_sync_nondax", 0);
	if (mfd >= 0 && ftruncate(mfd, PMD) == 0) {
		void *m = mmap(NULL, PMD, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, mfd, 0);
		int e = m == MAP_FAILED ? errno : 0;
		kv("nondax_map_sync=%s", errname(e));
		CHECK(e == EOPNOTSUPP, "MAP_SYNC on a non-DAX file: %s, EOPNOTSUPP expected", e ? strerror(e) : "accepted");
		if (m != MAP_FAILED)
			munmap(m, PMD);
		close(mfd);
	}

	if ((fd = open_file(O.file, 0, 0)) < 0)
		return finish();
	clock_start();
	uint64_t rounds = 0;
	while (keep_going(rounds)) {
		uint64_t gen = rounds + 1;
		// Fresh unwritten extents every round.
		if (ftruncate(fd, 0) || fallocate(fd, 0, 0, O.size)) {
			fail("fallocate: %s", strerror(errno));
			break;
		}
		pmdmap = map_at(O.size, PMD, 0, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
		ptemap = map_at(O.size - PAGE, PMD, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, PAGE);
		if (pmdmap == MAP_FAILED || ptemap == MAP_FAILED) {
			fail("mmap MAP_SYNC: %s (is the file on a DAX mount?)", strerror(errno));
			break;
		}
		atomic_store(&writer_done, 0);
		pthread_t tw, tc;
		pthread_create(&tc, NULL, churn, NULL);
		pthread_create(&tw, NULL, writer, &gen);
		pthread_join(tw, NULL);
		pthread_join(tc, NULL);
		munmap(pmdmap, O.size);
		munmap(ptemap, O.size - PAGE);
		long bad = check_file(fd, O.size / 2, 0, gen);
		CHECK(bad < 0, "round %llu: MAP_SYNC write at file offset %ld not read back by pread", (unsigned long long)gen, bad);
		// The churned half: zeros (hole, truncated) or a word written this round.
		for (size_t off = O.size / 2; off < O.size && !failed; off += PAGE) {
			uint64_t v = 0;
			if (pread(fd, &v, 8, off) == 8 && v && v != pattern(off, gen, 0))
				fail("round %llu: churned page at %zu holds %#llx, neither zero nor this round's pattern",
				     (unsigned long long)gen, off, (unsigned long long)v);
		}
		rounds++;
	}
	kv("rounds=%llu churn_ops=%ld churn_sigbus=%ld", (unsigned long long)rounds, atomic_load(&churn_ops),
	   atomic_load(&sigbus_churn));
	close(fd);
	unlink(O.file);
	return finish();
}
