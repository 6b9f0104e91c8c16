#undef TRACE_SYSTEM
#define TRACE_SYSTEM dt_tracepoint

#if !defined(_DT_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _DT_TRACE_H
#include <linux/tracepoint.h>

TRACE_EVENT(dt_event,
	TP_PROTO(int value),
	TP_ARGS(value),
	TP_STRUCT__entry(__field(int, value)),
	TP_fast_assign(__entry->value = value;),
	TP_printk("value=%d", __entry->value)
);
#endif

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE dt_trace
#include <trace/define_trace.h>
