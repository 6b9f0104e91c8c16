// Code that runs in the children between fork and exec. Only system calls
// and plain loops: the parent is a multi-threaded Swift process, so nothing
// here may allocate, lock or touch the Swift runtime.
#define _GNU_SOURCE
#include "CDeveltrace.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(int fd, int stage, int index, int error) {
    dt_status status = {.stage = stage, .index = index, .error = error};
    ssize_t n;
    do {
        n = write(fd, &status, sizeof status);
    } while (n < 0 && errno == EINTR);
}

static _Noreturn void fail(const dt_spawn_plan *plan, int stage, int index, int error, int code) {
    report(plan->status_fd, stage, index, error);
    _exit(code);
}

// Signal dispositions set to "ignore" and blocked masks survive exec: give the
// command the defaults a shell would.
static void reset_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        (void)sigaction(sig, &action, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static int loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    int rc = ioctl(fd, SIOCGIFFLAGS, &request);
    if (rc == 0) {
        request.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &request);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static int run_op(const dt_op *op) {
    switch (op->kind) {
    case DT_OP_MOUNT:
        return mount(op->source, op->target, op->fstype, op->flags, op->data);
    case DT_OP_MKDIR:
        if (mkdir(op->target, 0755) == 0 || errno == EEXIST) return 0;
        return -1;
    case DT_OP_READONLY_TREE: {
        struct mount_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.attr_set = MOUNT_ATTR_RDONLY;
        return (int)syscall(SYS_mount_setattr, AT_FDCWD, op->target, AT_RECURSIVE, &attr, sizeof attr);
    }
    case DT_OP_PIVOT_ROOT:
        // pivot_root(".", ".") stacks the old root under the new one; detaching
        // it leaves only the new root visible.
        if (chdir(op->target) < 0) return -1;
        if (syscall(SYS_pivot_root, ".", ".") < 0) return -1;
        if (umount2(".", MNT_DETACH) < 0) return -1;
        return chdir("/");
    case DT_OP_HOSTNAME:
        return sethostname(op->data, strlen(op->data));
    case DT_OP_LOOPBACK_UP:
        return loopback_up();
    default:
        errno = EINVAL;
        return -1;
    }
}

static _Noreturn void run_command(const dt_spawn_plan *plan) {
    if (plan->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(plan->cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) fail(plan, DT_STAGE_AFFINITY, 0, errno, 126);
    }
    for (int i = 0; i < 3; i++) {
        if (plan->stdio[i] >= 0 && dup2(plan->stdio[i], i) < 0) fail(plan, DT_STAGE_CHDIR, i, errno, 126);
    }
    if (plan->cwd && chdir(plan->cwd) < 0) fail(plan, DT_STAGE_CHDIR, 0, errno, 126);
    if (plan->filter) {
        struct sock_fprog program = {
            .len = plan->filter_len,
            .filter = (struct sock_filter *)plan->filter,
        };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) < 0) {
            // Without CAP_SYS_ADMIN the kernel wants no_new_privs first.
            if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) < 0)
                fail(plan, DT_STAGE_FILTER, 0, errno, 126);
        }
    }
    execve(plan->path, plan->argv, plan->envp);
    int error = errno;
    fail(plan, DT_STAGE_EXEC, 0, error, error == ENOENT ? 127 : 126);
}

static _Noreturn void run_init(const dt_spawn_plan *plan) {
    reset_signals();
    // If the tracer thread goes away, so does the sandbox (and, as its PID 1,
    // everything in it).
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    // A session of its own: a terminal's Ctrl-C reaches develtrace, which then
    // tears the sandbox down, instead of racing it.
    (void)setsid();
    for (int i = 0; i < plan->op_count; i++) {
        if (run_op(&plan->ops[i]) < 0) fail(plan, DT_STAGE_OP, i, errno, 125);
    }
    report(plan->status_fd, DT_STAGE_READY, 0, 0);
    char go;
    ssize_t n;
    do {
        n = read(plan->go_fd, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(125);
    close(plan->go_fd);

    pid_t command = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (command < 0) fail(plan, DT_STAGE_FORK, 0, errno, 125);
    if (command == 0) run_command(plan);
    close(plan->status_fd);

    // Reap everything (orphans are re-parented to us when we are PID 1) and
    // leave with the command's status; as PID 1 our exit kills the rest.
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid == command) {
            if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
            if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
        } else if (pid < 0 && errno == ECHILD) {
            _exit(125);
        }
    }
}

pid_t dt_spawn(const dt_spawn_plan *plan) {
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD | plan->clone_flags, 0, 0, 0, 0);
    if (pid == 0) run_init(plan);
    return pid;
}

int dt_pin_thread_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}
