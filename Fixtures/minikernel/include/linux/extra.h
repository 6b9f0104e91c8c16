#ifndef LINUX_EXTRA_H
#define LINUX_EXTRA_H
#define EXTRA_VALUE 7
#endif
