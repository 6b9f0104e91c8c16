#include <linux/module.h>
#include <linux/init.h>
int dt_asm_stub(void);
static int __init dt_asm_init(void) { return dt_asm_stub(); }
static void __exit dt_asm_exit(void) {}
module_init(dt_asm_init);
module_exit(dt_asm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("develtrace corpus: assembly object");
