// common.h: what every DAX stressor shares, so each stressor file holds only
// its own scenario. Header-only (static functions) because the image recipe
// compiles each stressor as one translation unit.
//
//  - arguments: --file/--dev target, --seconds, --seed, --size-mib, --threads,
//    --variant, --expect, --hold-ms, --raw, --mnt, --self-test-corrupt
//  - output: key=value lines; the last line is result=ok | result=fail
//    reason=... | result=skip reason=...; exit 0 / 1 / 77 to match
//  - per-page patterns: two self-describing 64-bit words per 4 KiB page
//    (file offset + generation + seed), checkable exactly or for plausibility
//  - mappings at a chosen alignment (plus skew), fault counting, a clock,
//    SIGBUS-guarded accesses, FIEMAP alignment, io_uring by raw syscalls
#ifndef DAXH_COMMON_H
#define DAXH_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#define MADV_PAGEOUT 21
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_COLLAPSE_RANGE
#define FALLOC_FL_COLLAPSE_RANGE 0x08
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif
#ifndef FALLOC_FL_INSERT_RANGE
#define FALLOC_FL_INSERT_RANGE 0x20
#endif
#ifndef FALLOC_FL_UNSHARE_RANGE
#define FALLOC_FL_UNSHARE_RANGE 0x40
#endif

#define PAGE 4096UL
#define PMD (2UL << 20)
#define PUD (1UL << 30)

// ---------------------------------------------------------------- arguments
struct opts {
	const char *file;    // a file on a DAX mount (created if missing)
	const char *dev;     // a device-dax character device
	const char *raw;     // a non-DAX block device for O_DIRECT (S5, S6)
	const char *mnt;     // the mount point (S13 unmounts it itself)
	const char *variant; // stressor-specific scenario name
	const char *expect;  // the kernel answer the runner expects (per version)
	double seconds;
	uint64_t seed;
	size_t size;         // bytes of file or device the stressor uses
	int threads;
	long hold_ms;
	int corrupt;         // --self-test-corrupt: prove the data check bites
};
static struct opts O = { .seconds = 1, .seed = 1, .size = 8 * PMD, .threads = 4, .hold_ms = 500 };

static const char *prog;

static inline void usage(void)
{
	fprintf(stderr,
		"usage: %s (--file PATH | --dev /dev/daxX.Y) [--seconds S] [--seed N] [--size-mib N]\n"
		"       [--threads N] [--variant NAME] [--expect WHAT] [--hold-ms MS] [--raw BLOCKDEV]\n"
		"       [--mnt DIR] [--self-test-corrupt]\n",
		prog);
	exit(2);
}

// need: "file", "dev", "either" — which target kinds the stressor accepts.
static inline void parse_args(int argc, char **argv, const char *need)
{
	static struct option lo[] = {
		{ "file", required_argument, 0, 'f' },	   { "dev", required_argument, 0, 'd' },
		{ "raw", required_argument, 0, 'R' },	   { "mnt", required_argument, 0, 'm' },
		{ "variant", required_argument, 0, 'v' }, { "expect", required_argument, 0, 'e' },
		{ "seconds", required_argument, 0, 's' }, { "seed", required_argument, 0, 'r' },
		{ "size-mib", required_argument, 0, 'z' }, { "threads", required_argument, 0, 't' },
		{ "hold-ms", required_argument, 0, 'h' }, { "self-test-corrupt", no_argument, 0, 'C' },
		{ 0, 0, 0, 0 },
	};
	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': O.file = optarg; break;
		case 'd': O.dev = optarg; break;
		case 'R': O.raw = optarg; break;
		case 'm': O.mnt = optarg; break;
		case 'v': O.variant = optarg; break;
		case 'e': O.expect = optarg; break;
		case 's': O.seconds = strtod(optarg, NULL); break;
		case 'r': O.seed = strtoull(optarg, NULL, 0); break;
		case 'z': O.size = strtoul(optarg, NULL, 0) << 20; break;
		case 't': O.threads = atoi(optarg); break;
		case 'h': O.hold_ms = atol(optarg); break;
		case 'C': O.corrupt = 1; break;
		default: usage();
		}
	}
	int ok = !strcmp(need, "file") ? O.file && !O.dev : !strcmp(need, "dev") ? O.dev && !O.file : !O.file != !O.dev;
	// Two PMDs at least: every stressor picks ranges among whole PMDs.
	if (!ok || O.threads < 1 || O.threads > 64 || O.size < 2 * PMD || O.size % PMD)
		usage();
	// Line buffering: the runner streams output and a killed stressor must
	// still have said how far it got.
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("stressor=%s target=%s seed=%llu seconds=%g size=%zu threads=%d variant=%s\n", prog,
	       O.file ? O.file : O.dev, (unsigned long long)O.seed, O.seconds, O.size, O.threads,
	       O.variant ? O.variant : "default");
}

// ------------------------------------------------------------------ verdicts
static atomic_int failed;

static inline void kv(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

// The first failure is the one worth reading; later ones are usually fallout.
// It is printed at once (a stressor that then hangs has still said why) and
// again by finish(), so that the last line is always the verdict.
static char fail_reason[512];

static void fail(const char *fmt, ...)
{
	if (atomic_fetch_add(&failed, 1))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fail_reason, sizeof(fail_reason), fmt, ap);
	va_end(ap);
	printf("result=fail reason=%s\n", fail_reason);
	fflush(stdout);
}

// Only for an environment that lacks what the stressor needs (no reflink, no
// privilege): never for a kernel answer that is wrong.
static inline void __attribute__((noreturn)) skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("result=skip reason=");
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(77);
}

static inline int finish(void)
{
	if (atomic_load(&failed)) {
		printf("result=fail reason=%s\n", fail_reason);
		return 1;
	}
	printf("result=ok\n");
	return 0;
}

#define CHECK(cond, ...)                   \
	do {                               \
		if (!(cond))               \
			fail(__VA_ARGS__); \
	} while (0)

// --------------------------------------------------------------------- time
static inline double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double t_start;
static inline void clock_start(void) { t_start = now_s(); }
// At least one round always runs; then rounds go on until --seconds is spent
// or something failed (there is no point stressing a broken kernel further).
static inline int keep_going(uint64_t rounds_done)
{
	return !atomic_load(&failed) && (rounds_done == 0 || now_s() - t_start < O.seconds);
}

static inline void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

// ------------------------------------------------------------------ pattern
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 32);
}

// A pattern word: low 32 bits name (offset, generation), high 32 bits are a
// keyed hash of the low half. The exact check compares with the expected
// word; the plausibility check (used where concurrent layout changes move
// data around) only asks whether a word is one this run wrote.
static inline uint64_t pattern(uint64_t off, uint64_t gen, int word)
{
	uint32_t lo = (uint32_t)((off / 8) * 2654435761u) ^ (uint32_t)(gen * 40503u) ^ (uint32_t)word;
	uint32_t hi = (uint32_t)mix64(lo ^ (O.seed * 0x9e3779b97f4a7c15ULL));
	return (uint64_t)hi << 32 | lo;
}

static inline int plausible(uint64_t v)
{
	return v == 0 || (uint32_t)(v >> 32) == (uint32_t)mix64((uint32_t)v ^ (O.seed * 0x9e3779b97f4a7c15ULL));
}

static atomic_int corrupted;

// Two words per page (first and last) catch both torn and shifted pages while
// keeping a pass over a large mapping cheap under TCG.
static inline void fill(volatile char *p, size_t len, uint64_t base_off, uint64_t gen)
{
	for (size_t o = 0; o < len; o += PAGE) {
		*(volatile uint64_t *)(p + o) = pattern(base_off + o, gen, 0);
		*(volatile uint64_t *)(p + o + PAGE - 8) = pattern(base_off + o + PAGE - 8, gen, 1);
	}
	// --self-test-corrupt: damage one byte after the first fill, so that the
	// run must end in result=fail; proves each stressor's check is live.
	if (O.corrupt && len && !atomic_exchange(&corrupted, 1))
		p[len / 2 & ~(PAGE - 1)] ^= 0x5a;
}

// Returns the offset (relative to p) of the first bad page, or -1.
static inline long check(const volatile char *p, size_t len, uint64_t base_off, uint64_t gen)
{
	for (size_t o = 0; o < len; o += PAGE) {
		if (*(const volatile uint64_t *)(p + o) != pattern(base_off + o, gen, 0) ||
		    *(const volatile uint64_t *)(p + o + PAGE - 8) != pattern(base_off + o + PAGE - 8, gen, 1))
			return (long)o;
	}
	return -1;
}

static inline long check_zero(const volatile char *p, size_t len)
{
	for (size_t o = 0; o < len; o += PAGE)
		if (*(const volatile uint64_t *)(p + o) || *(const volatile uint64_t *)(p + o + PAGE - 8))
			return (long)o;
	return -1;
}

// The same pattern as fill(), built in an ordinary buffer (for pwrite/pread).
static inline void fill_buf(char *p, size_t len, uint64_t base_off, uint64_t gen)
{
	memset(p, 0, len);
	fill(p, len, base_off, gen);
}

// Check a file range through pread(2): the filesystem's read path, not the mapping.
static inline long check_file(int fd, size_t len, uint64_t off, uint64_t gen)
{
	char *b = malloc(len);
	if (!b)
		return -2;
	ssize_t n = pread(fd, b, len, off);
	long r = n == (ssize_t)len ? check(b, len, off, gen) : -2;
	free(b);
	return r;
}

static inline int write_file(int fd, size_t len, uint64_t off, uint64_t gen)
{
	char *b = malloc(len);
	if (!b)
		return -1;
	fill_buf(b, len, off, gen);
	ssize_t n = pwrite(fd, b, len, off);
	free(b);
	return n == (ssize_t)len ? 0 : -1;
}

// ------------------------------------------------------------------ mapping
// Reserve a larger PROT_NONE region and place the mapping inside it at the
// wanted alignment plus skew, so whether PMD/PUD faults are possible is
// decided by us, not by where mmap happened to put things.
static inline void *map_at(size_t len, size_t align, size_t skew, int prot, int flags, int fd, off_t off)
{
	size_t span = len + align + skew;
	char *r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return MAP_FAILED;
	uintptr_t a = ((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1);
	char *want = (char *)(a + skew);
	void *m = mmap(want, len, prot, flags | MAP_FIXED, fd, off);
	int e = errno;
	// Give back the unused head and tail of the reservation.
	if (want > r)
		munmap(r, want - r);
	if (r + span > want + len)
		munmap(want + len, r + span - (want + len));
	if (m == MAP_FAILED)
		munmap(want, len);
	errno = e;
	return m;
}

static inline void *map_shared(int fd, size_t len, size_t align, size_t skew, off_t off)
{
	return map_at(len, align, skew, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
}

// ------------------------------------------------------------------- faults
static inline long faults_self(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	// First-touch DAX faults are accounted as major faults: count both.
	return ru.ru_minflt + ru.ru_majflt;
}

// Faults taken by writing one word per page of [p, p+len): tells PTE (one per
// page) from PMD (one per 2 MiB) from PUD (one per 1 GiB) mappings.
static inline const char *fault_level(volatile char *p, size_t len)
{
	long before = faults_self();
	for (size_t o = 0; o < len; o += PAGE)
		p[o] = p[o];
	long n = faults_self() - before;
	kv("touch_faults=%ld touch_pages=%zu", n, len / PAGE);
	if (n <= (long)(len / PUD) + 8)
		return len >= PUD ? "pud" : "pmd";
	if (n <= (long)(len / PMD) + 8)
		return "pmd";
	return "pte";
}

// ------------------------------------------------------------------- SIGBUS
// Accesses that may legitimately SIGBUS (beyond EOF after a racing truncate,
// a revoked device-dax mapping, a poisoned page) go through these guards: the
// handler jumps back and the caller learns the signal and its si_code.
// volatile: the stores around the guarded access must not be merged away.
static __thread sigjmp_buf *volatile bus_jmp;
static __thread volatile int bus_code;
static atomic_long sigbus_seen;

static inline void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	atomic_fetch_add(&sigbus_seen, 1);
	if (!bus_jmp) {
		// Unexpected: say where, so the log names the access, then die of it.
		char b[128];
		int n = snprintf(b, sizeof(b), "result=fail reason=unexpected signal %d code %d at address %p\n", sig,
				 si->si_code, si->si_addr);
		if (write(1, b, n) < 0)
			_exit(1);
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	bus_code = si->si_code;
	siglongjmp(*bus_jmp, 1);
}

static inline void sigbus_install(void)
{
	struct sigaction sa = { 0 };
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

// 0 on success, the si_code (>0) if the access raised SIGBUS/SIGSEGV.
static inline int guarded_access(volatile uint64_t *a, uint64_t *v, int write)
{
	sigjmp_buf jb;
	if (sigsetjmp(jb, 1)) {
		bus_jmp = NULL;
		return bus_code ? bus_code : 1000;
	}
	bus_jmp = &jb;
	if (write)
		*a = *v;
	else
		*v = *a;
	bus_jmp = NULL;
	return 0;
}

static inline int guarded_read(const volatile uint64_t *a, uint64_t *out)
{
	return guarded_access((volatile uint64_t *)a, out, 0);
}

static inline int guarded_write(volatile uint64_t *a, uint64_t v)
{
	return guarded_access(a, &v, 1);
}

// ------------------------------------------------------------------- target
// A file target is created (or truncated) at O.size; a device-dax target is
// used from offset 0 and its alignment comes from sysfs.
static inline int open_file(const char *path, size_t size, int fallocate_it)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fail("open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fallocate_it) {
		int e = posix_fallocate(fd, 0, size);
		if (e) {
			fail("fallocate %s: %s", path, strerror(e));
			close(fd);
			return -1;
		}
	} else if (ftruncate(fd, size)) {
		fail("ftruncate %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

// A sibling path of the target file: "<file>.<suffix>".
static inline char *sibling(const char *suffix)
{
	static __thread char buf[4][512];
	static __thread int i;
	char *b = buf[i++ & 3];
	snprintf(b, sizeof(buf[0]), "%s.%s", O.file, suffix);
	return b;
}

static inline long sysfs_long(const char *fmt, const char *name)
{
	char path[256], v[64] = "";
	snprintf(path, sizeof(path), fmt, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(v, sizeof(v), f))
		v[0] = 0;
	fclose(f);
	return v[0] ? strtol(v, NULL, 0) : -1;
}

struct devdax {
	int fd;
	size_t size, align;
};

static inline int open_devdax(const char *dev, struct devdax *d)
{
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	d->fd = open(dev, O_RDWR);
	if (d->fd < 0) {
		fail("open %s: %s", dev, strerror(errno));
		return -1;
	}
	long size = sysfs_long("/sys/bus/dax/devices/%s/size", name);
	long align = sysfs_long("/sys/bus/dax/devices/%s/align", name);
	if (align <= 0) // kernels before the align attribute: 2 MiB was the default
		align = PMD;
	if (size <= 0) {
		fail("cannot read the size of %s from sysfs", name);
		return -1;
	}
	d->size = size;
	d->align = align;
	kv("dev_size=%ld dev_align=%ld", size, align);
	return 0;
}

// ------------------------------------------------------------------- FIEMAP
// Whether every extent of the file starts on a 2 MiB physical boundary (the
// precondition for PMD faults, as ndctl's dax-pmd test checks). Also returns
// the physical byte offset of file offset `off` (for O_DIRECT on the raw
// device, S5/S6), or -1 if the range is not one written extent.
static inline long long fiemap_phys(int fd, size_t off, size_t len, int *aligned)
{
	size_t sz = sizeof(struct fiemap) + 64 * sizeof(struct fiemap_extent);
	struct fiemap *fm = calloc(1, sz);
	fm->fm_start = 0;
	fm->fm_length = ~0ULL;
	fm->fm_flags = FIEMAP_FLAG_SYNC;
	fm->fm_extent_count = 64;
	long long phys = -1;
	if (aligned)
		*aligned = -1;
	if (ioctl(fd, FS_IOC_FIEMAP, fm) == 0) {
		if (aligned)
			*aligned = fm->fm_mapped_extents > 0;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];
			if (aligned && (e->fe_physical % PMD || e->fe_logical % PMD))
				*aligned = 0;
			if (off >= e->fe_logical && off + len <= e->fe_logical + e->fe_length &&
			    !(e->fe_flags & (FIEMAP_EXTENT_UNWRITTEN | FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC)))
				phys = e->fe_physical + (off - e->fe_logical);
		}
	}
	free(fm);
	return phys;
}

// ------------------------------------------------------------------ threads
struct worker {
	pthread_t th;
	int id;
	uint64_t rounds;
	long faults;
	void *arg;
};

static inline int run_threads(int n, void *(*fn)(void *), struct worker *w, void *arg)
{
	for (int i = 0; i < n; i++) {
		w[i].id = i;
		w[i].arg = arg;
		if (pthread_create(&w[i].th, NULL, fn, &w[i])) {
			fail("pthread_create: %s", strerror(errno));
			return -1;
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(w[i].th, NULL);
	return 0;
}

// xorshift per thread: cheap and reproducible from --seed.
static inline uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x2545f4914f6cdd1dULL;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

// ----------------------------------------------------------------- children
// Wait for a child; 0 if it exited 0, else a description in `why`.
static inline int reap(pid_t pid, char *why, size_t n)
{
	int st;
	if (waitpid(pid, &st, 0) < 0) {
		snprintf(why, n, "waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		snprintf(why, n, "child exited %d", WEXITSTATUS(st));
	else
		snprintf(why, n, "child killed by signal %d", WTERMSIG(st));
	return -1;
}

// ----------------------------------------------------------------- io_uring
// No liburing in the guest: the few calls used go through raw syscalls.
static inline int uring_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}
static inline int uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}
static inline int uring_register(int fd, unsigned op, void *arg, unsigned n)
{
	return (int)syscall(__NR_io_uring_register, fd, op, arg, n);
}

struct ring {
	int fd;
	struct io_uring_params p;
	char *sq, *cq;
	struct io_uring_sqe *sqes;
	size_t sq_len, cq_len, sqes_len;
};

static inline int ring_open(struct ring *r, unsigned entries)
{
	memset(r, 0, sizeof(*r));
	r->fd = uring_setup(entries, &r->p);
	if (r->fd < 0)
		return -1;
	r->sq_len = r->p.sq_off.array + r->p.sq_entries * sizeof(unsigned);
	r->cq_len = r->p.cq_off.cqes + r->p.cq_entries * sizeof(struct io_uring_cqe);
	r->sqes_len = r->p.sq_entries * sizeof(struct io_uring_sqe);
	r->sq = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	r->cq = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sq == MAP_FAILED || r->cq == MAP_FAILED || r->sqes == MAP_FAILED) {
		close(r->fd);
		return -1;
	}
	return 0;
}

static inline void ring_close(struct ring *r)
{
	munmap(r->sq, r->sq_len);
	munmap(r->cq, r->cq_len);
	munmap(r->sqes, r->sqes_len);
	close(r->fd);
}

// One read or write (op = IORING_OP_READ/WRITE/READ_FIXED/WRITE_FIXED),
// submitted and waited for; returns the CQE result (bytes or -errno).
static inline int ring_rw(struct ring *r, int op, int fd, void *buf, unsigned len, off_t off, int buf_index)
{
	unsigned *tail = (unsigned *)(r->sq + r->p.sq_off.tail);
	unsigned mask = *(unsigned *)(r->sq + r->p.sq_off.ring_mask);
	unsigned *array = (unsigned *)(r->sq + r->p.sq_off.array);
	unsigned t = atomic_load_explicit((_Atomic unsigned *)tail, memory_order_acquire);
	struct io_uring_sqe *s = &r->sqes[t & mask];
	memset(s, 0, sizeof(*s));
	s->opcode = op;
	s->fd = fd;
	s->addr = (uintptr_t)buf;
	s->len = len;
	s->off = off;
	s->buf_index = buf_index;
	array[t & mask] = t & mask;
	atomic_store_explicit((_Atomic unsigned *)tail, t + 1, memory_order_release);
	if (uring_enter(r->fd, 1, 1, IORING_ENTER_GETEVENTS) < 0)
		return -errno;
	unsigned *head = (unsigned *)(r->cq + r->p.cq_off.head);
	unsigned cmask = *(unsigned *)(r->cq + r->p.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(r->cq + r->p.cq_off.cqes);
	unsigned h = atomic_load_explicit((_Atomic unsigned *)head, memory_order_acquire);
	int res = cqes[h & cmask].res;
	atomic_store_explicit((_Atomic unsigned *)head, h + 1, memory_order_release);
	return res;
}

static inline const char *errname(int e)
{
	switch (e) {
	case 0: return "ok";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	case EBUSY: return "EBUSY";
	case EPERM: return "EPERM";
	case ENXIO: return "ENXIO";
	case ENODEV: return "ENODEV";
	case EIO: return "EIO";
	case EAGAIN: return "EAGAIN";
	case ENOSYS: return "ENOSYS";
	default: return "other";
	}
}

#endif
