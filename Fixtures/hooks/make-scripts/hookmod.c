// SPDX-License-Identifier: GPL-2.0
#include <linux/init.h>
#include <linux/module.h>

static int __init hookmod_init(void)
{
	pr_info("hookmod: loaded\n");
	return 0;
}

static void __exit hookmod_exit(void)
{
}

module_init(hookmod_init);
module_exit(hookmod_exit);
MODULE_DESCRIPTION("develtrace sample built after `make scripts`");
MODULE_LICENSE("GPL");
