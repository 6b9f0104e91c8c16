// Code that runs in the children between fork and exec. Only system calls
// and plain loops: the parent is a multi-threaded Swift process, so nothing
// here may allocate, lock or touch the Swift runtime.
#define _GNU_SOURCE
#include "CDeveltrace.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

// A bind of `source` at `target` whose files show the owners of the user
// namespace `userns_fd` maps them to (root-owned files appear owned by the
// sandbox's root), so a build can write where a root build could. Not
// recursive: a mount below `source` (the sandbox's own, when `source`
// holds the scratch directory) cannot always be idmapped.
static int idmapped_bind(const char *source, const char *target, int userns_fd, int read_only) {
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) return -1;
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_IDMAP | (read_only ? MOUNT_ATTR_RDONLY : 0);
    attr.userns_fd = (uint64_t)userns_fd;
    int rc = (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr);
    if (rc == 0) rc = (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
    int saved = errno;
    close(tree);
    errno = saved;
    return rc;
}

// Closes every descriptor from 3 up except those in keep[0..count) (-1
// entries are ignored): nothing of develtrace's (its /proc, its pipes, its
// files) reaches the sandbox.
static int close_other_fds(const int *keep, int count) {
    int sorted[32];
    int n = 0;
    for (int i = 0; i < count && n < 32; i++) {
        if (keep[i] < 3) continue;
        int j = n++;
        while (j > 0 && sorted[j - 1] > keep[i]) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = keep[i];
    }
    unsigned int from = 3;
    for (int i = 0; i < n; i++) {
        if ((unsigned int)sorted[i] > from && syscall(SYS_close_range, from, (unsigned int)sorted[i] - 1, 0) < 0) return -1;
        if ((unsigned int)sorted[i] + 1 > from) from = (unsigned int)sorted[i] + 1;
    }
    return (int)syscall(SYS_close_range, from, ~0U, 0);
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t length = (ssize_t)strlen(text);
    ssize_t n = write(fd, text, (size_t)length);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == length ? 0 : -1;
}

// Every capability gone for good: ambient, bounding set, then the
// permitted, effective and inheritable sets.
static int drop_capabilities(void) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) return -1;
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    }
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    return (int)syscall(SYS_capset, &header, data);
}

static void wait_for_go(const dt_spawn_plan *plan) {
    char go;
    ssize_t n;
    do {
        n = read(plan->go_fd, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(125);
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
    case DT_OP_SYMLINK:
        if (symlink(op->source, op->target) == 0 || errno == EEXIST) return 0;
        return -1;
    case DT_OP_MKFILE: {
        int fd = open(op->target, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) return errno == EEXIST ? 0 : -1;
        close(fd);
        return 0;
    }
    case DT_OP_IDMAPPED_BIND:
        return idmapped_bind(op->source, op->target, op->userns_fd, op->flags != 0);
    default:
        errno = EINVAL;
        return -1;
    }
}

// seccomp(SECCOMP_SET_MODE_FILTER, flags): the filter's fd (with
// SECCOMP_FILTER_FLAG_NEW_LISTENER) or 0, or -1 with errno.
static int load_filter(const void *filter, unsigned short length, unsigned long flags) {
    struct sock_fprog program = {.len = length, .filter = (struct sock_filter *)filter};
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
    // Without CAP_SYS_ADMIN the kernel wants no_new_privs first.
    if (rc < 0 && errno == EACCES && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
        rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
    return (int)rc;
}

// One message on `socket`: `error` (0 or why there is no listener) and,
// when `fd` >= 0, the descriptor itself.
int dt_listener_send(int socket, int fd, int error) {
    int32_t code = error;
    struct iovec vector = {.iov_base = &code, .iov_len = sizeof code};
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1};
    if (fd >= 0) {
        message.msg_control = control.buffer;
        message.msg_controllen = sizeof control.buffer;
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(header), &fd, sizeof fd);
    }
    ssize_t n;
    do {
        n = sendmsg(socket, &message, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

// The answer to a listener message: one byte.
int dt_listener_acknowledge(int socket) {
    char answer = 1;
    ssize_t n;
    do {
        n = send(socket, &answer, 1, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

static _Noreturn void run_command(const dt_spawn_plan *plan) {
    if (plan->max_processes > 0) {
        struct rlimit limit = {.rlim_cur = (rlim_t)plan->max_processes, .rlim_max = (rlim_t)plan->max_processes};
        if (setrlimit(RLIMIT_NPROC, &limit) < 0) fail(plan, DT_STAGE_LIMIT, 0, errno, 126);
    }
    if (plan->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(plan->cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) fail(plan, DT_STAGE_AFFINITY, 0, errno, 126);
    }
    for (int i = 0; i < 3; i++) {
        if (plan->stdio[i] >= 0 && dup2(plan->stdio[i], i) < 0) fail(plan, DT_STAGE_STDIO, i, errno, 126);
    }
    // Only 0, 1, 2 reach the command (the status pipe and the listener
    // socket close on exec).
    int keep[2] = {plan->status_fd, plan->listener_socket};
    if (close_other_fds(keep, 2) < 0) fail(plan, DT_STAGE_FDS, 0, errno, 126);
    if (plan->cwd && chdir(plan->cwd) < 0) fail(plan, DT_STAGE_CHDIR, 0, errno, 126);
    if (plan->identity != DT_IDENTITY_HOST && drop_capabilities() < 0) fail(plan, DT_STAGE_CAPABILITIES, 0, errno, 126);
    if (plan->identity != DT_IDENTITY_HOST && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(plan, DT_STAGE_CAPABILITIES, 1, errno, 126);
    if (plan->listener_filter && plan->listener_socket >= 0) {
        // The filter whose read-only calls go to a listener; its descriptor
        // goes to the tracer and is closed here before exec, so no tracee
        // ever holds it.
        // A plain one (`listener_plain`) has no listener: 0 when it loaded.
        int listener = -1;
        int error = EBUSY;
        if (!plan->listener_refused) {
            unsigned long flags =
                plan->listener_plain ? 0 : SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
            listener = load_filter(plan->listener_filter, plan->listener_filter_len, flags);
            error = listener < 0 ? errno : 0;
        }
        if (dt_listener_send(plan->listener_socket, plan->listener_plain ? -1 : listener, error) < 0)
            fail(plan, DT_STAGE_FILTER, 1, errno, 126);
        // The tracer answers once it has decided what records the calls
        // (the in-kernel recorder from the exec on, or not): then exec.
        char answer;
        while (read(plan->listener_socket, &answer, 1) < 0 && errno == EINTR) {
        }
        close(plan->listener_socket);
        if (listener >= 0) {
            if (!plan->listener_plain) close(listener);
            goto loaded;
        }
        // Nothing follows this command but the listener's filter and the
        // in-kernel recorder: without them it must not run.
        if (plan->listener_required) fail(plan, DT_STAGE_FILTER, 2, error, 126);
    }
    if (plan->filter && load_filter(plan->filter, plan->filter_len, 0) < 0) fail(plan, DT_STAGE_FILTER, 0, errno, 126);
loaded:
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
    // tears the sandbox down, instead of racing it; and no controlling
    // terminal to push input into (TIOCSTI).
    (void)setsid();
    int keep[22] = {plan->stdio[0], plan->stdio[1], plan->stdio[2], plan->status_fd, plan->go_fd, plan->listener_socket};
    int kept = 6;
    for (int i = 0; i < plan->idmap_count && i < 16; i++) keep[kept++] = plan->idmap_fds[i];
    if (close_other_fds(keep, kept) < 0) fail(plan, DT_STAGE_FDS, 0, errno, 125);
    // Rootless: the parent writes this namespace's maps first.
    if (plan->identity == DT_IDENTITY_ROOTLESS) wait_for_go(plan);
    for (int i = 0; i < plan->op_count; i++) {
        if (run_op(&plan->ops[i]) < 0) fail(plan, DT_STAGE_OP, i, errno, 125);
    }
    for (int i = 0; i < plan->idmap_count; i++) close(plan->idmap_fds[i]);
    if (plan->identity != DT_IDENTITY_HOST) {
        // The mounts are made; everything from here on runs in a user
        // namespace of its own, which owns none of the sandbox's other
        // namespaces: no mount can be changed from inside, whatever
        // capabilities a process gains there.
        if (unshare(CLONE_NEWUSER) < 0) fail(plan, DT_STAGE_USERNS, 0, errno, 125);
        if (plan->identity == DT_IDENTITY_ROOTLESS) {
            // Root of the outer namespace is the invoking user; so is root here.
            if (write_file("/proc/self/setgroups", "deny") < 0) fail(plan, DT_STAGE_USERNS, 1, errno, 125);
            if (write_file("/proc/self/uid_map", "0 0 1\n") < 0) fail(plan, DT_STAGE_USERNS, 2, errno, 125);
            if (write_file("/proc/self/gid_map", "0 0 1\n") < 0) fail(plan, DT_STAGE_USERNS, 3, errno, 125);
        }
    }
    report(plan->status_fd, DT_STAGE_READY, 0, 0);
    // As root, the parent maps root here to the sandbox's own range now.
    wait_for_go(plan);
    close(plan->go_fd);
    if (plan->identity == DT_IDENTITY_ROOT_MAPPED) {
        // Raw system calls: glibc's wrappers would try to change the other
        // threads of the Swift process this one was cloned from, and wait
        // for them forever.
        if (syscall(SYS_setgroups, 0, NULL) < 0) fail(plan, DT_STAGE_USERNS, 4, errno, 125);
        if (syscall(SYS_setresgid, 0, 0, 0) < 0) fail(plan, DT_STAGE_USERNS, 5, errno, 125);
        if (syscall(SYS_setresuid, 0, 0, 0) < 0) fail(plan, DT_STAGE_USERNS, 6, errno, 125);
        // A change of credentials clears the parent-death signal: again.
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    }

    pid_t command = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (command < 0) fail(plan, DT_STAGE_FORK, 0, errno, 125);
    if (command == 0) run_command(plan);
    close(plan->status_fd);
    if (plan->listener_socket >= 0) close(plan->listener_socket);
    for (int i = 0; i < 3; i++) {
        if (plan->stdio[i] >= 3) close(plan->stdio[i]);
    }

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

int dt_available_cpu_list(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < capacity; cpu++)
        if (CPU_ISSET(cpu, &set)) cpus[count++] = cpu;
    return count;
}

int dt_pin_thread_to_cpus(const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++)
        if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) CPU_SET(cpus[i], &set);
    return sched_setaffinity(0, sizeof set, &set);
}

// The child of dt_make_user_namespace: it only has to exist until its
// namespace is mapped and opened.
static int hold_namespace(void *argument) {
    int *fds = (int *)argument;
    close(fds[1]);
    char byte;
    while (read(fds[0], &byte, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
}

int dt_make_user_namespace(const char *uid_map, const char *gid_map) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) return -1;
    static char stack[16384] __attribute__((aligned(16)));
    pid_t child = clone(hold_namespace, stack + sizeof stack, CLONE_NEWUSER | SIGCHLD, pipe_fds);
    int result = -1, saved = 0;
    if (child < 0) {
        saved = errno;
    } else {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/uid_map", (int)child);
        int rc = write_file(path, uid_map);
        if (rc == 0) {
            snprintf(path, sizeof path, "/proc/%d/gid_map", (int)child);
            rc = write_file(path, gid_map);
        }
        if (rc == 0) {
            snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
            result = open(path, O_RDONLY | O_CLOEXEC);
        }
        if (result < 0) saved = errno;
    }
    close(pipe_fds[1]);
    close(pipe_fds[0]);
    if (child > 0) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
    }
    errno = saved;
    return result;
}
