#include <linux/linkage.h>
#include <asm/nospec-branch.h>
	.text
SYM_FUNC_START(dt_asm_stub)
	xorl %eax, %eax
	RET
SYM_FUNC_END(dt_asm_stub)
