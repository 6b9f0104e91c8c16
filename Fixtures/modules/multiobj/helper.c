#include <linux/kernel.h>
#include <linux/string.h>
int dt_helper(int x) { char buf[8]; memset(buf, 0, sizeof buf); return x + buf[0]; }
