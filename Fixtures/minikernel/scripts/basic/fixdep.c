/* A host tool the build executes after each compile (kbuild's fixdep). */
#include <stdio.h>
int main(int argc, char **argv) { return argc > 1 ? 0 : 1; }
