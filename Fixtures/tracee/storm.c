// A signal storm around read-only path calls, for the seccomp listener's
// hazards: the parent stats STORM_CALLS distinct missing paths while
//  - short-lived children exit all the time (SIGCHLD, caught), and
//  - a sibling sends it SIGUSR1 in a tight loop.
// With "restart" the handlers have SA_RESTART (bash's SIGCHLD handler
// does): a call interrupted before the tracer took it is restarted by the
// kernel and must be recorded once, and one taken must not be recorded
// twice. With "interrupt" they do not: such a call returns EINTR, and it
// looked nothing up. Prints how many signals came and how many stats
// returned EINTR.
// Usage: storm DIRECTORY restart|interrupt
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STORM_CALLS 1500

static volatile sig_atomic_t caught;
static int interrupted;

static void handler(int signal) {
    (void)signal;
    caught++;
}

int main(int argc, char **argv) {
    if (argc < 3 || chdir(argv[1]) < 0) return 2;
    int restart = strcmp(argv[2], "restart") == 0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&action.sa_mask);
    sigaction(SIGCHLD, &action, NULL);
    sigaction(SIGUSR1, &action, NULL);
    pid_t parent = getpid();
    pid_t pest = fork();
    if (pest == 0) {
        for (;;) {
            if (kill(parent, SIGUSR1) < 0) _exit(0);
            usleep(20);
        }
    }
    for (int i = 0; i < STORM_CALLS; i++) {
        if (i % 10 == 0) {
            pid_t child = fork();
            if (child == 0) _exit(0);
        }
        char name[64];
        snprintf(name, sizeof name, "storm-missing-%d", i);
        struct stat status;
        if (stat(name, &status) == 0) return 3;
        if (errno == EINTR) interrupted++;
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
    }
    kill(pest, SIGKILL);
    while (wait(NULL) > 0) {
    }
    printf("signals %d eintr %d\n", (int)caught, interrupted);
    return 0;
}
