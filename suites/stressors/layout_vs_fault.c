// S9 layout_vs_fault: DAX faults and DAX read/write(2) from a mapping race
// against layout changes of the mapped file (in the spirit of xfstests'
// t_mmap_collision and generic/437). Faulters read and write through a
// 2 MiB-aligned mapping of file A; copiers pwrite from A's mapping into file
// B and pread from B into A's mapping (the copy faults A's pages while the
// filesystem holds B's locks); a layout thread loops punch-hole, zero-range,
// collapse-range, insert-range, truncate down/up and unshare-range on A.
// SIGBUS beyond a temporary EOF is expected. While racing, every word seen
// must be zero or a word this run wrote (no stale or foreign data); after
// each round the file is rewritten through the mapping and must read back
// exactly, and every syscall must have returned.
#include "common.h"

static int fa, fb;
static char *map;
static atomic_int stop;
static atomic_long ops[8], op_err, sigbus_hits, words_seen;
static const char *op_names[] = { "punch", "zero", "collapse", "insert", "truncate", "unshare", "faults", "copies" };

static void *layout(void *a)
{
	(void)a;
	uint64_t rs = O.seed * 5;
	while (!atomic_load(&stop) && !failed) {
		int op = rnd(&rs) % 6;
		// Layout ops at PMD-aligned offsets keep collapse/insert legal for
		// both filesystems (block-aligned) and hit whole PMD entries.
		off_t off = (rnd(&rs) % (O.size / PMD - 1)) * PMD;
		int rc = 0;
		switch (op) {
		case 0: rc = fallocate(fa, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, PMD); break;
		case 1: rc = fallocate(fa, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, PMD); break;
		case 2: // collapse shrinks the file by a PMD; insert grows it back
			rc = fallocate(fa, FALLOC_FL_COLLAPSE_RANGE, off, PMD);
			if (!rc)
				rc = fallocate(fa, FALLOC_FL_INSERT_RANGE, off, PMD);
			break;
		case 3:
			rc = ftruncate(fa, O.size + PMD);
			if (!rc)
				rc = fallocate(fa, FALLOC_FL_INSERT_RANGE, off, PMD);
			if (!rc)
				rc = ftruncate(fa, O.size);
			break;
		case 4:
			rc = ftruncate(fa, off + PAGE);
			if (!rc)
				rc = ftruncate(fa, O.size);
			break;
		case 5: rc = fallocate(fa, FALLOC_FL_UNSHARE_RANGE, off, PMD); break;
		}
		if (rc && errno != EOPNOTSUPP)
			atomic_fetch_add(&op_err, 1);
		atomic_fetch_add(&ops[op], 1);
		// The file must be back at full size before the next op.
		struct stat st;
		if (fstat(fa, &st) == 0 && (size_t)st.st_size != O.size && ftruncate(fa, O.size))
			fail("ftruncate back to size: %s", strerror(errno));
	}
	return NULL;
}

static void *faulter(void *a)
{
	struct worker *w = a;
	uint64_t rs = O.seed * 11 + w->id;
	while (!atomic_load(&stop) && !failed) {
		size_t off = (rnd(&rs) % (O.size / PAGE)) * PAGE;
		uint64_t v;
		int code = guarded_read((volatile uint64_t *)(map + off), &v);
		if (code) {
			atomic_fetch_add(&sigbus_hits, 1);
			continue;
		}
		atomic_fetch_add(&words_seen, 1);
		if (!plausible(v))
			fail("fault read at %zu returned %#llx: neither zero nor a word this run wrote", off, (unsigned long long)v);
		if (rnd(&rs) % 2 && guarded_write((volatile uint64_t *)(map + off), pattern(off, 7, 0)))
			atomic_fetch_add(&sigbus_hits, 1);
		atomic_fetch_add(&ops[6], 1);
	}
	return NULL;
}

static void *copier(void *a)
{
	struct worker *w = a;
	uint64_t rs = O.seed * 23 + w->id;
	char *tmp = malloc(PMD);
	while (!atomic_load(&stop) && !failed) {
		size_t off = (rnd(&rs) % (O.size / PMD)) * PMD;
		size_t len = PAGE * (1 + rnd(&rs) % 64);
		// DAX write whose source is A's DAX mapping (faults under B's locks),
		// and the reverse. EFAULT (the source went past EOF) is fine.
		if (rnd(&rs) % 2) {
			ssize_t n = pwrite(fb, map + off, len, off);
			if (n > 0 && pread(fb, tmp, n, off) == n)
				for (ssize_t i = 0; i < n; i += PAGE)
					if (!plausible(*(uint64_t *)(tmp + i)))
						fail("B got a foreign word copied from A's mapping at %zu", off + i);
		} else {
			if (pread(fb, map + off, len, off) < 0 && errno != EFAULT)
				atomic_fetch_add(&op_err, 1);
		}
		atomic_fetch_add(&ops[7], 1);
	}
	free(tmp);
	return NULL;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "file");
	sigbus_install();
	if ((fa = open_file(O.file, O.size, 1)) < 0 || (fb = open_file(sibling("b"), O.size, 1)) < 0)
		return finish();
	map = map_shared(fa, O.size, PMD, 0, 0);
	if (map == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return finish();
	}
	clock_start();
	uint64_t rounds = 0;
	while (keep_going(rounds)) {
		uint64_t gen = 100 + rounds;
		fill(map, O.size, 0, gen);
		long b0 = check(map, O.size, 0, gen);
		CHECK(b0 < 0, "mapping does not read back its own write at %ld before the race", b0);
		atomic_store(&stop, 0);
		int nf = O.threads > 2 ? O.threads - 2 : 1;
		struct worker fw[64] = { 0 }, cw[2] = { 0 };
		pthread_t lt;
		pthread_create(&lt, NULL, layout, NULL);
		for (int i = 0; i < nf; i++) {
			fw[i].id = i;
			pthread_create(&fw[i].th, NULL, faulter, &fw[i]);
		}
		for (int i = 0; i < 2; i++) {
			cw[i].id = i;
			pthread_create(&cw[i].th, NULL, copier, &cw[i]);
		}
		// Rounds are short so there are several quiesce-and-check points.
		double t0 = now_s();
		while (now_s() - t0 < (O.seconds > 2 ? 1.0 : O.seconds / 2 + 0.05) && !failed)
			sleep_ms(10);
		atomic_store(&stop, 1);
		pthread_join(lt, NULL);
		for (int i = 0; i < nf; i++)
			pthread_join(fw[i].th, NULL);
		for (int i = 0; i < 2; i++)
			pthread_join(cw[i].th, NULL);
		if (failed)
			break;
		// Quiesced: the whole file through the mapping, then through pread.
		fill(map, O.size, 0, gen + 1000);
		long bad = check_file(fa, O.size, 0, gen + 1000);
		CHECK(bad < 0, "after the race, a write through the mapping at %ld is not in the file", bad);
		rounds++;
	}
	for (int i = 0; i < 8; i++)
		printf("%s=%ld ", op_names[i], atomic_load(&ops[i]));
	kv("op_errors=%ld sigbus=%ld", atomic_load(&op_err), atomic_load(&sigbus_hits));
	kv("rounds=%llu words_checked=%ld", (unsigned long long)rounds, atomic_load(&words_seen));
	munmap(map, O.size);
	close(fa);
	close(fb);
	unlink(sibling("b"));
	unlink(O.file);
	return finish();
}
