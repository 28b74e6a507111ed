// S8 pipe_pin: vmsplice() DAX-mapped pages into a pipe, so the pipe holds
// page references, then punch a hole over (or truncate) that range from
// another thread. The layout break must wait for the pipe to drop its
// references: the punch may not finish while the pipe is full; once the pipe
// is drained (or closed) it must finish, and what came out of the pipe must
// be the pre-punch pattern. Variants per round: drain, tee (a second pipe
// also holds the pages; both are drained) and close (the pipe is closed
// unread). --hold-ms is how long the pipe holds the pages.
//
// The mapping stays in place during the punch. --variant unmapped unmaps it
// first, so only the pipe holds the pages: kernels before the 6.15 refcount
// series skip the wait when the file is no longer mapped
// (dax_layout_busy_page_range checks mapping_mapped), measured here on 6.1.
// --expect blocks|noblock|any says what the runner expects of this kernel.
#include "common.h"

#define NPAGES 16

static int fd;
static atomic_int punched;
static double punch_end;
static int use_truncate;

static void *puncher(void *a)
{
	(void)a;
	int rc = use_truncate ? ftruncate(fd, 0) : fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PMD);
	if (rc)
		fail("%s: %s", use_truncate ? "ftruncate" : "punch hole", strerror(errno));
	punch_end = now_s();
	atomic_store(&punched, 1);
	return NULL;
}

static int drain(int rfd, uint64_t gen, const char *which)
{
	char b[PAGE];
	for (int i = 0; i < NPAGES; i++) {
		size_t got = 0;
		while (got < PAGE) {
			ssize_t n = read(rfd, b + got, PAGE - got);
			if (n <= 0) {
				fail("%s: read from the pipe: %s", which, n ? strerror(errno) : "EOF");
				return -1;
			}
			got += n;
		}
		size_t off = (size_t)i * (PMD / NPAGES);
		if (check(b, PAGE, off, gen) >= 0) {
			fail("%s: page %d from the pipe is not the pre-punch pattern", which, i);
			return -1;
		}
	}
	return 0;
}

static const char *variants[] = { "drain", "tee", "close" };

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	const char *expect = O.expect ? O.expect : "blocks";
	kv("expect=%s", expect);
	clock_start();
	uint64_t rounds = 0, blocked = 0;
	double max_wait = 0;
	while (keep_going(rounds)) {
		const char *v = O.variant ? O.variant : variants[rounds % 3];
		use_truncate = rounds % 2;
		uint64_t gen = rounds + 1;
		if ((fd = open_file(O.file, O.size, 1)) < 0)
			break;
		char *m = map_shared(fd, O.size, PMD, 0, 0);
		if (m == MAP_FAILED) {
			fail("mmap: %s", strerror(errno));
			break;
		}
		fill(m, PMD, 0, gen);
		int p[2], q[2] = { -1, -1 };
		if (pipe(p) || (!strcmp(v, "tee") && pipe(q))) {
			fail("pipe: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < NPAGES; i++) {
			struct iovec iov = { m + (size_t)i * (PMD / NPAGES), PAGE };
			if (vmsplice(p[1], &iov, 1, 0) != (ssize_t)PAGE) {
				fail("vmsplice: %s", strerror(errno));
				break;
			}
		}
		if (!strcmp(v, "tee") && tee(p[0], q[1], NPAGES * PAGE, 0) != (ssize_t)(NPAGES * PAGE))
			fail("tee: %s", strerror(errno));
		int unmapped = !strcmp(v, "unmapped");
		if (unmapped)
			munmap(m, O.size);
		if (failed)
			break;
		atomic_store(&punched, 0);
		pthread_t t;
		double t0 = now_s();
		pthread_create(&t, NULL, puncher, NULL);
		sleep_ms(O.hold_ms);
		int was_blocked = !atomic_load(&punched);
		blocked += was_blocked;
		if (!strcmp(expect, "blocks"))
			CHECK(was_blocked, "%s (%s): %s finished while the pipe held page references", v,
			      use_truncate ? "truncate" : "punch", use_truncate ? "truncate" : "punch hole");
		if (!strcmp(expect, "noblock"))
			CHECK(!was_blocked, "%s: %s waited for the pipe, which this kernel was not expected to do", v,
			      use_truncate ? "truncate" : "punch hole");
		double release = now_s();
		if (!strcmp(v, "close")) {
			// Both ends: the buffers (and their page refs) go with the pipe.
			close(p[0]);
			close(p[1]);
			p[0] = p[1] = -1;
		} else if (unmapped && !was_blocked) {
			// The blocks were freed under the pipe: its bytes are whatever the
			// freed blocks hold now, so they are drained but not judged.
			char b[PAGE];
			for (int i = 0; i < NPAGES; i++)
				if (read(p[0], b, PAGE) != (ssize_t)PAGE)
					break;
		} else {
			drain(p[0], gen, "pipe");
			if (q[0] >= 0) {
				CHECK(!atomic_load(&punched) || strcmp(expect, "blocks"), "tee: punch finished with the second pipe still full");
				drain(q[0], gen, "tee pipe");
			}
		}
		// Released: the punch must now finish (bounded wait, then give up).
		while (!atomic_load(&punched) && now_s() - release < 20)
			sleep_ms(5);
		if (!atomic_load(&punched)) {
			fail("%s: %s still blocked 20 s after the pipe released its pages", v, use_truncate ? "truncate" : "punch");
			fflush(stdout);
			_exit(1);
		}
		pthread_join(t, NULL);
		if (!unmapped)
			munmap(m, O.size);
		if (punch_end - t0 > max_wait)
			max_wait = punch_end - t0;
		uint64_t w = 1;
		if (!use_truncate && pread(fd, &w, 8, 0) == 8)
			CHECK(w == 0, "punched range still holds data (%#llx)", (unsigned long long)w);
		for (int i = 0; i < 2; i++) {
			if (p[i] >= 0)
				close(p[i]);
			if (q[i] >= 0)
				close(q[i]);
		}
		close(fd);
		rounds++;
	}
	kv("rounds=%llu punches_blocked=%llu max_punch_ms=%.0f hold_ms=%ld", (unsigned long long)rounds,
	   (unsigned long long)blocked, max_wait * 1000, O.hold_ms);
	unlink(O.file);
	return finish();
}
