/*
 * What one watched system call costs, by how it is watched (issue 14's
 * micro-benchmark): N calls of openat() on a missing path, in a child that
 * is not watched, stopped by ptrace (SECCOMP_RET_TRACE + PTRACE_CONT),
 * notified to a listener (SECCOMP_RET_USER_NOTIF, answered with
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE), or notified in sync mode
 * (SECCOMP_IOCTL_NOTIF_SET_FLAGS + SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
 * Linux >= 6.6). Each mode runs unpinned, with both processes pinned to
 * one CPU, and started apart: the watched child on CPU 0 and its watcher on
 * CPU 1, each moved there before the first call and then left free. On a
 * VM whose idle CPUs sleep, a stop that wakes the other CPU costs tens of
 * microseconds. Built and run by tools/bench-stops.
 *
 * Usage: bench-stops [CALLS]   (default 200000)
 *        bench-stops --loop CALLS   (the calls alone; prints µs per call)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

enum mode { NONE, PTRACE, NOTIFY, NOTIFY_SYNC };
static const char *names[] = {
    "not watched",
    "ptrace: SECCOMP_RET_TRACE stop + PTRACE_CONT",
    "user notification (SECCOMP_USER_NOTIF_FLAG_CONTINUE)",
    "user notification, sync wake-up (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)",
};

static void die(const char *what) {
    perror(what);
    exit(2);
}

enum placement { UNPINNED, PINNED, APART };

/* The first two CPUs this process may use (the second -1 when there is
   one): "CPU 0" and "CPU 1" below. */
static int cpus[2] = {0, -1};

/* PINNED: on the first CPU for good. APART: moved to cpus[which] now, then
   free to run anywhere it could before (it stays until the scheduler moves
   it). */
static void place(enum placement placement, int which) {
    if (placement == UNPINNED) return;
    cpu_set_t before, set;
    if (sched_getaffinity(0, sizeof before, &before) != 0) die("sched_getaffinity");
    CPU_ZERO(&set);
    CPU_SET(placement == PINNED ? cpus[0] : cpus[which], &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
    if (placement == APART && sched_setaffinity(0, sizeof before, &before) != 0) die("sched_setaffinity");
}

/* openat -> action, everything else allowed (x86_64 only). */
static int install(uint32_t action, unsigned flags) {
    struct sock_filter program[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fprog = {sizeof program / sizeof program[0], program};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("PR_SET_NO_NEW_PRIVS");
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* The child's loop; returns µs per call through the pipe. */
static void calls(long n, int out) {
    double start = now();
    for (long i = 0; i < n; i++) syscall(SYS_openat, AT_FDCWD, "/nonexistent/develtrace-bench", O_RDONLY);
    double us = (now() - start) / n * 1e6;
    if (write(out, &us, sizeof us) != sizeof us) _exit(3);
}

static double run(enum mode mode, enum placement placement, long n) {
    /* The watcher is this process: it is placed for this run only (a run
       pinned here once left every later run pinned, child included, until
       stop 35). */
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) die("sched_getaffinity");
    int result[2], listener[2];
    if (pipe(result) != 0 || pipe(listener) != 0) die("pipe");
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        place(placement, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (mode == PTRACE) {
            if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) die("PTRACE_TRACEME");
            raise(SIGSTOP);
            if (install(SECCOMP_RET_TRACE, 0) != 0) die("seccomp (trace)");
        } else if (mode == NOTIFY || mode == NOTIFY_SYNC) {
            int fd = install(SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
            if (fd < 0) die("seccomp (listener)");
            if (write(listener[1], &fd, sizeof fd) != sizeof fd) _exit(3);
        }
        calls(n, result[1]);
        _exit(0);
    }
    place(placement, 1);
    int measured = 1;
    if (mode == PTRACE) {
        int status;
        waitpid(child, &status, 0);
        ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
        ptrace(PTRACE_CONT, child, 0, 0);
        while (waitpid(child, &status, 0) == child && !WIFEXITED(status) && !WIFSIGNALED(status)) {
            int signal = WIFSTOPPED(status) && (status >> 8) != (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8)) ? WSTOPSIG(status) : 0;
            ptrace(PTRACE_CONT, child, 0, signal);
        }
    } else if (mode == NOTIFY || mode == NOTIFY_SYNC) {
        int remote;
        if (read(listener[0], &remote, sizeof remote) != sizeof remote) die("read listener");
        int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
        int fd = (int)syscall(SYS_pidfd_getfd, pidfd, remote, 0);
        if (fd < 0) die("pidfd_getfd");
        /* Without the sync flag (Linux < 6.6) the row is -1. */
        measured = mode != NOTIFY_SYNC || ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0;
        if (!measured) {
            fprintf(stderr, "sync wake-up: %s (Linux >= 6.6 has it)\n", strerror(errno));
            kill(child, SIGKILL);
        }
        struct seccomp_notif request;
        struct seccomp_notif_resp response;
        while (measured) {
            memset(&request, 0, sizeof request);
            if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) {
                if (errno == EINTR) continue;
                break; /* ENOENT: the child is gone */
            }
            memset(&response, 0, sizeof response);
            response.id = request.id;
            response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &response);
        }
        waitpid(child, NULL, 0);
        close(fd);
        close(pidfd);
    } else {
        waitpid(child, NULL, 0);
    }
    double us = -1;
    if (measured && read(result[0], &us, sizeof us) != sizeof us) us = -1;
    close(result[0]);
    close(result[1]);
    close(listener[0]);
    close(listener[1]);
    if (sched_setaffinity(0, sizeof mask, &mask) != 0) die("sched_setaffinity");
    return us;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--loop") == 0) {
        /* The loop alone, watched by whatever runs it (develtrace trace):
           prints µs per call. */
        int out[2];
        if (pipe(out) != 0) die("pipe");
        calls(atol(argv[2]), out[1]);
        double us = -1;
        if (read(out[0], &us, sizeof us) != sizeof us) die("read");
        printf("%.1f\n", us);
        return 0;
    }
    long n = argc > 1 ? atol(argv[1]) : 200000;
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) die("sched_getaffinity");
    for (int cpu = 0, found = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
        if (CPU_ISSET(cpu, &mask)) cpus[found++] = cpu;
    }
    int apart = cpus[1] >= 0;
    printf("| how the call is watched (%ld calls of openat on a missing path) | µs per call, unpinned | pinned to one CPU | started on two CPUs |\n", n);
    printf("| --- | ---: | ---: | ---: |\n");
    for (int mode = NONE; mode <= NOTIFY_SYNC; mode++) {
        double unpinned = run(mode, UNPINNED, n), pinned = run(mode, PINNED, n);
        printf("| %s | %.1f | %.1f |", names[mode], unpinned, pinned);
        if (apart && mode != NONE) {
            printf(" %.1f |\n", run(mode, APART, n));
        } else {
            printf(" - |\n");
        }
        fflush(stdout);
    }
    return 0;
}
