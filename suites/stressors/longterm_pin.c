// S7 longterm_pin: io_uring_register(IORING_REGISTER_BUFFERS) takes
// FOLL_LONGTERM pins. On fsdax those must be refused (a long-term pin would
// block layout breaks forever): (a) a fully faulted PMD-mapped buffer,
// (b) a half-faulted one (GUP-fast pins the first part, then must undo it),
// (c) a fully faulted PTE-mapped one. After each refusal no page may stay
// referenced: a truncate of the file (which waits for busy DAX pages) must
// finish. On device-dax the registration is what the kernel version allows
// (--expect pinned|refused, chosen by the runner from the manifest); when it
// pins, a READ_FIXED from /dev/zero writes through the pinned pages.
//
// --expect: "refused" (EOPNOTSUPP or EFAULT) or "pinned".
#include "common.h"

static const char *expect;
static atomic_long refused, pinned;

// Register one buffer; returns 0 if pinned (and leaves it registered), else errno.
static int try_register(struct ring *r, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	int rc = uring_register(r->fd, IORING_REGISTER_BUFFERS, &iov, 1);
	return rc == 0 ? 0 : errno;
}

static void judge_pin(const char *what, int e)
{
	kv("%s=%s", what, errname(e));
	if (e)
		atomic_fetch_add(&refused, 1);
	else
		atomic_fetch_add(&pinned, 1);
	if (!strcmp(expect, "refused"))
		CHECK(e == EOPNOTSUPP || e == EFAULT, "%s: registration %s, refusal (EOPNOTSUPP/EFAULT) expected", what,
		      e ? strerror(e) : "succeeded (long-term pin accepted)");
	else
		CHECK(e == 0, "%s: registration failed (%s), a pin expected", what, strerror(e));
}

static atomic_int trunc_done;
static int trunc_fd;
static void *truncator(void *a)
{
	(void)a;
	if (ftruncate(trunc_fd, 0))
		fail("ftruncate: %s", strerror(errno));
	atomic_store(&trunc_done, 1);
	return NULL;
}

static void fsdax_round(uint64_t gen)
{
	int fd = open_file(O.file, O.size, 1);
	if (fd < 0)
		return;
	size_t len = O.size;
	struct ring r;
	if (ring_open(&r, 4)) {
		fail("io_uring_setup: %s", strerror(errno));
		close(fd);
		return;
	}
	char *pmdmap = map_shared(fd, len, PMD, 0, 0);
	char *ptemap = map_shared(fd, len - PMD, PMD, PAGE, PMD);
	char *half = map_shared(fd, len, PMD, 0, 0);
	if (pmdmap == MAP_FAILED || ptemap == MAP_FAILED || half == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	fill(pmdmap, len, 0, gen);
	int e = try_register(&r, pmdmap, len);
	judge_pin("fsdax_pmd_faulted", e);
	if (!e)
		uring_register(r.fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
	// Half-faulted: a fresh VMA of which only the first half has been touched.
	(void)check(half, len / 2, 0, gen);
	e = try_register(&r, half, len);
	judge_pin("fsdax_half_faulted", e);
	if (!e)
		uring_register(r.fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
	(void)check(ptemap, len - PMD, PMD, gen);
	e = try_register(&r, ptemap, len - PMD);
	judge_pin("fsdax_pte_faulted", e);
	if (!e)
		uring_register(r.fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
	long bad = check_file(fd, len, 0, gen);
	CHECK(bad < 0, "file data changed at %ld", bad);
	ring_close(&r);
	munmap(pmdmap, len);
	munmap(ptemap, len - PMD);
	munmap(half, len);
	// Nothing may still hold the pages: truncate waits for busy DAX pages,
	// so a pin left behind makes it hang. Give it a generous bound.
	trunc_fd = fd;
	atomic_store(&trunc_done, 0);
	pthread_t t;
	pthread_create(&t, NULL, truncator, NULL);
	double t0 = now_s();
	while (!atomic_load(&trunc_done) && now_s() - t0 < 20)
		sleep_ms(10);
	if (!atomic_load(&trunc_done)) {
		fail("truncate still blocked after 20 s: a refused registration left pages referenced");
		kv("truncate=blocked");
		fflush(stdout);
		_exit(1); // the blocked thread cannot be joined
	}
	pthread_join(t, NULL);
	close(fd);
}

static void devdax_round(uint64_t gen)
{
	struct devdax d;
	if (open_devdax(O.dev, &d))
		return;
	size_t len = O.size < d.align ? d.align : O.size;
	char *m = map_shared(d.fd, len, d.align, 0, 0);
	if (m == MAP_FAILED) {
		fail("mmap %s: %s", O.dev, strerror(errno));
		return;
	}
	struct ring r;
	if (ring_open(&r, 4)) {
		fail("io_uring_setup: %s", strerror(errno));
		return;
	}
	fill(m, len, 0, gen);
	int e = try_register(&r, m, len);
	judge_pin("devdax_faulted", e);
	if (!e) {
		// The kernel writes through the pinned pages: zeros from /dev/zero.
		int z = open("/dev/zero", O_RDONLY);
		int n = ring_rw(&r, IORING_OP_READ_FIXED, z, m, PMD, 0, 0);
		CHECK(n == (int)PMD, "READ_FIXED into the pinned device-dax buffer: %d", n);
		CHECK(check_zero(m, PMD) < 0, "READ_FIXED from /dev/zero did not land in the device-dax pages");
		close(z);
		CHECK(uring_register(r.fd, IORING_UNREGISTER_BUFFERS, NULL, 0) == 0, "unregister: %s", strerror(errno));
		fill(m, PMD, 0, gen);
	}
	CHECK(check(m, len, 0, gen) < 0, "device-dax data wrong after registration");
	ring_close(&r);
	munmap(m, len);
	close(d.fd);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "either");
	expect = O.expect ? O.expect : O.dev ? "pinned" : "refused";
	if (strcmp(expect, "refused") && strcmp(expect, "pinned"))
		usage();
	kv("expect=%s", expect);
	clock_start();
	uint64_t rounds = 0;
	while (keep_going(rounds)) {
		if (O.dev)
			devdax_round(rounds + 1);
		else
			fsdax_round(rounds + 1);
		rounds++;
	}
	kv("rounds=%llu pins=%ld refusals=%ld", (unsigned long long)rounds, atomic_load(&pinned), atomic_load(&refused));
	if (O.file)
		unlink(O.file);
	return finish();
}
