// S4 fork_storm: the parent maps a DAX file shared at a 2 MiB-aligned VA
// (PMD entries) and at a skewed VA (PTE entries), plus privately, writes
// patterns, then forks children that check what they inherited, write their
// own pages of the shared range and a private page, and exit. Meanwhile a
// parent thread remaps a scratch range, flips MADV_DONTFORK/DOFORK on it and
// forks+execs. After each round the parent checks the children's writes
// through the file and that its private copy did not see them. Leaked refs
// from the copied PMDs show up later as an umount that never finishes.
#include "common.h"

#define KIDS 4

static int fd;
static char *pmdmap, *ptemap, *priv, *dontfork;
static atomic_int round_over;
static atomic_long side_ops;

static int child(int id, uint64_t gen)
{
	// Inherited: the shared pattern in the first PMD (no child writes there)
	// and in this child's own pages (siblings write theirs concurrently),
	// through both mappings; and the private pattern.
	if (check(pmdmap, PMD, 0, gen) >= 0)
		return 10;
	for (size_t off = PMD; off < O.size; off += PAGE)
		if ((off / PAGE) % KIDS == (size_t)id &&
		    (check(pmdmap + off, PAGE, off, gen) >= 0 || check(ptemap + off - PMD, PAGE, off, gen) >= 0))
			return 10;
	if (check(priv, PMD, 0, gen + 1) >= 0)
		return 11;
	// The MADV_DONTFORK range must not exist here.
	if (dontfork && msync(dontfork, PMD, MS_ASYNC) == 0)
		return 12;
	// Own pages of the shared range: page index % KIDS == id, through the
	// PMD mapping for even PMDs, the PTE mapping for odd ones.
	for (size_t off = PMD; off < O.size; off += PAGE)
		if ((off / PAGE) % KIDS == (size_t)id)
			fill((off / PMD) % 2 ? ptemap + off - PMD : pmdmap + off, PAGE, off, gen + 100 + id);
	fill(priv, PMD, 0, gen + 200 + id); // COW in the child only
	return 0;
}

static void *side(void *a)
{
	(void)a;
	while (!atomic_load(&round_over)) {
		char *m = map_shared(fd, PMD, PMD, 0, 0);
		if (m != MAP_FAILED) {
			(void)*(volatile char *)m;
			madvise(m, PMD, MADV_DONTFORK);
			madvise(m, PMD, MADV_DOFORK);
			munmap(m, PMD);
		}
		pid_t p = fork();
		if (p == 0) {
			execl("/bin/true", "true", (char *)NULL);
			execl("/bin/busybox", "true", (char *)NULL);
			_exit(0);
		}
		if (p > 0)
			waitpid(p, NULL, 0);
		atomic_fetch_add(&side_ops, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	if ((fd = open_file(O.file, O.size, 1)) < 0)
		return finish();
	pmdmap = map_shared(fd, O.size, PMD, 0, 0);
	ptemap = map_shared(fd, O.size - PMD, PMD, PAGE, PMD);
	priv = map_at(PMD, PMD, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	dontfork = map_shared(fd, PMD, PMD, 0, 0);
	if (pmdmap == MAP_FAILED || ptemap == MAP_FAILED || priv == MAP_FAILED || dontfork == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return finish();
	}
	madvise(dontfork, PMD, MADV_DONTFORK);
	(void)*(volatile char *)dontfork;
	clock_start();
	uint64_t rounds = 0, kids = 0;
	while (keep_going(rounds)) {
		uint64_t gen = rounds * 1000 + 1;
		fill(pmdmap, O.size, 0, gen);
		(void)check(ptemap, O.size - PMD, PMD, gen); // fault the PTE mapping in before fork
		fill(priv, PMD, 0, gen + 1);
		atomic_store(&round_over, 0);
		pthread_t t;
		pthread_create(&t, NULL, side, NULL);
		pid_t pids[KIDS];
		for (int i = 0; i < KIDS; i++) {
			pids[i] = fork();
			if (pids[i] == 0)
				_exit(child(i, gen));
		}
		char why[128];
		for (int i = 0; i < KIDS; i++) {
			if (pids[i] < 0)
				fail("fork: %s", strerror(errno));
			else if (reap(pids[i], why, sizeof(why)))
				fail("child %d: %s (10 inherited shared data wrong, 11 private, 12 DONTFORK range present)", i, why);
			kids++;
		}
		atomic_store(&round_over, 1);
		pthread_join(t, NULL);
		// Children's writes reached the file; the parent's private copy is its own.
		for (size_t off = 0; off < O.size && !failed; off += PAGE) {
			uint64_t want = off < PMD ? gen : gen + 100 + (off / PAGE) % KIDS;
			if (check_file(fd, PAGE, off, want) >= 0)
				fail("file page at %zu does not hold the child's write (gen %llu)", off, (unsigned long long)want);
		}
		CHECK(check(priv, PMD, 0, gen + 1) < 0, "parent's private mapping changed by a child");
		// Unmap and remap the shared PMD range in the parent between rounds.
		munmap(pmdmap, O.size);
		pmdmap = map_shared(fd, O.size, PMD, 0, 0);
		if (pmdmap == MAP_FAILED) {
			fail("remap: %s", strerror(errno));
			break;
		}
		rounds++;
	}
	kv("rounds=%llu children=%llu side_ops=%ld", (unsigned long long)rounds, (unsigned long long)kids,
	   atomic_load(&side_ops));
	munmap(pmdmap, O.size);
	munmap(ptemap, O.size - PMD);
	munmap(priv, PMD);
	munmap(dontfork, PMD);
	close(fd);
	unlink(O.file);
	return finish();
}
