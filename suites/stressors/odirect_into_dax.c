// S5 odirect_into_dax: O_DIRECT I/O against a non-DAX target whose buffer
// is a DAX mapping, so the block layer pins DAX pages (pin_user_pages_fast,
// GUP-fast on PMD and PTE leaves, the slow path when unfaulted) and unpins
// them at completion.
//
// The non-DAX target is the raw block device under the DAX filesystem
// (--raw /dev/pmemN), addressed only at the data blocks of a file of ours
// (found with FIEMAP), so raw-device I/O reads and writes that file's bytes
// and never touches filesystem metadata. Reads from the device into the DAX
// buffer must produce the file's pattern; writes from the DAX buffer to the
// device must show up when the file is read back through the filesystem.
//
// Buffer states: unfaulted, read-faulted, write-faulted; mappings: 2 MiB
// aligned (PMD) and 4 KiB skewed (PTE); engines: pread/pwrite and io_uring
// IORING_OP_READ/WRITE (not fixed buffers).
#include "common.h"

#define UNIT (256 * 1024UL)

static int src, buf_fd, raw;
static size_t len;
static long long phys[1024]; // device offset of each UNIT of the source file
static struct ring ring;
static int have_ring;

static int map_units(void)
{
	for (size_t u = 0; u < len / UNIT; u++) {
		phys[u] = fiemap_phys(src, u * UNIT, UNIT, NULL);
		if (phys[u] < 0) {
			fail("FIEMAP: source unit at %zu is not one written extent", u * UNIT);
			return -1;
		}
	}
	return 0;
}

static ssize_t io(int write, int uring, char *buf, size_t u)
{
	if (uring)
		return ring_rw(&ring, write ? IORING_OP_WRITE : IORING_OP_READ, raw, buf, UNIT, phys[u], 0);
	return write ? pwrite(raw, buf, UNIT, phys[u]) : pread(raw, buf, UNIT, phys[u]);
}

static const char *states[] = { "unfaulted", "readfaulted", "writefaulted" };

// One case: prepare the buffer state, move the whole file through the raw
// device in one direction, check the bytes on the other side.
static void one_case(char *map, const char *gran, int state, int write, int uring, uint64_t gen)
{
	char what[96];
	snprintf(what, sizeof(what), "%s %s %s %s", write ? "write" : "read", gran, states[state], uring ? "io_uring" : "sync");
	if (write) // the buffer carries the new pattern; the file gets it via the device
		fill(map, len, 0, gen);
	if (state == 0)
		madvise(map, len, MADV_DONTNEED);
	else if (state == 1)
		(void)check(map, len, 0, 0);
	else
		for (size_t o = 0; o < len; o += PAGE)
			map[o] = map[o];
	for (size_t u = 0; u < len / UNIT && !failed; u++) {
		ssize_t n = io(write, uring, map + u * UNIT, u);
		if (n != (ssize_t)UNIT)
			fail("%s: unit %zu: %s", what, u, n < 0 ? strerror(uring ? (int)-n : errno) : "short I/O");
	}
	if (failed)
		return;
	long bad = write ? check_file(src, len, 0, gen) : check(map, len, 0, gen);
	CHECK(bad < 0, "%s: %s at offset %ld", what, write ? "file does not hold the buffer's bytes" : "DAX buffer does not hold the device's bytes", bad);
	if (!write) {
		bad = check_file(buf_fd, len, 0, gen);
		CHECK(bad < 0, "%s: buffer file (pread) differs after the O_DIRECT read at %ld", what, bad);
	}
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	if (!O.raw)
		skip("no non-DAX block device given (--raw)");
	len = O.size / 2;
	if (len > sizeof(phys) / sizeof(phys[0]) * UNIT)
		len = sizeof(phys) / sizeof(phys[0]) * UNIT;
	raw = open(O.raw, O_RDWR | O_DIRECT);
	if (raw < 0) {
		fail("open %s O_DIRECT: %s", O.raw, strerror(errno));
		return finish();
	}
	if ((src = open_file(sibling("src"), len, 0)) < 0 || (buf_fd = open_file(O.file, len, 1)) < 0)
		return finish();
	// Written (not unwritten) extents, or raw-device reads would see stale bytes.
	if (write_file(src, len, 0, 1) || fsync(src)) {
		fail("writing the source file: %s", strerror(errno));
		return finish();
	}
	if (map_units())
		return finish();
	have_ring = ring_open(&ring, 8) == 0;
	kv("io_uring=%s", have_ring ? "yes" : "no");
	char *pmdmap = map_shared(buf_fd, len, PMD, 0, 0);
	char *ptemap = map_shared(buf_fd, len, PMD, PAGE, 0);
	if (pmdmap == MAP_FAILED || ptemap == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return finish();
	}
	clock_start();
	uint64_t rounds = 0, cases = 0, gen = 1; // the source file holds gen 1
	while (keep_going(rounds)) {
		for (int g = 0; g < 2; g++)
			for (int st = 0; st < 3; st++)
				for (int ur = 0; ur <= have_ring; ur++) {
					char *m = g ? ptemap : pmdmap;
					// Read the file's current bytes into the DAX buffer ...
					one_case(m, g ? "PTE" : "PMD", st, 0, ur, gen);
					// ... then write a new generation from it into the file.
					one_case(m, g ? "PTE" : "PMD", st, 1, ur, ++gen);
					cases += 2;
					if (failed)
						goto out;
				}
		rounds++;
	}
out:
	kv("rounds=%llu cases=%llu bytes_per_case=%zu", (unsigned long long)rounds, (unsigned long long)cases, len);
	munmap(pmdmap, len);
	munmap(ptemap, len);
	if (have_ring)
		ring_close(&ring);
	close(src);
	close(buf_fd);
	close(raw);
	unlink(sibling("src"));
	unlink(O.file);
	return finish();
}
