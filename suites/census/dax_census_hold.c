// SPDX-License-Identifier: GPL-2.0
/*
 * dax_census_hold: maps one page of a (DAX) file, touches it, and asks the
 * dax_census_fixture module to take a reference on it through this process's
 * page tables; then unmaps and exits. The reference stays behind: that is the
 * deliberate leak the census must catch.
 *
 *   dax_census_hold --file PATH [--offset BYTES] [--knob PATH] [--sleep SECONDS]
 *
 * --sleep keeps the mapping for that long first: on kernels before 6.15 a
 * truncate only waits for busy pages of a file that is still mapped, so this
 * is how a task gets stuck on the leaked reference there.
 *
 * Prints "held file=... offset=... addr=0x..." and exits 0, or a reason and 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what)
{
	printf("result=fail reason=%s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	const char *file = NULL, *knob = "/sys/kernel/debug/dax_census_fixture/hold";
	long page = sysconf(_SC_PAGESIZE);
	off_t offset = 0;
	unsigned int hold_secs = 0;
	char buf[64];
	int i, fd, kfd, n;
	size_t len;
	struct stat st;
	char *p;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--file"))
			file = argv[i + 1];
		else if (!strcmp(argv[i], "--offset"))
			offset = strtoll(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--knob"))
			knob = argv[i + 1];
		else if (!strcmp(argv[i], "--sleep"))
			hold_secs = (unsigned int)strtoul(argv[i + 1], NULL, 0);
		else
			break;
	}
	if (!file || i != argc || offset % page) {
		fprintf(stderr, "usage: dax_census_hold --file PATH [--offset BYTES (page aligned)] [--knob PATH] [--sleep SECONDS]\n");
		return 2;
	}
	fd = open(file, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || fstat(fd, &st))
		return fail("open");
	if (S_ISCHR(st.st_mode)) {
		/*
		 * device-dax: no write(2), and mappings must be multiples of the
		 * device alignment; 2 MiB covers the 4K and 2M alignments.
		 */
		len = 2UL << 20;
	} else {
		/* Real blocks, not a hole: a hole maps the shared zero page, not pmem. */
		len = page;
		memset(buf, 0x5a, sizeof(buf));
		if (pwrite(fd, buf, sizeof(buf), offset) != (ssize_t)sizeof(buf) || fsync(fd))
			return fail("pwrite");
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
	if (p == MAP_FAILED)
		return fail("mmap");
	p[1] = 0x33; /* write fault: a writable DAX pte for GUP-fast to find */
	kfd = open(knob, O_WRONLY);
	if (kfd < 0)
		return fail("open knob");
	n = snprintf(buf, sizeof(buf), "%#lx\n", (unsigned long)p);
	if (write(kfd, buf, n) != n)
		return fail("write knob");
	close(kfd);
	printf("held file=%s offset=%lld addr=%p\n", file, (long long)offset, (void *)p);
	fflush(stdout);
	if (hold_secs)
		sleep(hold_secs);
	munmap(p, len);
	close(fd);
	return 0;
}
