/* A host tool that reads Module.symvers and the module (kbuild's modpost). */
#include <stdio.h>
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    FILE *symvers = fopen(argv[1], "r");
    FILE *module = fopen(argv[2], "r");
    if (!symvers || !module) { perror("modpost"); return 1; }
    char line[512];
    while (fgets(line, sizeof line, symvers)) fputs(line, stdout);
    return 0;
}
