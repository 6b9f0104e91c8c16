#include <linux/module.h>
#include <linux/init.h>
#define CREATE_TRACE_POINTS
#include "dt_trace.h"
static int __init dt_tracepoint_init(void) { trace_dt_event(1); return 0; }
static void __exit dt_tracepoint_exit(void) {}
module_init(dt_tracepoint_init);
module_exit(dt_tracepoint_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("develtrace corpus: tracepoints");
