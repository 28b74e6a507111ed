// S13 teardown: tearing down what DAX pages hang off while they are in use.
// The namespace operations (daxctl disable-device, ndctl create-namespace
// cycling between fsdax and devdax, -M mem and dev) are driven by the
// harness around this program; this program does the parts that need a
// live mapping or page reference at the moment of teardown.
//
// fsdax (--file F --mnt M), phases chosen with --variant (comma list):
//   lazy  map F and write it; umount(M) must fail EBUSY; umount -l must
//         succeed; the mapping must keep working (reads the pattern, takes a
//         new write) until it is dropped. Then M is mounted again as it was.
//   pipe  a child vmsplices F's pages into a pipe, unmaps and closes F and
//         holds the pipe for --hold-ms; meanwhile umount(M) runs. From the
//         6.15 refcount series on, umount waits in dax_break_layout_final
//         until the pipe lets go (--expect blocks); before it, it does not
//         wait and the kernel WARNs in dax_disassociate_entry. The pipe's
//         bytes must be the pattern either way. M is mounted again after.
// device-dax (--dev D), variant revoke: map D, write it, print ready=1 and
// wait for the harness to unbind the device (its sysfs driver link goes);
// then an access must SIGBUS (dax_alive is false) and never return data.
#include "common.h"
#include <sys/mount.h>

static char mdev[256], mtype[32];

// Find how M is mounted, to mount it again the same way after unmounting.
static int mount_info(void)
{
	FILE *f = fopen("/proc/mounts", "r");
	char dev[256], dir[256], type[32], opts[512];
	int found = 0;
	while (f && fscanf(f, "%255s %255s %31s %511s %*d %*d", dev, dir, type, opts) == 4)
		if (!strcmp(dir, O.mnt)) {
			snprintf(mdev, sizeof(mdev), "%s", dev);
			snprintf(mtype, sizeof(mtype), "%s", type);
			found = 1;
		}
	if (f)
		fclose(f);
	return found ? 0 : -1;
}

static int remount(void)
{
	if (mount(mdev, O.mnt, mtype, 0, "dax")) {
		fail("mount %s on %s again: %s", mdev, O.mnt, strerror(errno));
		return -1;
	}
	return 0;
}

static void lazy(uint64_t gen)
{
	int fd = open_file(O.file, O.size, 1);
	if (fd < 0)
		return;
	char *m = map_shared(fd, O.size, PMD, 0, 0);
	if (m == MAP_FAILED) {
		fail("mmap: %s", strerror(errno));
		return;
	}
	fill(m, O.size, 0, gen);
	int rc = umount2(O.mnt, 0);
	kv("umount_with_live_mapping=%s", rc ? errname(errno) : "ok");
	CHECK(rc && errno == EBUSY, "umount with a live mapping: %s, EBUSY expected", rc ? strerror(errno) : "succeeded");
	if (!rc) {
		remount();
		return;
	}
	rc = umount2(O.mnt, MNT_DETACH);
	CHECK(rc == 0, "umount -l with a live mapping: %s", strerror(errno));
	long bad = check(m, O.size, 0, gen);
	CHECK(bad < 0, "mapping lost data after umount -l at %ld", bad);
	fill(m, O.size, 0, gen + 1);
	CHECK(check_file(fd, O.size, 0, gen + 1) < 0, "write through the mapping after umount -l not in the file");
	munmap(m, O.size);
	close(fd);
	// The detached filesystem goes away once the file is closed; mounting
	// the device again gets the same superblock or a fresh one: either way
	// the file must hold the last write.
	if (remount())
		return;
	fd = open(O.file, O_RDONLY);
	CHECK(fd >= 0 && check_file(fd, O.size, 0, gen + 1) < 0, "after umount -l and mount, the file lost the last write");
	if (fd >= 0)
		close(fd);
	unlink(O.file);
}

static void pipe_hold(uint64_t gen)
{
	int ready[2], p[2];
	if (pipe(ready) || pipe(p)) {
		fail("pipe: %s", strerror(errno));
		return;
	}
	pid_t kid = fork();
	if (kid == 0) {
		close(ready[0]);
		int fd = open_file(O.file, PMD, 1);
		char *m = fd < 0 ? MAP_FAILED : map_shared(fd, PMD, PMD, 0, 0);
		if (m == MAP_FAILED)
			_exit(3);
		fill(m, PMD, 0, gen);
		for (int i = 0; i < 16; i++) {
			struct iovec iov = { m + i * (PMD / 16), PAGE };
			if (vmsplice(p[1], &iov, 1, 0) != (ssize_t)PAGE)
				_exit(4);
		}
		munmap(m, PMD);
		close(fd);
		unlink(O.file); // only the pipe references the blocks now
		if (write(ready[1], "r", 1) != 1)
			_exit(5);
		sleep_ms(O.hold_ms);
		char b[PAGE];
		for (int i = 0; i < 16; i++) {
			if (read(p[0], b, PAGE) != (ssize_t)PAGE)
				_exit(6);
			if (check(b, PAGE, i * (PMD / 16), gen) >= 0)
				_exit(7);
		}
		_exit(0);
	}
	close(ready[1]);
	close(p[1]);
	char c;
	if (read(ready[0], &c, 1) != 1) {
		fail("pipe child did not get ready");
		waitpid(kid, NULL, 0);
		return;
	}
	double t0 = now_s();
	int rc = umount2(O.mnt, 0);
	double took = now_s() - t0;
	int e = errno;
	char why[96];
	int krc = reap(kid, why, sizeof(why));
	kv("umount_with_pipe_refs=%s umount_ms=%.0f hold_ms=%ld", rc ? errname(e) : "ok", took * 1000, O.hold_ms);
	CHECK(rc == 0, "umount while a pipe held page references: %s", strerror(e));
	const char *expect = O.expect ? O.expect : "any";
	if (!strcmp(expect, "blocks"))
		CHECK(took * 1000 >= O.hold_ms * 0.8, "umount finished in %.0f ms while the pipe held pages for %ld ms", took * 1000, O.hold_ms);
	if (!strcmp(expect, "noblock"))
		CHECK(took * 1000 < O.hold_ms * 0.8, "umount waited %.0f ms, not expected of this kernel", took * 1000);
	CHECK(krc == 0, "pipe child: %s (6: short read, 7: pipe bytes are not the pattern)", why);
	close(p[0]);
	close(ready[0]);
	if (rc == 0)
		remount();
}

static void devdax_revoke(uint64_t gen)
{
	struct devdax d;
	if (open_devdax(O.dev, &d))
		return;
	size_t len = d.align > PMD ? d.align : 2 * PMD;
	char *m = map_shared(d.fd, len, d.align, 0, 0);
	if (m == MAP_FAILED) {
		fail("mmap %s: %s", O.dev, strerror(errno));
		return;
	}
	fill(m, len, 0, gen);
	CHECK(check(m, len, 0, gen) < 0, "device-dax pattern wrong before revoke");
	const char *name = strrchr(O.dev, '/') + 1;
	char drv[256];
	snprintf(drv, sizeof(drv), "/sys/bus/dax/devices/%s/driver", name);
	kv("ready=1");
	fflush(stdout);
	double t0 = now_s();
	while (access(drv, F_OK) == 0 && now_s() - t0 < 60)
		sleep_ms(20);
	if (access(drv, F_OK) == 0) {
		fail("the device was not unbound within 60 s (the harness drives that)");
		return;
	}
	kv("unbound_after_ms=%.0f", (now_s() - t0) * 1000);
	uint64_t v = 0;
	int code = guarded_read((volatile uint64_t *)m, &v);
	kv("access_after_revoke=%s", code ? "SIGBUS" : "data");
	CHECK(code, "a revoked device-dax mapping still returned data (%#llx)", (unsigned long long)v);
	munmap(m, len);
	close(d.fd);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv, "either");
	sigbus_install();
	const char *v = O.variant ? O.variant : O.dev ? "revoke" : "lazy";
	if (O.file && (!O.mnt || mount_info())) {
		fail("--mnt must name the mount point the file is on");
		return finish();
	}
	if (O.dev) {
		devdax_revoke(1);
		return finish();
	}
	// One pass: the phases take the filesystem down, --seconds does not apply.
	if (strstr(v, "lazy"))
		lazy(1);
	if (strstr(v, "pipe") && !failed)
		pipe_hold(2);
	return finish();
}
