#define _GNU_SOURCE
#include "CDeveltrace.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <linux/ptrace.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <sys/uio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

long dt_ptrace(int request, pid_t pid, uintptr_t addr, uintptr_t data) {
    return syscall(SYS_ptrace, (long)request, (long)pid, (void *)addr, (void *)data);
}

int dt_get_syscall_info(pid_t pid, dt_syscall_info *out) {
    struct ptrace_syscall_info info;
    memset(&info, 0, sizeof info);
    long n = syscall(SYS_ptrace, (long)PTRACE_GET_SYSCALL_INFO, (long)pid, (void *)sizeof info, &info);
    if (n < 0) return -1;
    memset(out, 0, sizeof *out);
    out->op = info.op;
    out->arch = info.arch;
    switch (info.op) {
    case PTRACE_SYSCALL_INFO_ENTRY:
        out->nr = info.entry.nr;
        memcpy(out->args, info.entry.args, sizeof out->args);
        break;
    case PTRACE_SYSCALL_INFO_EXIT:
        out->rval = info.exit.rval;
        out->is_error = info.exit.is_error;
        break;
    case PTRACE_SYSCALL_INFO_SECCOMP:
        out->nr = info.seccomp.nr;
        memcpy(out->args, info.seccomp.args, sizeof out->args);
        out->ret_data = info.seccomp.ret_data;
        break;
    default:
        break;
    }
    return 0;
}

int dt_get_first_argument(pid_t pid, uint64_t *value) {
    struct user_regs_struct regs;
    struct iovec iov = {.iov_base = &regs, .iov_len = sizeof regs};
    if (syscall(SYS_ptrace, (long)PTRACE_GETREGSET, (long)pid, (void *)1 /* NT_PRSTATUS */, &iov) < 0)
        return -1;
    if (iov.iov_len == sizeof regs) {
        *value = regs.rdi;
    } else {
        // A 32-bit tracee: its first argument is in ebx.
        *value = (uint32_t)((const uint32_t *)&regs)[0];
    }
    return 0;
}

int dt_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int dt_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}


const char *dt_errno_name(int error) { return strerrorname_np(error); }

const int dt_at_empty_path = AT_EMPTY_PATH;

ssize_t dt_read_tracee(pid_t pid, void *local, size_t length, uint64_t remote) {
    struct iovec here = {.iov_base = local, .iov_len = length};
    struct iovec there = {.iov_base = (void *)(uintptr_t)remote, .iov_len = length};
    return process_vm_readv(pid, &here, 1, &there, 1, 0);
}

int dt_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int dt_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int dt_faccessat2(int dirfd, const char *path, int mode, int flags) {
    return (int)syscall(SYS_faccessat2, dirfd, path, mode, flags);
}

static int open_scoped(int dirfd, const char *path, int flags, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int dt_open_in_root(int dirfd, const char *path, int flags) { return open_scoped(dirfd, path, flags, RESOLVE_IN_ROOT); }

int dt_open_beneath(int dirfd, const char *path, int flags) { return open_scoped(dirfd, path, flags, RESOLVE_BENEATH); }

int dt_open_scoped(int dirfd, const char *path, int flags, int in_root, int no_symlinks) {
    return open_scoped(dirfd, path, flags, (in_root ? RESOLVE_IN_ROOT : RESOLVE_BENEATH) | (no_symlinks ? RESOLVE_NO_SYMLINKS : 0));
}

int dt_thread_fs_identity(uid_t uid, gid_t gid, int clear_groups) {
    // Raw system calls: glibc's wrappers would change every thread.
    if (clear_groups && syscall(SYS_setgroups, 0, NULL) < 0) return -1;
    syscall(SYS_setfsgid, gid);
    syscall(SYS_setfsuid, uid);
    if ((gid_t)syscall(SYS_setfsgid, -1) != gid || (uid_t)syscall(SYS_setfsuid, -1) != uid) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

const int dt_at_eaccess = AT_EACCESS;
const int dt_clone_sandbox_namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
const int dt_clone_newuser = CLONE_NEWUSER;

const int dt_ptrace_cont = PTRACE_CONT;
const int dt_ptrace_detach = PTRACE_DETACH;
const int dt_ptrace_syscall = PTRACE_SYSCALL;
const int dt_ptrace_setoptions = PTRACE_SETOPTIONS;
const int dt_ptrace_geteventmsg = PTRACE_GETEVENTMSG;
const int dt_ptrace_seize = PTRACE_SEIZE;
const int dt_ptrace_listen = PTRACE_LISTEN;
const unsigned long dt_ptrace_o_tracesysgood = PTRACE_O_TRACESYSGOOD;
const unsigned long dt_ptrace_o_tracefork = PTRACE_O_TRACEFORK;
const unsigned long dt_ptrace_o_tracevfork = PTRACE_O_TRACEVFORK;
const unsigned long dt_ptrace_o_traceclone = PTRACE_O_TRACECLONE;
const unsigned long dt_ptrace_o_traceexec = PTRACE_O_TRACEEXEC;
const unsigned long dt_ptrace_o_traceseccomp = PTRACE_O_TRACESECCOMP;
const unsigned long dt_ptrace_o_exitkill = PTRACE_O_EXITKILL;
const int dt_ptrace_event_fork = PTRACE_EVENT_FORK;
const int dt_ptrace_event_vfork = PTRACE_EVENT_VFORK;
const int dt_ptrace_event_clone = PTRACE_EVENT_CLONE;
const int dt_ptrace_event_exec = PTRACE_EVENT_EXEC;
const int dt_ptrace_event_vfork_done = PTRACE_EVENT_VFORK_DONE;
const int dt_ptrace_event_exit = PTRACE_EVENT_EXIT;
const int dt_ptrace_event_seccomp = PTRACE_EVENT_SECCOMP;
const int dt_ptrace_event_stop = PTRACE_EVENT_STOP;
const int dt_wait_all_own_thread = __WALL | __WNOTHREAD;

const uint32_t dt_seccomp_ret_allow = SECCOMP_RET_ALLOW;
const uint32_t dt_seccomp_ret_errno = SECCOMP_RET_ERRNO;
const uint32_t dt_seccomp_ret_trace = SECCOMP_RET_TRACE;
const uint32_t dt_seccomp_ret_data = SECCOMP_RET_DATA;
const uint32_t dt_audit_arch_x86_64 = AUDIT_ARCH_X86_64;
const uint32_t dt_audit_arch_i386 = AUDIT_ARCH_I386;
const int dt_o_path = O_PATH;
const int dt_o_tmpfile = O_TMPFILE;
// glibc's __O_TMPFILE includes O_DIRECTORY; the kernel's own bit is without it.
const int dt_o_tmpfile_bit = O_TMPFILE & ~O_DIRECTORY;
const uint64_t dt_clone_untraced = CLONE_UNTRACED;
const uint64_t dt_clone_newns = CLONE_NEWNS;
const uint64_t dt_clone_newpid = CLONE_NEWPID;
const uint64_t dt_clone_newuser_flag = CLONE_NEWUSER;
const uint16_t dt_bpf_load_word = BPF_LD | BPF_W | BPF_ABS;
const uint16_t dt_bpf_and = BPF_ALU | BPF_AND | BPF_K, dt_bpf_jump_always = BPF_JMP | BPF_JA;
const uint16_t dt_bpf_jump_equal = BPF_JMP | BPF_JEQ | BPF_K;
const uint16_t dt_bpf_jump_greater = BPF_JMP | BPF_JGT | BPF_K;
const uint16_t dt_bpf_return = BPF_RET | BPF_K;

int dt_is_tmpfs(const char *path) {
    struct statfs info;
    if (statfs(path, &info) < 0) return -1;
    return info.f_type == 0x01021994 /* TMPFS_MAGIC */;
}

// MARK: seccomp user notification

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

const uint32_t dt_seccomp_ret_user_notif = SECCOMP_RET_USER_NOTIF;
const int dt_ptrace_interrupt = PTRACE_INTERRUPT;

int dt_notification_receive(int listener, dt_notification *out) {
    struct seccomp_notif notification;
    // The kernel wants it zeroed.
    memset(&notification, 0, sizeof notification);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notification) < 0) return -1;
    out->id = notification.id;
    out->pid = notification.pid;
    out->nr = notification.data.nr;
    out->arch = notification.data.arch;
    for (int i = 0; i < 6; i++) out->args[i] = notification.data.args[i];
    return 0;
}

int dt_listener_hung_up(int listener) {
    struct pollfd entry = {.fd = listener, .events = POLLIN};
    int n;
    do {
        n = poll(&entry, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n > 0 && (entry.revents & POLLHUP) ? 1 : 0;
}

int dt_notification_continue(int listener, uint64_t id) {
    struct seccomp_notif_resp response;
    memset(&response, 0, sizeof response);
    response.id = id;
    response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response);
}

int dt_notification_id_valid(int listener, uint64_t id) {
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
}

int dt_listener_set_sync(int listener) { return dt_listener_set_sync_to(listener, 1); }

int dt_listener_set_sync_to(int listener, int sync) {
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, sync ? SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP : 0);
}

int dt_listener_receive(int socket, int *reason) {
    int32_t error = 0;
    struct iovec vector = {.iov_base = &error, .iov_len = sizeof error};
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = {
        .msg_iov = &vector, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof control.buffer};
    ssize_t n;
    do {
        n = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    *reason = 0;
    if (n < 0) {
        *reason = errno;
        return -1;
    }
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    if (header && header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS &&
        header->cmsg_len == CMSG_LEN(sizeof(int))) {
        int fd;
        memcpy(&fd, CMSG_DATA(header), sizeof fd);
        return fd;
    }
    *reason = n == (ssize_t)sizeof error ? error : 0;
    errno = *reason;
    return -1;
}

int dt_listener_probe(void) {
    pid_t child = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (child < 0) return -1;
    if (child == 0) {
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog program = {.len = 1, .filter = &allow};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) _exit(0);
        long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &program);
        if (listener < 0) _exit(0);
        _exit(dt_listener_set_sync((int)listener) == 0 ? 3 : 1);
    }
    int status;
    pid_t waited;
    do {
        waited = waitpid(child, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (waited < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
}

int dt_listener_of_ended_child(void) {
    int sockets[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) < 0) return -1;
    pid_t child = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (child < 0) {
        close(sockets[0]);
        close(sockets[1]);
        return -1;
    }
    if (child == 0) {
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog program = {.len = 1, .filter = &allow};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) _exit(1);
        long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
        if (listener < 0) _exit(1);
        _exit(dt_listener_send(sockets[1], (int)listener, 0) == 0 ? 0 : 1);
    }
    close(sockets[1]);
    int reason;
    int listener = dt_listener_receive(sockets[0], &reason);
    close(sockets[0]);
    int status;
    pid_t waited;
    do {
        waited = waitpid(child, &status, 0);
    } while (waited < 0 && errno == EINTR);
    return listener;
}

int dt_socketpair_cloexec(int fds[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }

int dt_get_return_value(pid_t pid, int64_t *value) {
    struct user_regs_struct registers;
    if (dt_ptrace(PTRACE_GETREGS, pid, 0, (uintptr_t)&registers) < 0) return -1;
    *value = (int64_t)registers.rax;
    return 0;
}

// SIGURG: ignored by default, never sent by the kernel for anything
// develtrace does, and not queued (a real-time signal sent in a retry loop
// would fill the queue).
#define DT_WAKE_SIGNAL SIGURG

static void ignore_wake(int signal) { (void)signal; }

int dt_wake_signal_install(void) {
    static int installed = 0;
    if (__atomic_load_n(&installed, __ATOMIC_ACQUIRE)) return 0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = ignore_wake;
    sigemptyset(&action.sa_mask);
    if (sigaction(DT_WAKE_SIGNAL, &action, NULL) < 0) return -1;
    __atomic_store_n(&installed, 1, __ATOMIC_RELEASE);
    return 0;
}

int dt_wake_signal_unblock(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, DT_WAKE_SIGNAL);
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0 ? 0 : -1;
}

int dt_wake_thread(pid_t tid) { return (int)syscall(SYS_tgkill, getpid(), tid, DT_WAKE_SIGNAL); }

pid_t dt_gettid(void) { return (pid_t)syscall(SYS_gettid); }
