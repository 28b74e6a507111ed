// S6 gup_fast_slow_race: the same DAX pages are pinned by GUP-fast and by
// the slow/remote GUP paths at once, while their mappings are zapped,
// replaced and re-protected under the pinners.
//
// A child process inherits a shared 2 MiB-aligned mapping of the file and
// churns it (MADV_DONTNEED, munmap+mmap at the same VA, mprotect) while the
// parent reads the child's memory remotely: process_vm_readv,
// /proc/<child>/mem and ptrace(PTRACE_PEEKDATA). In the parent, O_DIRECT
// writes from its own mapping to the file's own blocks on the raw device
// (--raw: same bytes, so the file never changes) pin pages through GUP-fast
// while a parent thread churns that mapping too. The file content is fixed,
// so every byte any call returns must be the file's pattern; calls may fail
// with EFAULT/EIO or return short counts, never wrong data.
#include "common.h"
#include <sys/ptrace.h>

#define UNIT (64 * 1024UL)

static int fd, raw = -1;
static char *map; // same VA in parent and child
static pid_t kid;
static atomic_int stop;
static atomic_long full, partial, efault, peeks, dio_ok, dio_err, churns;

static void churn_once(uint64_t *rs)
{
	size_t pmd = (rnd(rs) % (O.size / PMD)) * PMD;
	switch (rnd(rs) % 4) {
	case 0:
		madvise(map + pmd, PMD, MADV_DONTNEED);
		break;
	case 1:
		munmap(map + pmd, PMD);
		if (mmap(map + pmd, PMD, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, pmd) == MAP_FAILED)
			_exit(20);
		break;
	case 2:
		mprotect(map + pmd, PMD, PROT_NONE);
		sched_yield();
		mprotect(map + pmd, PMD, PROT_READ | PROT_WRITE);
		break;
	case 3:
		(void)check(map + pmd, PMD, pmd, 1); // fault back in
		break;
	}
	atomic_fetch_add(&churns, 1);
}

// Bytes returned by a remote read at VA offset `off`: all must be pattern.
static void verify(const char *how, const char *b, size_t off, ssize_t n)
{
	for (ssize_t i = 0; i + 8 <= n; i += 8) {
		size_t o = off + i;
		uint64_t v = *(const uint64_t *)(b + i);
		uint64_t want = o % PAGE == 0 ? pattern(o, 1, 0) : o % PAGE == PAGE - 8 ? pattern(o, 1, 1) : 0;
		if (v != want) {
			fail("%s at offset %zu returned %#llx, file holds %#llx", how, o, (unsigned long long)v, (unsigned long long)want);
			return;
		}
	}
}

static void count(ssize_t n, size_t want)
{
	if (n == (ssize_t)want)
		atomic_fetch_add(&full, 1);
	else if (n > 0)
		atomic_fetch_add(&partial, 1);
	else
		atomic_fetch_add(&efault, 1);
}

static void *remote_reader(void *a)
{
	struct worker *w = a;
	uint64_t rs = O.seed + 31 * w->id;
	char path[64], *b = malloc(UNIT);
	snprintf(path, sizeof(path), "/proc/%d/mem", kid);
	int mem = open(path, O_RDONLY);
	while (!atomic_load(&stop) && !failed) {
		size_t off = (rnd(&rs) % (O.size / UNIT)) * UNIT;
		ssize_t n;
		if (w->id % 2 == 0) {
			struct iovec l = { b, UNIT }, r = { map + off, UNIT };
			n = process_vm_readv(kid, &l, 1, &r, 1, 0);
			verify("process_vm_readv", b, off, n);
		} else {
			n = mem >= 0 ? pread(mem, b, UNIT, (off_t)(uintptr_t)(map + off)) : -1;
			verify("/proc/pid/mem", b, off, n);
		}
		count(n, UNIT);
	}
	if (mem >= 0)
		close(mem);
	free(b);
	return NULL;
}

// ptrace must be driven from one thread: seize the child, then repeatedly
// interrupt it, peek a few words, and let it run again.
static void *peeker(void *a)
{
	(void)a;
	uint64_t rs = O.seed * 7;
	if (ptrace(PTRACE_SEIZE, kid, 0, 0)) {
		kv("ptrace=unavailable (%s)", strerror(errno));
		return NULL;
	}
	while (!atomic_load(&stop) && !failed) {
		if (ptrace(PTRACE_INTERRUPT, kid, 0, 0) || waitpid(kid, NULL, __WALL) < 0)
			break;
		for (int i = 0; i < 16; i++) {
			size_t off = (rnd(&rs) % (O.size / PAGE)) * PAGE;
			errno = 0;
			long v = ptrace(PTRACE_PEEKDATA, kid, map + off, 0);
			if (errno == 0)
				verify("PTRACE_PEEKDATA", (char *)&v, off, 8);
			atomic_fetch_add(&peeks, 1);
		}
		ptrace(PTRACE_CONT, kid, 0, 0);
		sleep_ms(1);
	}
	ptrace(PTRACE_INTERRUPT, kid, 0, 0);
	waitpid(kid, NULL, __WALL);
	ptrace(PTRACE_DETACH, kid, 0, 0);
	return NULL;
}

static void *dio_writer(void *a)
{
	(void)a;
	uint64_t rs = O.seed * 13;
	while (!atomic_load(&stop) && !failed) {
		size_t off = (rnd(&rs) % (O.size / UNIT)) * UNIT;
		long long ph = fiemap_phys(fd, off, UNIT, NULL);
		if (ph < 0)
			continue;
		// Same bytes to the same blocks: an I/O that sees the pages at all
		// must write the file's own content back.
		ssize_t n = pwrite(raw, map + off, UNIT, ph);
		atomic_fetch_add(n == (ssize_t)UNIT ? &dio_ok : &dio_err, 1);
	}
	return NULL;
}

static void *parent_churn(void *a)
{
	(void)a;
	uint64_t rs = O.seed * 17;
	while (!atomic_load(&stop) && !failed) {
		size_t pmd = (rnd(&rs) % (O.size / PMD)) * PMD;
		if (rnd(&rs) % 2)
			madvise(map + pmd, PMD, MADV_DONTNEED);
		else {
			mprotect(map + pmd, PMD, PROT_READ);
			mprotect(map + pmd, PMD, PROT_READ | PROT_WRITE);
		}
		sched_yield();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	if ((fd = open_file(O.file, O.size, 0)) < 0)
		return finish();
	if (write_file(fd, O.size, 0, 1) || fsync(fd)) {
		fail("writing the file: %s", strerror(errno));
		return finish();
	}
	if (O.raw && (raw = open(O.raw, O_RDWR | O_DIRECT)) < 0)
		fail("open %s: %s", O.raw, strerror(errno));
	map = map_shared(fd, O.size, PMD, 0, 0);
	if (map == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return finish();
	}
	if (check(map, O.size, 0, 1) >= 0) {
		fail("the mapping does not show the written pattern");
		return finish();
	}
	kid = fork();
	if (kid == 0) {
		uint64_t rs = O.seed * 3;
		for (;;)
			churn_once(&rs);
	}
	clock_start();
	int nr = O.threads < 2 ? 2 : O.threads;
	struct worker w[64] = { 0 };
	pthread_t pk, dw, pc;
	for (int i = 0; i < nr; i++) {
		w[i].id = i;
		pthread_create(&w[i].th, NULL, remote_reader, &w[i]);
	}
	pthread_create(&pk, NULL, peeker, NULL);
	if (raw >= 0) {
		pthread_create(&dw, NULL, dio_writer, NULL);
		pthread_create(&pc, NULL, parent_churn, NULL);
	}
	while (keep_going(0) && now_s() - t_start < O.seconds)
		sleep_ms(20);
	atomic_store(&stop, 1);
	for (int i = 0; i < nr; i++)
		pthread_join(w[i].th, NULL);
	pthread_join(pk, NULL);
	if (raw >= 0) {
		pthread_join(dw, NULL);
		pthread_join(pc, NULL);
	}
	kill(kid, SIGKILL);
	int st;
	waitpid(kid, &st, 0);
	CHECK(!WIFEXITED(st), "churning child exited by itself (%d): its remap failed", WEXITSTATUS(st));
	// The file must be exactly what was written: O_DIRECT only wrote it back.
	long bad = check_file(fd, O.size, 0, 1);
	CHECK(bad < 0, "file changed at offset %ld after the race", bad);
	kv("remote_full=%ld remote_partial=%ld remote_failed=%ld peeks=%ld", atomic_load(&full),
	   atomic_load(&partial), atomic_load(&efault), atomic_load(&peeks));
	kv("odirect_ok=%ld odirect_err=%ld", atomic_load(&dio_ok), atomic_load(&dio_err));
	munmap(map, O.size);
	close(fd);
	if (raw >= 0)
		close(raw);
	unlink(O.file);
	return finish();
}
