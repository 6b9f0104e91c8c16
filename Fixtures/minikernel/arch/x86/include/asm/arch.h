#ifndef ASM_ARCH_H
#define ASM_ARCH_H
#define ARCH_WORD 8
#endif
