// Forks N short-lived children that each stat a path and exit. Usage: forks N
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 500;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            struct stat st;
            stat("/etc/hostname", &st);
            _exit(i % 7);
        }
        if (pid > 0) waitpid(pid, NULL, 0);
    }
    return 0;
}
