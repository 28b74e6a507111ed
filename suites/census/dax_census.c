// SPDX-License-Identifier: GPL-2.0
/*
 * dax_census: a refcount census of ZONE_DEVICE (fsdax / device-dax) pages.
 *
 * After a test has unmounted its filesystem (or closed its device-dax
 * mapping) every page of the namespace should be idle. This module walks a
 * pfn range, holding the dev_pagemap of each part with get_dev_pagemap() so
 * the memmap cannot be torn down under us, and reports each page whose
 * reference count differs from the idle value, that still has ->mapping set,
 * or that still carries head/tail (compound) state when it should not.
 *
 * debugfs interface (/sys/kernel/debug/dax_census/):
 *   info      read: what this build knows (idle values, API variants).
 *   range     write "START END" (pfns, end exclusive, 0x.. or decimal);
 *             read the current range.
 *   expected  write "fsdax=N devdax=M" (either key may be left out) to
 *             override the idle values; read the values in force.
 *   dumps     write N: how many bad pages get a dump_page() (default 8).
 *   check     open+read: run the census, read its report (key=value lines).
 *
 * The first few bad pages are dump_page()d on the console between marker
 * lines "dax_census: dump ..." and "dax_census: dump end". They are dumped
 * with a NULL reason on purpose: the kernel then prints no "page dumped
 * because:" line, which is what crash oracles key a page-dump report on, so
 * a deliberate census dump is never mistaken for a kernel report.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/version.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/mutex.h>
#include <linux/mm.h>
#include <linux/memremap.h>
#include <linux/mmdebug.h>
#include <linux/uaccess.h>
#include <linux/sched.h>

/*
 * Idle refcount of an fsdax page. Before Alistair Popple's refcount series
 * (merged for 6.15) it is 1, after it 0. Kbuild reads the answer from the
 * tree's own include/linux/dax.h (dax_page_is_idle()) when it can, which also
 * covers a series applied on an older base; the version is the fallback.
 */
#ifndef DAX_CENSUS_HDR_FSDAX_IDLE
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#define DAX_CENSUS_FSDAX_IDLE 0
#else
#define DAX_CENSUS_FSDAX_IDLE 1
#endif
#define DAX_CENSUS_IDLE_SOURCE "version"
#else
#define DAX_CENSUS_FSDAX_IDLE DAX_CENSUS_HDR_FSDAX_IDLE
#define DAX_CENSUS_IDLE_SOURCE "dax.h"
#endif
/* device-dax (MEMORY_DEVICE_GENERIC) pages are reset to 1 when freed, on every version. */
#define DAX_CENSUS_DEVDAX_IDLE 1

/*
 * get_dev_pagemap() lost its cached-pgmap argument in 6.18 ("mm/memremap:
 * Remove unused get_dev_pagemap() parameter"). Kbuild looks at memremap.h;
 * the version is the fallback.
 */
#ifndef DAX_CENSUS_GDP_ARGS
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
#define DAX_CENSUS_GDP_ARGS 1
#else
#define DAX_CENSUS_GDP_ARGS 2
#endif
#endif

static struct dev_pagemap *census_get_pgmap(unsigned long pfn)
{
#if DAX_CENSUS_GDP_ARGS == 1
	return get_dev_pagemap(pfn);
#else
	return get_dev_pagemap(pfn, NULL);
#endif
}

#define CENSUS_MAX_LINES 16
#define CENSUS_BUF_SIZE 8192

static DEFINE_MUTEX(census_lock);
static unsigned long census_start, census_end;
static int census_exp_fsdax = DAX_CENSUS_FSDAX_IDLE;
static int census_exp_devdax = DAX_CENSUS_DEVDAX_IDLE;
static unsigned int census_dumps = 8;
static unsigned long census_runs;
static struct dentry *census_dir;

struct census_result {
	unsigned long checked, bad, ref_bad, mapping_bad, compound_bad;
	unsigned long mapped_devdax, tails, reserved, nopgmap, othertype;
	unsigned long fsdax, devdax, dumped, listed;
	char *buf;
	size_t len;
};

static void census_printf(struct census_result *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->len >= CENSUS_BUF_SIZE - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, CENSUS_BUF_SIZE - r->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len = min_t(size_t, r->len + n, CENSUS_BUF_SIZE - 1);
}

static const char *type_name(enum memory_type t)
{
	switch (t) {
	case MEMORY_DEVICE_FS_DAX:
		return "fsdax";
	case MEMORY_DEVICE_GENERIC:
		return "devdax";
	default:
		return "other";
	}
}

/* Check one page of a pgmap we hold a reference on. */
static void census_page(struct census_result *r, struct dev_pagemap *pgmap,
			unsigned long pfn)
{
	struct page *page = pfn_to_page(pfn);
	int ref = page_ref_count(page);
	bool head = PageHead(page), tail = PageTail(page);
	/* A tail's ->mapping holds the TAIL_MAPPING poison, not an owner. */
	bool has_mapping = !tail && READ_ONCE(page->mapping) != NULL;
	bool ref_bad = false, mapping_bad = false, compound_bad = false;
	int expected;

	r->checked++;
	if (pgmap->type == MEMORY_DEVICE_FS_DAX) {
		r->fsdax++;
		expected = census_exp_fsdax;
		/* An idle fsdax page is order-0 with no owner, on every version. */
		ref_bad = ref != expected;
		mapping_bad = has_mapping;
		compound_bad = head || tail;
	} else {
		r->devdax++;
		/*
		 * device-dax with an alignment above 4K builds its memmap as
		 * compound pages for good (vmemmap_shift): only the head carries
		 * the count, tails stay at 0. The driver sets ->mapping on the
		 * first fault and never clears it, so a set mapping is normal.
		 */
		if (tail && pgmap->vmemmap_shift) {
			r->tails++;
			expected = 0;
		} else {
			expected = census_exp_devdax;
		}
		ref_bad = ref != expected;
		if (has_mapping)
			r->mapped_devdax++;
		compound_bad = !pgmap->vmemmap_shift && (head || tail);
	}
	if (!ref_bad && !mapping_bad && !compound_bad)
		return;
	r->bad++;
	r->ref_bad += ref_bad;
	r->mapping_bad += mapping_bad;
	r->compound_bad += compound_bad;
	if (r->listed < CENSUS_MAX_LINES) {
		r->listed++;
		census_printf(r, "bad pfn=%#lx refcount=%d expected=%d mapping=%d head=%d tail=%d order=%u type=%s why=%s%s%s\n",
			      pfn, ref, expected, has_mapping, head, tail,
			      head ? compound_order(page) : 0, type_name(pgmap->type),
			      ref_bad ? "refcount," : "", mapping_bad ? "mapping," : "",
			      compound_bad ? "compound," : "");
	}
	if (r->dumped < census_dumps) {
		r->dumped++;
		pr_warn("dax_census: dump %lu pfn=%#lx refcount=%d expected=%d run=%lu (census finding, not a kernel report)\n",
			r->dumped, pfn, ref, expected, census_runs);
		dump_page(page, NULL);
		pr_warn("dax_census: dump end\n");
	}
}

static void census_run(struct census_result *r, unsigned long start, unsigned long end)
{
	unsigned long pfn = start;

	census_printf(r, "dax_census: begin run=%lu\n", census_runs);
	census_printf(r, "range start=%#lx end=%#lx\n", start, end);
	while (pfn < end) {
		struct dev_pagemap *pgmap = census_get_pgmap(pfn);
		unsigned long first = 0, stop = 0;
		int i;

		if (!pgmap) {
			r->nopgmap++;
			pfn++;
			if (!(pfn & 0xfff))
				cond_resched();
			continue;
		}
		for (i = 0; i < pgmap->nr_range; i++) {
			const struct range *rg = &pgmap->ranges[i];
			unsigned long lo = PHYS_PFN(rg->start), hi = PHYS_PFN(rg->end) + 1;

			if (pfn < lo || pfn >= hi)
				continue;
			first = lo;
			/*
			 * The first range of an altmap pgmap starts with the pfns
			 * that hold the memmap itself (and the info block): they
			 * have no initialised struct page to look at.
			 */
			if (i == 0 && (pgmap->flags & PGMAP_ALTMAP_VALID))
				first += pgmap->altmap.reserve + pgmap->altmap.free;
			stop = min(hi, end);
			census_printf(r, "pgmap type=%s start=%#lx end=%#lx first=%#lx vmemmap_shift=%lu\n",
				      type_name(pgmap->type), lo, hi, first,
				      (unsigned long)pgmap->vmemmap_shift);
			break;
		}
		if (!stop) {
			/* Indexed but in no range: skip it rather than guess. */
			r->nopgmap++;
			pfn++;
		} else if (pgmap->type != MEMORY_DEVICE_FS_DAX &&
			   pgmap->type != MEMORY_DEVICE_GENERIC) {
			r->othertype += stop - pfn;
			pfn = stop;
		} else {
			for (; pfn < stop; pfn++) {
				if (pfn < first) {
					r->reserved++;
					continue;
				}
				census_page(r, pgmap, pfn);
				if (!(pfn & 0xfff))
					cond_resched();
			}
		}
		put_dev_pagemap(pgmap);
	}
	census_printf(r, "summary checked=%lu bad=%lu refcount_bad=%lu mapping_bad=%lu compound_bad=%lu fsdax=%lu devdax=%lu devdax_tails=%lu devdax_mapped=%lu reserved=%lu nopgmap=%lu othertype=%lu dumped=%lu expected_fsdax=%d expected_devdax=%d\n",
		      r->checked, r->bad, r->ref_bad, r->mapping_bad, r->compound_bad,
		      r->fsdax, r->devdax, r->tails, r->mapped_devdax, r->reserved,
		      r->nopgmap, r->othertype, r->dumped, census_exp_fsdax, census_exp_devdax);
	census_printf(r, "dax_census: end\n");
}

/* check: the census runs once at open, so a re-read never re-dumps pages. */
static int check_open(struct inode *inode, struct file *file)
{
	struct census_result *r;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->buf = kzalloc(CENSUS_BUF_SIZE, GFP_KERNEL);
	if (!r->buf) {
		kfree(r);
		return -ENOMEM;
	}
	mutex_lock(&census_lock);
	census_runs++;
	if (census_end <= census_start)
		census_printf(r, "error: no range set: write \"START END\" pfns to range\n");
	else
		census_run(r, census_start, census_end);
	mutex_unlock(&census_lock);
	file->private_data = r;
	return 0;
}

static ssize_t check_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	struct census_result *r = file->private_data;

	return simple_read_from_buffer(ubuf, count, ppos, r->buf, r->len);
}

static int check_release(struct inode *inode, struct file *file)
{
	struct census_result *r = file->private_data;

	kfree(r->buf);
	kfree(r);
	return 0;
}

static const struct file_operations check_fops = {
	.owner = THIS_MODULE,
	.open = check_open,
	.read = check_read,
	.release = check_release,
	.llseek = default_llseek,
};

static ssize_t copy_line(char *kbuf, size_t size, const char __user *ubuf, size_t count)
{
	if (count == 0 || count >= size)
		return -EINVAL;
	if (copy_from_user(kbuf, ubuf, count))
		return -EFAULT;
	kbuf[count] = '\0';
	return count;
}

static ssize_t range_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char kbuf[64];
	unsigned long s, e;
	ssize_t n = copy_line(kbuf, sizeof(kbuf), ubuf, count);

	if (n < 0)
		return n;
	if (sscanf(kbuf, "%li %li", &s, &e) != 2 || e <= s)
		return -EINVAL;
	mutex_lock(&census_lock);
	census_start = s;
	census_end = e;
	mutex_unlock(&census_lock);
	return count;
}

static ssize_t range_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	char kbuf[64];
	int n = scnprintf(kbuf, sizeof(kbuf), "%#lx %#lx\n", census_start, census_end);

	return simple_read_from_buffer(ubuf, count, ppos, kbuf, n);
}

static const struct file_operations range_fops = {
	.owner = THIS_MODULE,
	.read = range_read,
	.write = range_write,
	.llseek = default_llseek,
};

static ssize_t expected_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char kbuf[64], *p, *tok;
	int fs = -1, dd = -1, v;
	ssize_t n = copy_line(kbuf, sizeof(kbuf), ubuf, count);

	if (n < 0)
		return n;
	p = strim(kbuf);
	while ((tok = strsep(&p, " \t\n")) != NULL) {
		if (!*tok)
			continue;
		if (sscanf(tok, "fsdax=%d", &v) == 1 && v >= 0)
			fs = v;
		else if (sscanf(tok, "devdax=%d", &v) == 1 && v >= 0)
			dd = v;
		else
			return -EINVAL;
	}
	mutex_lock(&census_lock);
	if (fs >= 0)
		census_exp_fsdax = fs;
	if (dd >= 0)
		census_exp_devdax = dd;
	mutex_unlock(&census_lock);
	return count;
}

static ssize_t expected_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	char kbuf[64];
	int n = scnprintf(kbuf, sizeof(kbuf), "fsdax=%d devdax=%d\n", census_exp_fsdax, census_exp_devdax);

	return simple_read_from_buffer(ubuf, count, ppos, kbuf, n);
}

static const struct file_operations expected_fops = {
	.owner = THIS_MODULE,
	.read = expected_read,
	.write = expected_write,
	.llseek = default_llseek,
};

static ssize_t info_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	char kbuf[256];
	int n = scnprintf(kbuf, sizeof(kbuf),
			  "dax_census=1 kernel=%u.%u.%u fsdax_idle=%d fsdax_idle_source=%s devdax_idle=%d get_dev_pagemap_args=%d\n",
			  LINUX_VERSION_CODE >> 16, (LINUX_VERSION_CODE >> 8) & 0xff,
			  LINUX_VERSION_CODE & 0xff, DAX_CENSUS_FSDAX_IDLE,
			  DAX_CENSUS_IDLE_SOURCE, DAX_CENSUS_DEVDAX_IDLE, DAX_CENSUS_GDP_ARGS);

	return simple_read_from_buffer(ubuf, count, ppos, kbuf, n);
}

static const struct file_operations info_fops = {
	.owner = THIS_MODULE,
	.read = info_read,
	.llseek = default_llseek,
};

static int __init dax_census_init(void)
{
	census_dir = debugfs_create_dir("dax_census", NULL);
	if (IS_ERR_OR_NULL(census_dir))
		return census_dir ? PTR_ERR(census_dir) : -ENODEV;
	debugfs_create_file("info", 0444, census_dir, NULL, &info_fops);
	debugfs_create_file("range", 0644, census_dir, NULL, &range_fops);
	debugfs_create_file("expected", 0644, census_dir, NULL, &expected_fops);
	debugfs_create_u32("dumps", 0644, census_dir, &census_dumps);
	debugfs_create_file("check", 0444, census_dir, NULL, &check_fops);
	pr_info("dax_census: ready (fsdax idle %d from %s, devdax idle %d)\n",
		DAX_CENSUS_FSDAX_IDLE, DAX_CENSUS_IDLE_SOURCE, DAX_CENSUS_DEVDAX_IDLE);
	return 0;
}

static void __exit dax_census_exit(void)
{
	debugfs_remove_recursive(census_dir);
}

module_init(dax_census_init);
module_exit(dax_census_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dax-harness: refcount census of fsdax/device-dax pages");
