// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/module_signature.h>

#ifndef DEVELTRACE_CONFIGURED
#error "PRE_BUILD's configure did not run"
#endif

static int __init prebuildmod_init(void)
{
	pr_info("prebuildmod: configured by PRE_BUILD; signatures have a %zu-byte trailer\n", sizeof(struct module_signature));
	return 0;
}

static void __exit prebuildmod_exit(void)
{
}

module_init(prebuildmod_init);
module_exit(prebuildmod_exit);
MODULE_LICENSE("GPL");
