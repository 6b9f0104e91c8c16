#include <linux/mini.h>
int hello_value(void) { return MINI_VERSION + EXTRA_VALUE + ARCH_WORD
#ifdef CONFIG_MINI
    + 1
#endif
    ; }
