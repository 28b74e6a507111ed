// S10 reflink_share: DAX pages shared between files by reflink. FICLONE A→B,
// map both 2 MiB-aligned and read-fault the same blocks through both (one
// DAX page, two file mappings); write B through its mapping (CoW, whole PMD
// and single pages) and check A is unchanged; FICLONERANGE of a 2 MiB and a
// 4 KiB range; FIDEDUPERANGE of a byte-identical copy; then unlink and
// truncate one side while the other stays mapped. Filesystems without
// reflink (ext4, xfs reflink=0) make this a skip, not a failure.
#include "common.h"

static void remap_check(const char *what, char *m, size_t len, uint64_t off, uint64_t gen)
{
	long bad = check(m, len, off, gen);
	CHECK(bad < 0, "%s: wrong data at offset %ld", what, bad < 0 ? 0 : (long)off + bad);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	size_t len = O.size;
	clock_start();
	uint64_t rounds = 0, cow_pages = 0, deduped = 0;
	while (keep_going(rounds)) {
		uint64_t g = rounds * 10 + 1;
		int a = open_file(O.file, len, 0), b = open_file(sibling("b"), 0, 0), c = open_file(sibling("c"), len, 0);
		if (a < 0 || b < 0 || c < 0)
			break;
		if (write_file(a, len, 0, g) || write_file(c, len, 0, g) || fsync(a) || fsync(c)) {
			fail("pwrite: %s", strerror(errno));
			break;
		}
		if (ioctl(b, FICLONE, a)) {
			if (errno == EOPNOTSUPP || errno == EINVAL || errno == EXDEV || errno == ENOTTY)
				skip("FICLONE: %s (no reflink on this filesystem)", strerror(errno));
			fail("FICLONE: %s", strerror(errno));
			break;
		}
		char *ma = map_shared(a, len, PMD, 0, 0), *mb = map_shared(b, len, PMD, 0, 0);
		if (ma == MAP_FAILED || mb == MAP_FAILED) {
			fail("mmap: %s", strerror(errno));
			break;
		}
		// Both mappings read-fault the shared blocks.
		remap_check("clone B via mapping", mb, len, 0, g);
		remap_check("source A via mapping", ma, len, 0, g);
		// CoW through B: the whole first PMD and every 8th page elsewhere.
		for (size_t off = 0; off < len; off += PAGE)
			if (off < PMD || (off / PAGE) % 8 == 0) {
				fill(mb + off, PAGE, off, g + 1);
				cow_pages++;
			}
		for (size_t off = 0; off < len && !failed; off += PAGE) {
			int cow = off < PMD || (off / PAGE) % 8 == 0;
			CHECK(check(mb + off, PAGE, off, cow ? g + 1 : g) < 0, "B after CoW at %zu: wrong %s data", off, cow ? "new" : "shared");
		}
		long bad = check_file(a, len, 0, g);
		CHECK(bad < 0, "A changed by a write to its clone at %ld", bad);
		remap_check("A's mapping after B's CoW", ma, len, 0, g);
		// FICLONERANGE: A's second PMD onto B's second PMD, and one 4 KiB block.
		struct file_clone_range r1 = { .src_fd = a, .src_offset = PMD, .src_length = PMD, .dest_offset = PMD };
		struct file_clone_range r2 = { .src_fd = a, .src_offset = 5 * PAGE, .src_length = PAGE, .dest_offset = 5 * PAGE };
		CHECK(ioctl(b, FICLONERANGE, &r1) == 0, "FICLONERANGE 2 MiB: %s", strerror(errno));
		CHECK(ioctl(b, FICLONERANGE, &r2) == 0, "FICLONERANGE 4 KiB: %s", strerror(errno));
		remap_check("B after FICLONERANGE 2 MiB", mb + PMD, PMD, PMD, g);
		remap_check("B after FICLONERANGE 4 KiB", mb + 5 * PAGE, PAGE, 5 * PAGE, g);
		// FIDEDUPERANGE: C is a byte-identical copy of A; dedupe it onto A.
		struct {
			struct file_dedupe_range r;
			struct file_dedupe_range_info i;
		} d = { .r = { .src_offset = 0, .src_length = len, .dest_count = 1 }, .i = { .dest_fd = c, .dest_offset = 0 } };
		if (ioctl(a, FIDEDUPERANGE, &d) == 0) {
			CHECK(d.i.status == FILE_DEDUPE_RANGE_SAME, "FIDEDUPERANGE status %d on identical data", d.i.status);
			deduped += d.i.bytes_deduped;
		} else
			fail("FIDEDUPERANGE: %s", strerror(errno));
		char *mc = map_shared(c, len, PMD, 0, 0);
		if (mc != MAP_FAILED) {
			remap_check("deduped C via mapping", mc, len, 0, g);
			fill(mc + 3 * PMD, PMD, 3 * PMD, g + 2); // CoW on a deduped extent
			CHECK(check_file(a, len, 0, g) < 0, "A changed by a write to a deduped copy");
			munmap(mc, len);
		}
		// Drop one side while the other is still mapped.
		close(b);
		unlink(sibling("b"));
		remap_check("A's mapping after B was unlinked", ma, len, 0, g);
		munmap(mb, len);
		CHECK(ftruncate(a, len / 2) == 0, "truncate A: %s", strerror(errno));
		remap_check("A's mapping after truncate", ma, len / 2, 0, g);
		munmap(ma, len);
		close(a);
		close(c);
		unlink(sibling("c"));
		rounds++;
	}
	kv("rounds=%llu cow_pages=%llu bytes_deduped=%llu", (unsigned long long)rounds, (unsigned long long)cow_pages,
	   (unsigned long long)deduped);
	unlink(O.file);
	unlink(sibling("b"));
	unlink(sibling("c"));
	return finish();
}
