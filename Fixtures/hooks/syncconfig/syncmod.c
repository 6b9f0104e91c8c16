// SPDX-License-Identifier: GPL-2.0
#include <linux/init.h>
#include <linux/module.h>

static int __init syncmod_init(void)
{
	pr_info("syncmod: loaded\n");
	return 0;
}

static void __exit syncmod_exit(void)
{
}

module_init(syncmod_init);
module_exit(syncmod_exit);
MODULE_DESCRIPTION("develtrace sample built after `make syncconfig`");
MODULE_LICENSE("GPL");
