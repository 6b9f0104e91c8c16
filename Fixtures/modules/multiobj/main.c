#include <linux/module.h>
#include <linux/init.h>
int dt_helper(int x);
static int __init dt_multiobj_init(void) { return dt_helper(0); }
static void __exit dt_multiobj_exit(void) {}
module_init(dt_multiobj_init);
module_exit(dt_multiobj_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("develtrace corpus: several objects in one module");
