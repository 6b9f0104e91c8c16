#include <linux/module.h>
#include <linux/init.h>
#include <dt_private.h>
static int __init dt_ccflags_init(void) { return DT_PRIVATE_VALUE == 2 ? 0 : -22; }
static void __exit dt_ccflags_exit(void) {}
module_init(dt_ccflags_init);
module_exit(dt_ccflags_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("develtrace corpus: ccflags-y include directory");
