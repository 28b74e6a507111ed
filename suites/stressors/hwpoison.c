// S12 hwpoison: software memory-failure injection on DAX pages with
// madvise(MADV_HWPOISON) (needs CAP_SYS_ADMIN and CONFIG_MEMORY_FAILURE),
// on a PTE-mapped page and on a page inside a PMD mapping, on fsdax files
// (xfs: the holder's notify_failure; ext4: the generic path) and on
// device-dax. The correct answer: the mapper gets SIGBUS (BUS_MCEERR_AR/AO)
// or madvise fails cleanly, the rest of the data is intact, and no
// reference is left behind (the runner's umount and census see to that).
// On files, a pwrite over the poisoned page is then tried (the recovery
// write) and must not return wrong data if it succeeds.
//
// Each injection runs in a child process, so a kernel that kills the mapper
// outright (SIGKILL when it cannot unmap) is reported rather than fatal.
// Poison sticks to the struct page until the namespace is re-enabled, so a
// run does one pass only, whatever --seconds says.
#include "common.h"

#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif
#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#define BUS_MCEERR_AO 5
#endif

static int fd;
static size_t len, align = PMD;

// In the child: map, fill, poison the page at `off` through a mapping that
// is PMD-aligned (pmd=1) or skewed (PTE). Exit code: 0 SIGBUS seen,
// 1 madvise returned without SIGBUS, 2 madvise failed, 3 setup failed,
// 4 other data damaged.
static int inject(size_t off, int pmd, uint64_t gen)
{
	// Device-dax refuses a VA that breaks its alignment: there the "pte"
	// case is simply a second page of an aligned mapping.
	if (O.dev)
		pmd = 1;
	char *m = pmd ? map_shared(fd, len, align, 0, 0) : map_shared(fd, len - align, align, PAGE, 0);
	if (m == MAP_FAILED)
		return 3;
	size_t mlen = pmd ? len : len - align;
	fill(m, mlen, 0, gen);
	if (check(m, mlen, 0, gen) >= 0)
		return 4;
	sigjmp_buf jb;
	volatile int rc = -1, e = 0;
	if (sigsetjmp(jb, 1) == 0) {
		bus_jmp = &jb;
		rc = madvise(m + off, PAGE, MADV_HWPOISON);
		e = errno;
		bus_jmp = NULL;
	} else {
		bus_jmp = NULL;
		printf("%s_sigbus_code=%s\n", off < align ? "pte" : "pmd",
		       bus_code == BUS_MCEERR_AR ? "BUS_MCEERR_AR" : bus_code == BUS_MCEERR_AO ? "BUS_MCEERR_AO" : "other");
		rc = 0;
		e = -1; // marks "SIGBUS seen"
	}
	if (rc && e != -1) {
		printf("%s_madvise=%s\n", off < align ? "pte" : "pmd", errname(e));
		return e == EPERM ? 5 : 2;
	}
	// Everything but the poisoned page must still be the pattern (read
	// through the mapping, whose poisoned page may SIGBUS: guarded).
	for (size_t o = 0; o < mlen; o += PAGE) {
		if (o == off)
			continue;
		uint64_t v;
		int code = guarded_read((volatile uint64_t *)(m + o), &v);
		if (!code && v != pattern(o, gen, 0))
			return 4;
	}
	return e == -1 ? 0 : 1;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "either");
	sigbus_install();
	if (geteuid() != 0)
		skip("MADV_HWPOISON needs CAP_SYS_ADMIN (run as root)");
	if (O.dev) {
		struct devdax d;
		if (open_devdax(O.dev, &d))
			return finish();
		fd = d.fd;
		align = d.align < PMD ? PMD : d.align;
		len = 2 * align;
	} else {
		len = O.size < 4 * PMD ? 4 * PMD : O.size;
		if ((fd = open_file(O.file, len, 1)) < 0)
			return finish();
	}
	struct {
		const char *name;
		size_t off;
		int pmd;
	} cases[] = { { "pte", 3 * PAGE, 0 }, { "pmd", align + 7 * PAGE, 1 } };
	int sigbus = 0;
	for (int i = 0; i < 2 && !failed; i++) {
		fflush(stdout);
		pid_t p = fork();
		if (p == 0)
			_exit(inject(cases[i].off, cases[i].pmd, i + 1));
		int st;
		waitpid(p, &st, 0);
		const char *how = WIFSIGNALED(st) ? "killed" : "exited";
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
		kv("%s_child=%s:%d", cases[i].name, how, code);
		if (WIFSIGNALED(st)) {
			fail("%s: the mapper was killed by signal %d instead of getting a handled SIGBUS", cases[i].name, code);
			break;
		}
		switch (code) {
		case 0: sigbus++; break;
		case 1: break; // poisoned without a synchronous signal: allowed (action optional)
		case 5: skip("MADV_HWPOISON refused: EPERM");
		case 2:
			// EINVAL/ENXIO: this kernel cannot poison this kind of page.
			// That is a kernel answer, reported for the manifest to judge.
			fail("%s: MADV_HWPOISON failed (see %s_madvise)", cases[i].name, cases[i].name);
			break;
		case 3: fail("%s: mmap failed in the child", cases[i].name); break;
		case 4: fail("%s: data outside the poisoned page was damaged", cases[i].name); break;
		default: fail("%s: child exited %d", cases[i].name, code);
		}
		if (O.file && !failed) {
			// Recovery write over the poisoned page, then read it back.
			char buf[PAGE];
			fill_buf(buf, PAGE, cases[i].off, 99);
			ssize_t n = pwrite(fd, buf, PAGE, cases[i].off);
			kv("%s_recovery_write=%s", cases[i].name, n == (ssize_t)PAGE ? "ok" : errname(errno));
			if (n == (ssize_t)PAGE) {
				ssize_t r = pread(fd, buf, PAGE, cases[i].off);
				kv("%s_read_after_recovery=%s", cases[i].name, r == (ssize_t)PAGE ? "ok" : errname(errno));
				if (r == (ssize_t)PAGE)
					CHECK(check(buf, PAGE, cases[i].off, 99) < 0, "%s: recovery write succeeded but reads back wrong", cases[i].name);
			}
		}
	}
	kv("sigbus_delivered=%d", sigbus);
	close(fd);
	if (O.file)
		unlink(O.file);
	return finish();
}
