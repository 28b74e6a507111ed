// SPDX-License-Identifier: GPL-2.0
/*
 * dax_census_fixture: deliberately leaks references on DAX pages, so the
 * census (and the umount/truncate watchdog) can be shown to catch a leak.
 *
 * debugfs (/sys/kernel/debug/dax_census_fixture/):
 *   hold     write a user virtual address (0x.. or decimal) of the WRITING
 *            process: the page under it is taken with get_user_pages_fast()
 *            and kept, even after that process unmaps it and exits.
 *   held     read: one "held pfn=0x.. refcount=N" line per page kept.
 *   release  write anything: put every page kept.
 *
 * Test-only: it is what a buggy GUP user would do. Pages are released on
 * rmmod too, so a failed test cannot leave the guest wedged for the next one.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/uaccess.h>

#define FIXTURE_MAX 64

static DEFINE_MUTEX(fixture_lock);
static struct page *held[FIXTURE_MAX];
static unsigned int nheld;
static struct dentry *fixture_dir;

static ssize_t hold_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char kbuf[32];
	unsigned long addr;
	struct page *page;
	int ret;

	if (count == 0 || count >= sizeof(kbuf))
		return -EINVAL;
	if (copy_from_user(kbuf, ubuf, count))
		return -EFAULT;
	kbuf[count] = '\0';
	if (kstrtoul(strim(kbuf), 0, &addr))
		return -EINVAL;
	mutex_lock(&fixture_lock);
	if (nheld >= FIXTURE_MAX) {
		mutex_unlock(&fixture_lock);
		return -ENOSPC;
	}
	/*
	 * Plain (not FOLL_LONGTERM) GUP: allowed on fsdax pages on every
	 * version, and exactly the kind of reference that must be dropped
	 * before the filesystem may reuse the block.
	 */
	ret = get_user_pages_fast(addr & PAGE_MASK, 1, FOLL_WRITE, &page);
	if (ret != 1) {
		mutex_unlock(&fixture_lock);
		return ret < 0 ? ret : -EFAULT;
	}
	held[nheld++] = page;
	pr_info("dax_census_fixture: holding pfn=%#lx refcount=%d (deliberate leak)\n",
		page_to_pfn(page), page_ref_count(page));
	mutex_unlock(&fixture_lock);
	return count;
}

static const struct file_operations hold_fops = {
	.owner = THIS_MODULE,
	.write = hold_write,
	.llseek = default_llseek,
};

static void release_all(void)
{
	while (nheld) {
		struct page *page = held[--nheld];

		pr_info("dax_census_fixture: releasing pfn=%#lx\n", page_to_pfn(page));
		put_page(page);
	}
}

static ssize_t release_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	mutex_lock(&fixture_lock);
	release_all();
	mutex_unlock(&fixture_lock);
	return count;
}

static const struct file_operations release_fops = {
	.owner = THIS_MODULE,
	.write = release_write,
	.llseek = default_llseek,
};

static ssize_t held_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	char *buf;
	size_t len = 0, size = FIXTURE_MAX * 64 + 1;
	unsigned int i;
	ssize_t ret;

	buf = kzalloc(size, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	mutex_lock(&fixture_lock);
	for (i = 0; i < nheld; i++)
		len += scnprintf(buf + len, size - len, "held pfn=%#lx refcount=%d\n",
				 page_to_pfn(held[i]), page_ref_count(held[i]));
	mutex_unlock(&fixture_lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, buf, len);
	kfree(buf);
	return ret;
}

static const struct file_operations held_fops = {
	.owner = THIS_MODULE,
	.read = held_read,
	.llseek = default_llseek,
};

static int __init fixture_init(void)
{
	fixture_dir = debugfs_create_dir("dax_census_fixture", NULL);
	if (IS_ERR_OR_NULL(fixture_dir))
		return fixture_dir ? PTR_ERR(fixture_dir) : -ENODEV;
	debugfs_create_file("hold", 0200, fixture_dir, NULL, &hold_fops);
	debugfs_create_file("release", 0200, fixture_dir, NULL, &release_fops);
	debugfs_create_file("held", 0444, fixture_dir, NULL, &held_fops);
	return 0;
}

static void __exit fixture_exit(void)
{
	debugfs_remove_recursive(fixture_dir);
	mutex_lock(&fixture_lock);
	release_all();
	mutex_unlock(&fixture_lock);
}

module_init(fixture_init);
module_exit(fixture_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dax-harness test fixture: deliberately holds references on DAX pages");
