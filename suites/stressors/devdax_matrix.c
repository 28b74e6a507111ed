// S15 devdax_matrix: a device-dax instance at its configured alignment (4K,
// 2M or 1G). Refusals first: MAP_PRIVATE, a VA or length that breaks the
// alignment → EINVAL. Then S1's fault mix on the device (threads owning
// interleaved pages, fault counting must show PTE, PMD or PUD faults to
// match the alignment), fork (the child checks and writes its pages),
// io_uring fixed buffers (long-term pins; --expect pinned|refused per
// kernel, chosen by the runner) and mremap to an aligned VA. Device-dax
// pages stay at refcount 1 when idle; the runner's census checks that.
#include "common.h"

static struct devdax d;
static char *map;
static size_t len;

static void *worker(void *a)
{
	struct worker *w = a;
	uint64_t gen = 10 + w->id;
	for (size_t off = 0; off < len; off += PAGE)
		if ((off / PAGE) % O.threads == (size_t)w->id)
			fill(map + off, PAGE, off, gen + w->rounds * 100);
	for (size_t off = 0; off < len; off += PAGE)
		if ((off / PAGE) % O.threads == (size_t)w->id && check(map + off, PAGE, off, gen + w->rounds * 100) >= 0) {
			fail("thread %d: page at %zu lost its write", w->id, off);
			break;
		}
	w->rounds++;
	return NULL;
}

static void refusals(void)
{
	void *m = mmap(NULL, d.align, PROT_READ | PROT_WRITE, MAP_PRIVATE, d.fd, 0);
	kv("map_private=%s", m == MAP_FAILED ? errname(errno) : "accepted");
	CHECK(m == MAP_FAILED && errno == EINVAL, "MAP_PRIVATE of device-dax: %s, EINVAL expected",
	      m == MAP_FAILED ? strerror(errno) : "accepted");
	if (m != MAP_FAILED)
		munmap(m, d.align);
	if (d.align <= PAGE)
		return; // every VA and length is 4 KiB-aligned: nothing to refuse
	m = map_at(d.align, d.align, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, d.fd, 0);
	kv("misaligned_va=%s", m == MAP_FAILED ? errname(errno) : "accepted");
	CHECK(m == MAP_FAILED && errno == EINVAL, "mmap at a VA breaking the %zu alignment: %s, EINVAL expected", d.align,
	      m == MAP_FAILED ? strerror(errno) : "accepted");
	if (m != MAP_FAILED)
		munmap(m, d.align);
	m = map_at(d.align + PAGE, d.align, 0, PROT_READ | PROT_WRITE, MAP_SHARED, d.fd, 0);
	kv("misaligned_len=%s", m == MAP_FAILED ? errname(errno) : "accepted");
	CHECK(m == MAP_FAILED && errno == EINVAL, "mmap of a length breaking the alignment: %s, EINVAL expected",
	      m == MAP_FAILED ? strerror(errno) : "accepted");
	if (m != MAP_FAILED)
		munmap(m, d.align + PAGE);
}

static void pins(uint64_t gen)
{
	const char *expect = O.expect ? O.expect : "pinned";
	struct ring r;
	if (ring_open(&r, 4)) {
		fail("io_uring_setup: %s", strerror(errno));
		return;
	}
	size_t n = len < 4 * PMD ? len : 4 * PMD;
	struct iovec iov = { map, n };
	int rc = uring_register(r.fd, IORING_REGISTER_BUFFERS, &iov, 1);
	int e = rc ? errno : 0;
	static int said;
	if (!said++)
		kv("fixed_buffers=%s expect=%s", errname(e), expect);
	if (!strcmp(expect, "pinned"))
		CHECK(!e, "io_uring fixed buffer on device-dax refused (%s), a pin expected", strerror(e));
	else
		CHECK(e, "io_uring fixed buffer on device-dax pinned, refusal expected on this kernel");
	if (!e) {
		int z = open("/dev/zero", O_RDONLY);
		int got = ring_rw(&r, IORING_OP_READ_FIXED, z, map, PAGE * 4, 0, 0);
		CHECK(got == (int)(PAGE * 4) && check_zero(map, PAGE * 4) < 0, "READ_FIXED into pinned device-dax pages: %d", got);
		close(z);
		uring_register(r.fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
		fill(map, PAGE * 4, 0, gen);
	}
	ring_close(&r);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "dev");
	if (open_devdax(O.dev, &d))
		return finish();
	len = (O.size + d.align - 1) / d.align * d.align;
	if (len > d.size / d.align * d.align)
		len = d.size / d.align * d.align;
	if (!len) {
		fail("device smaller than its alignment");
		return finish();
	}
	kv("map_len=%zu", len);
	refusals();
	map = map_shared(d.fd, len, d.align, 0, 0);
	if (map == MAP_FAILED) {
		fail("mmap %s: %s", O.dev, strerror(errno));
		return finish();
	}
	const char *want = d.align >= PUD ? "pud" : d.align >= PMD ? "pmd" : "pte";
	const char *got = fault_level(map, len);
	kv("fault_level=%s expected=%s", got, want);
	CHECK(!strcmp(got, want), "device-dax at align %zu faulted at %s level, %s expected", d.align, got, want);
	clock_start();
	struct worker w[64] = { 0 };
	uint64_t rounds = 0;
	while (keep_going(rounds)) {
		uint64_t gen = 1000 + rounds;
		run_threads(O.threads, worker, w, NULL);
		// fork: the child checks the parent's pattern and writes its own.
		fill(map, len, 0, gen);
		pid_t p = fork();
		if (p == 0)
			_exit(check(map, len, 0, gen) >= 0 ? 10 : (fill(map, PMD < len ? PMD : len, 0, gen + 1), 0));
		char why[96];
		if (p < 0 || reap(p, why, sizeof(why)))
			fail("fork child: %s (10: inherited data wrong)", p < 0 ? strerror(errno) : why);
		CHECK(check(map, PMD < len ? PMD : len, 0, gen + 1) < 0, "child's write through device-dax not seen by the parent");
		pins(gen);
		// mremap to another aligned VA and back-check.
		char *dst = map_at(len, d.align, 0, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *n = mremap(map, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		if (n == MAP_FAILED) {
			fail("mremap to an aligned VA: %s", strerror(errno));
			break;
		}
		map = n;
		CHECK(check(map + PMD, len > 2 * PMD ? PMD : 0, PMD, gen) < 0, "data lost by mremap");
		rounds++;
	}
	kv("rounds=%llu", (unsigned long long)rounds);
	munmap(map, len);
	close(d.fd);
	return finish();
}
