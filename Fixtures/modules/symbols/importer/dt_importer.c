#include <linux/module.h>
#include <linux/init.h>
int dt_exported_value(void);
static int __init dt_importer_init(void) { return dt_exported_value() == 42 ? 0 : -22; }
static void __exit dt_importer_exit(void) {}
module_init(dt_importer_init);
module_exit(dt_importer_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("develtrace corpus: uses another module's symbol");
