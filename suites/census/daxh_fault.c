// SPDX-License-Identifier: GPL-2.0
/*
 * daxh_fault: makes the kernel report on demand, so the harness's own tests
 * exercise the crash oracle, the boot watch and the stall handling with real
 * kernel reports (the kernel's WARN/BUG/oops/lockup paths), not text.
 * Debian's kernels have no lkdtm, so this stands in for the few cases we need.
 *
 * action=NAME at load time runs one action from module init (the image's
 * /init loads it that way for daxh.fault=NAME on the kernel command line,
 * before sshd, to make a kernel that breaks at boot). Later, writing NAME to
 * /sys/kernel/debug/daxh_fault/trigger runs it from the writing task.
 *
 *   warn          WARN in daxh_fault_warn(), then carry on
 *   bug           BUG() in daxh_fault_bug()
 *   oops          NULL pointer write in daxh_fault_oops()
 *   panic         panic()
 *   refcount      refcount_t underflow (WARNING: refcount bug)
 *   atomic-sleep  sleep with preemption disabled (BUG: scheduling while atomic)
 *   softlockup:S  spin S seconds with preemption off (soft lockup)
 *   irqoff:S      spin S seconds with interrupts off (RCU stall; hard lockup
 *                 where an NMI watchdog exists)
 *   hang:S        sleep S seconds uninterruptibly (hung task)
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/uaccess.h>

static char *action = "";
module_param(action, charp, 0444);
MODULE_PARM_DESC(action, "action to run at load time (see the source's header)");

static struct dentry *fault_dir;

/*
 * Each action has a function of its own so reports name it as the culprit;
 * the empty asm after a call that ends a function keeps the compiler from
 * turning it into a tail jump, which would drop the function from the stack.
 */
#define KEEP_FRAME() asm volatile("" ::: "memory")

static noinline void daxh_fault_warn(void)
{
	WARN(1, "daxh_fault: WARN requested\n");
	KEEP_FRAME();
}

static noinline void daxh_fault_bug(void)
{
	BUG();
}

static noinline void daxh_fault_oops(void)
{
	*(volatile int *)NULL = 1;
}

static noinline void daxh_fault_underflow(void)
{
	refcount_t r;

	refcount_set(&r, 0);
	refcount_dec(&r);
	KEEP_FRAME();
}

static noinline void daxh_fault_atomic_sleep(void)
{
	int before = preempt_count();

	preempt_disable();
	msleep(20);
	/* The scheduler resets the preempt count when it reports: re-enable only what is still ours. */
	if (preempt_count() > before)
		preempt_enable();
	KEEP_FRAME();
}

static noinline void daxh_fault_spin(unsigned long secs, bool irqs_off)
{
	unsigned long flags = 0;
	u64 end = get_jiffies_64() + secs * HZ;

	/* jiffies stop with interrupts off on a one-CPU guest: count time by delays too. */
	unsigned long spins = secs * 1000;

	if (irqs_off)
		local_irq_save(flags);
	else
		preempt_disable();
	while (spins-- && time_before64(get_jiffies_64(), end))
		mdelay(1);
	if (irqs_off)
		local_irq_restore(flags);
	else
		preempt_enable();
	KEEP_FRAME();
}

static noinline void daxh_fault_hang(unsigned long secs)
{
	set_current_state(TASK_UNINTERRUPTIBLE);
	schedule_timeout(secs * HZ);
	KEEP_FRAME();
}

static int run_action(const char *what)
{
	unsigned long secs = 0;
	const char *colon = strchr(what, ':');
	size_t len = colon ? (size_t)(colon - what) : strlen(what);

	if (colon && kstrtoul(colon + 1, 10, &secs))
		return -EINVAL;
	pr_info("daxh_fault: %s requested by %s[%d]\n", what, current->comm, task_pid_nr(current));
#define IS(name) (len == strlen(name) && !strncmp(what, name, len))
	if (IS("warn"))
		daxh_fault_warn();
	else if (IS("bug"))
		daxh_fault_bug();
	else if (IS("oops"))
		daxh_fault_oops();
	else if (IS("panic"))
		panic("daxh_fault: panic requested");
	else if (IS("refcount"))
		daxh_fault_underflow();
	else if (IS("atomic-sleep"))
		daxh_fault_atomic_sleep();
	else if (IS("softlockup"))
		daxh_fault_spin(secs ? secs : 60, false);
	else if (IS("irqoff"))
		daxh_fault_spin(secs ? secs : 60, true);
	else if (IS("hang"))
		daxh_fault_hang(secs ? secs : 300);
	else
		return -EINVAL;
#undef IS
	pr_info("daxh_fault: %s done\n", what);
	return 0;
}

static ssize_t trigger_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char kbuf[48];
	int ret;

	if (count == 0 || count >= sizeof(kbuf))
		return -EINVAL;
	if (copy_from_user(kbuf, ubuf, count))
		return -EFAULT;
	kbuf[count] = '\0';
	ret = run_action(strim(kbuf));
	return ret ? ret : count;
}

static const struct file_operations trigger_fops = {
	.owner = THIS_MODULE,
	.write = trigger_write,
	.llseek = default_llseek,
};

static int __init daxh_fault_init(void)
{
	fault_dir = debugfs_create_dir("daxh_fault", NULL);
	if (!IS_ERR_OR_NULL(fault_dir))
		debugfs_create_file("trigger", 0200, fault_dir, NULL, &trigger_fops);
	if (action && *action) {
		int ret = run_action(action);

		if (ret)
			debugfs_remove_recursive(fault_dir);
		return ret;
	}
	return 0;
}

static void __exit daxh_fault_exit(void)
{
	debugfs_remove_recursive(fault_dir);
}

module_init(daxh_fault_init);
module_exit(daxh_fault_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dax-harness: kernel reports on demand for the harness's own tests");
