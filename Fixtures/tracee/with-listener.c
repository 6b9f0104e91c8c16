// Runs a command under a seccomp filter that has a listener (and lets every
// call through), as some containers and nested sandboxes do: a filter with
// a listener below it cannot have one of its own (EBUSY) while that listener
// is open: this process keeps it and waits for the command, which runs in a
// child without it.
// Usage: with-listener COMMAND [ARGUMENT...]
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog program = {.len = 1, .filter = &allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return 3;
    long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
    if (listener < 0) {
        perror("seccomp");
        return 4;
    }
    pid_t child = fork();
    if (child < 0) return 5;
    if (child == 0) {
        close((int)listener);
        execvp(argv[1], argv + 1);
        perror("execvp");
        _exit(127);
    }
    int status;
    if (waitpid(child, &status, 0) < 0) return 6;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
