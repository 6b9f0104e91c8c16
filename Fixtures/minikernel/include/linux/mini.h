#ifndef LINUX_MINI_H
#define LINUX_MINI_H
#include <asm/arch.h>
#include <linux/extra.h>
#define MINI_VERSION 3
#endif
