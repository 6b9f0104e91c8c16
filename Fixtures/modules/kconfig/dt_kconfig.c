#include <linux/module.h>
#include <linux/init.h>
#include <linux/kconfig.h>
#ifdef CONFIG_PROC_FS
#include <linux/proc_fs.h>
#endif
static int __init dt_kconfig_init(void)
{
	if (IS_ENABLED(CONFIG_MODULE_UNLOAD))
		pr_info("dt_kconfig: unload enabled\n");
#ifdef CONFIG_SYSFS
	pr_info("dt_kconfig: sysfs\n");
#endif
	return 0;
}
static void __exit dt_kconfig_exit(void) {}
module_init(dt_kconfig_init);
module_exit(dt_kconfig_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("develtrace corpus: Kconfig-dependent code");
