#include <linux/module.h>
#include <linux/export.h>
int dt_exported_value(void) { return 42; }
EXPORT_SYMBOL_GPL(dt_exported_value);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("develtrace corpus: exports a symbol");
