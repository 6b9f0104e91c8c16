// The C side of develtrace: only what Swift cannot call directly (variadic
// ptrace and syscall) and the code that runs between fork and exec, where
// only async-signal-safe functions are allowed. The Swift side builds every
// plan; these functions only carry it out.
#ifndef CDEVELTRACE_H
#define CDEVELTRACE_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: ptrace

/// `ptrace(2)` without varargs. Returns -1 and sets errno on failure.
long dt_ptrace(int request, pid_t pid, uintptr_t addr, uintptr_t data);

/// `PTRACE_GET_SYSCALL_INFO`, flattened so Swift needs no unions.
typedef struct dt_syscall_info {
    uint8_t op;            // PTRACE_SYSCALL_INFO_{NONE,ENTRY,EXIT,SECCOMP}
    uint32_t arch;         // AUDIT_ARCH_*
    uint64_t nr;           // entry and seccomp stops
    uint64_t args[6];      // entry and seccomp stops
    int64_t rval;          // exit stops: the return value, or -errno
    uint8_t is_error;      // exit stops
    uint32_t ret_data;     // seccomp stops: SECCOMP_RET_DATA of the filter's action
} dt_syscall_info;

/// Fills `info` for a tracee in a syscall, seccomp or exit stop.
/// Returns 0, or -1 with errno.
int dt_get_syscall_info(pid_t pid, dt_syscall_info *info);

/// Reads the first argument register of a tracee stopped at a clone/fork
/// event (the clone flags of `clone`). Returns -1 with errno on failure.
int dt_get_first_argument(pid_t pid, uint64_t *value);

// MARK: process handles

int dt_pidfd_open(pid_t pid);
int dt_pidfd_send_signal(int pidfd, int signal);


/// The symbolic name of an errno value ("ENOENT"), or NULL if unknown.
const char *dt_errno_name(int error);

// MARK: GNU extensions Swift's Glibc module does not show

/// `AT_EMPTY_PATH`.
extern const int dt_at_empty_path;

/// `process_vm_readv` for one local and one remote buffer.
ssize_t dt_read_tracee(pid_t pid, void *local, size_t length, uint64_t remote);

/// `pipe2(fds, O_CLOEXEC)`.
int dt_pipe_cloexec(int fds[2]);

/// Starts the host tool `argv[0]` (looked up in PATH) with `input`,
/// `output` and `error` as its standard descriptors, in `directory` (NULL:
/// develtrace's own), no other descriptor open, every signal unblocked and
/// at its default. Returns the pid, or -errno (ENOENT: no such tool).
pid_t dt_spawn_host(char *const argv[], int input, int output, int error, const char *directory);

/// The `faccessat2` system call (glibc's wrapper emulates flags for root).
int dt_faccessat2(int dirfd, const char *path, int mode, int flags);

/// `openat2(dirfd, path, flags | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`:
/// `path` looked up as if `dirfd` were the root. Returns the fd, or -1 with errno.
int dt_open_in_root(int dirfd, const char *path, int flags);

/// `openat2(dirfd, path, flags | O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`:
/// `path` looked up only below `dirfd` (EXDEV for `..` above it or an absolute
/// symlink). Returns the fd, or -1 with errno.
int dt_open_beneath(int dirfd, const char *path, int flags);

/// `dt_open_in_root` (`in_root`) or `dt_open_beneath`, with
/// `RESOLVE_NO_SYMLINKS` when `no_symlinks` (ELOOP at any symlink on the way,
/// the last component's too unless `O_PATH | O_NOFOLLOW`).
int dt_open_scoped(int dirfd, const char *path, int flags, int in_root, int no_symlinks);

/// The calling thread's file-system identity (setfsuid/setfsgid and its
/// supplementary groups, this thread only). 0 or -1 with errno.
int dt_thread_fs_identity(uid_t uid, gid_t gid, int clear_groups);

/// `CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS`.
extern const int dt_clone_sandbox_namespaces;
/// `CLONE_NEWUSER`.
extern const int dt_clone_newuser;

// MARK: ptrace constants (<linux/ptrace.h>; its macros do not import)

extern const int dt_ptrace_cont, dt_ptrace_detach, dt_ptrace_syscall, dt_ptrace_setoptions, dt_ptrace_geteventmsg,
    dt_ptrace_seize, dt_ptrace_listen, dt_ptrace_interrupt;
extern const unsigned long dt_ptrace_o_tracesysgood, dt_ptrace_o_tracefork, dt_ptrace_o_tracevfork, dt_ptrace_o_traceclone,
    dt_ptrace_o_traceexec, dt_ptrace_o_traceseccomp, dt_ptrace_o_exitkill;
extern const int dt_ptrace_event_fork, dt_ptrace_event_vfork, dt_ptrace_event_clone, dt_ptrace_event_exec,
    dt_ptrace_event_vfork_done, dt_ptrace_event_exit, dt_ptrace_event_seccomp, dt_ptrace_event_stop;
/// `__WALL | __WNOTHREAD` for `waitpid`.
extern const int dt_wait_all_own_thread;

// MARK: seccomp, audit and clone constants (<linux/seccomp.h>, <linux/audit.h>, <sched.h>)

extern const uint32_t dt_seccomp_ret_allow, dt_seccomp_ret_errno, dt_seccomp_ret_trace, dt_seccomp_ret_data;
extern const uint32_t dt_audit_arch_x86_64, dt_audit_arch_i386;
/// `open` flags glibc shows only under `_GNU_SOURCE`: `O_PATH`, `O_TMPFILE`
/// (which includes `O_DIRECTORY`) and the kernel's `__O_TMPFILE`, its own
/// bit without `O_DIRECTORY` (glibc's `__O_TMPFILE` has both).
extern const int dt_o_path, dt_o_tmpfile, dt_o_tmpfile_bit;
/// Clone flags as a system call's argument (64 bits).
extern const uint64_t dt_clone_untraced, dt_clone_newns, dt_clone_newuser_flag, dt_clone_newpid;
/// Classic BPF opcodes (<linux/filter.h>): `BPF_LD|BPF_W|BPF_ABS`,
/// `BPF_JMP|BPF_JEQ|BPF_K`, `BPF_JMP|BPF_JGT|BPF_K`, `BPF_RET|BPF_K`.
extern const uint16_t dt_bpf_load_word, dt_bpf_jump_equal, dt_bpf_jump_greater, dt_bpf_return;
/// `BPF_ALU|BPF_AND|BPF_K`, `BPF_JMP|BPF_JA` (a jump of 32 bits).
extern const uint16_t dt_bpf_and, dt_bpf_jump_always;

/// `faccessat2` flags.
extern const int dt_at_eaccess;

// MARK: the in-kernel recorder (bpf(2), Linux 5.17: ring buffers, bpf_loop)
/// `BPF_MAP_TYPE_*`.
extern const uint32_t dt_bpf_map_hash, dt_bpf_map_array, dt_bpf_map_percpu_array, dt_bpf_map_ringbuf;
/// `BPF_FUNC_*`: the helpers the recorder's programs call.
extern const int32_t dt_bpf_func_map_lookup_elem, dt_bpf_func_map_update_elem, dt_bpf_func_map_delete_elem,
    dt_bpf_func_get_current_pid_tgid, dt_bpf_func_probe_read_kernel, dt_bpf_func_probe_read_user_str,
    dt_bpf_func_ringbuf_output, dt_bpf_func_probe_read_user, dt_bpf_func_get_smp_processor_id, dt_bpf_func_loop,
    dt_bpf_func_get_ns_current_pid_tgid, dt_bpf_func_get_current_task, dt_bpf_func_ktime_get_ns;
/// `BPF_RB_NO_WAKEUP`: a record that wakes no reader (the reader polls).
extern const uint64_t dt_bpf_rb_no_wakeup;
/// `BPF_F_NO_PREALLOC`: a hash map that allocates its elements as they come.
extern const uint32_t dt_bpf_f_no_prealloc;
/// `BPF_MAP_CREATE`. The map's descriptor, or -1 with errno.
int dt_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags,
                      const char *name);
/// `BPF_BTF_LOAD` of a type blob (`size` bytes); the kernel's log into
/// `log` when not NULL. Its descriptor, or -1 with errno.
int dt_bpf_btf_load(const void *data, uint32_t size, char *log, uint32_t log_size);
/// `BPF_PROG_LOAD` of a `BPF_PROG_TYPE_RAW_TRACEPOINT` program (`count`
/// 8-byte instructions, license "GPL"); with `btf` >= 0, `func_info_count`
/// `struct bpf_func_info` records (instruction, type id) name its functions
/// (the kernel wants them for a callback); the verifier's log into `log`
/// when not NULL. The program's descriptor, or -1 with errno.
int dt_bpf_prog_load_raw_tracepoint(const void *instructions, uint32_t count, int btf, const void *func_info,
                                    uint32_t func_info_count, char *log, uint32_t log_size);
/// `BPF_RAW_TRACEPOINT_OPEN`: attached while the returned descriptor is open.
int dt_bpf_raw_tracepoint_open(const char *name, int program);
/// `BPF_MAP_UPDATE_ELEM` (`BPF_ANY`), `BPF_MAP_DELETE_ELEM`, `BPF_MAP_LOOKUP_ELEM`: 0 or -1 with errno.
int dt_bpf_map_update(int map, const void *key, const void *value);
int dt_bpf_map_delete(int map, const void *key);
int dt_bpf_map_lookup(int map, const void *key, void *value);
/// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first with NULL) into `next`. 0 or -1 with errno (`ENOENT` at the end).
int dt_bpf_map_next_key(int map, const void *key, void *next);
/// A BPF ring buffer's consumer side, mapped.
typedef struct dt_ringbuf {
    void *consumer;
    void *producer;
    uint8_t *data;
    uint64_t mask;
    uint64_t page;
    uint32_t size;
} dt_ringbuf;
/// Maps the ring buffer `map` of `size` bytes (a power of two). 0 or -1 with errno.
int dt_ringbuf_open(int map, uint32_t size, dt_ringbuf *ring);
void dt_ringbuf_close(dt_ringbuf *ring);
/// The next committed record's data and length, or NULL when there is none
/// yet (discarded records are skipped). Valid until `dt_ringbuf_advance`.
const void *dt_ringbuf_next(dt_ringbuf *ring, uint32_t *length);
/// Gives the record `dt_ringbuf_next` returned back to the producer.
void dt_ringbuf_advance(dt_ringbuf *ring, uint32_t length);

// MARK: seccomp user notification
/// `struct seccomp_notif`, flattened (its `data` member inlined).
typedef struct dt_notification {
    uint64_t id;
    uint32_t pid;        // the calling thread, in the listener's PID namespace
    int32_t nr;
    uint32_t arch;       // AUDIT_ARCH_*
    uint64_t args[6];
} dt_notification;
/// `SECCOMP_RET_USER_NOTIF`.
extern const uint32_t dt_seccomp_ret_user_notif;
/// `SECCOMP_IOCTL_NOTIF_RECV`: blocks until a call is waiting. 0, or -1
/// with errno (EINTR, or ENOENT when the caller went away first).
int dt_notification_receive(int listener, dt_notification *out);
/// `SECCOMP_IOCTL_NOTIF_SEND` with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the
/// call goes on in the kernel. 0, or -1 with errno (ENOENT: it is gone).
int dt_notification_continue(int listener, uint64_t id);
/// 1 when no task uses the listener's filter any more (`POLLHUP`): every
/// receive fails at once with ENOENT from then on; 0 otherwise.
int dt_listener_hung_up(int listener);
/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: 0 while the call still waits.
int dt_notification_id_valid(int listener, uint64_t id);
/// `SECCOMP_IOCTL_NOTIF_SET_FLAGS(SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)`
/// (Linux 6.6). 0, or -1 with errno (EINVAL before 6.6).
int dt_listener_set_sync(int listener);
/// Sets (1) or clears (0) the sync wake-up; may be called at any time.
int dt_listener_set_sync_to(int listener, int sync);
/// The listener the command sent on `socket` (see `dt_spawn_plan`). Returns
/// it (close-on-exec), or -1 with `*reason` the command's errno when it
/// could not make one (0: it sent nothing and went away).
int dt_listener_receive(int socket, int *reason);
/// The tracer's answer on `socket` once it has received the listener (or
/// the reason there is none): the command waits for it before its exec.
int dt_listener_acknowledge(int socket);
/// What this kernel and this process's place allow, tried in a child:
/// bit 0: a filter with a listener and `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`
/// (Linux 5.19; EBUSY under an ancestor's listener); bit 1: the sync
/// wake-up (Linux 6.6). -1 with errno if the child could not be made.
int dt_listener_probe(void);
/// Sends `error` (0, or why there is no listener) and, when `fd` >= 0, the
/// listener itself, as one message on `socket`.
int dt_listener_send(int socket, int fd, int error);
/// For tests: the listener of a filter whose only task has ended (a child
/// that loaded it, sent it, and exited); -1 when it could not be made.
int dt_listener_of_ended_child(void);
/// Installs, once, a handler that does nothing for the wake signal
/// (`SIGURG`, without `SA_RESTART`): a blocked `waitpid` or listener
/// `ioctl` of a thread it is sent to returns EINTR. 0 or -1 with errno.
int dt_wake_signal_install(void);
/// Unblocks the wake signal in the calling thread (threads made by
/// Dispatch or Swift concurrency start with most signals blocked).
int dt_wake_signal_unblock(void);
/// Sends the wake signal to thread `tid` of this process.
int dt_wake_thread(pid_t tid);
/// The calling thread's id.
pid_t dt_gettid(void);
/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`.
int dt_socketpair_cloexec(int fds[2]);
/// The return-value register of a stopped tracee (`rax`), as a syscall's
/// result. 0, or -1 with errno.
int dt_get_return_value(pid_t pid, int64_t *value);

/// 1 if `path` is on a tmpfs, 0 if not, -1 with errno.
int dt_is_tmpfs(const char *path);

/// `memfd_create(name, MFD_CLOEXEC)`.
int dt_memfd(const char *name);

// MARK: spawning into a sandbox

enum dt_op_kind {
    DT_OP_MOUNT = 1,          // mount(source, target, fstype, flags, data)
    DT_OP_MKDIR = 2,          // mkdir(target, 0755); EEXIST is fine
    DT_OP_READONLY_TREE = 3,  // mount_setattr(target, AT_RECURSIVE, MOUNT_ATTR_RDONLY)
    DT_OP_PIVOT_ROOT = 4,     // make target the root and detach the old one
    DT_OP_HOSTNAME = 5,       // sethostname(data)
    DT_OP_LOOPBACK_UP = 6,    // bring up "lo" in the new network namespace
    DT_OP_SYMLINK = 7,        // symlink(source, target); EEXIST is fine
    DT_OP_MKFILE = 8,         // an empty file at target (a mount point); EEXIST is fine
    DT_OP_IDMAPPED_BIND = 9,  // bind source at target through userns_fd's mapping (read-only if flags)
};

/// Who the sandbox's processes are.
enum dt_identity {
    DT_IDENTITY_HOST = 0,         // no sandbox: develtrace's own identity
    DT_IDENTITY_ROOT_MAPPED = 1,  // develtrace is root: the init sets up as root, then enters a
                                  // user namespace the parent maps to a range of its own
    DT_IDENTITY_ROOTLESS = 2,     // an ordinary user: a user namespace from the start (root = the
                                  // user), and a nested one for the command
};

/// One step of a sandbox set-up. Strings are owned by the caller.
typedef struct dt_op {
    int kind;
    const char *source;
    const char *target;
    const char *fstype;
    unsigned long flags;
    const char *data;
    int userns_fd;            // DT_OP_IDMAPPED_BIND: the user namespace whose map the bind shows
} dt_op;

/// Everything the children need, prepared before fork.
typedef struct dt_spawn_plan {
    int clone_flags;              // CLONE_NEW* flags for the sandbox; 0: no sandbox
    int identity;                 // enum dt_identity
    const int *idmap_fds;         // every ops[].userns_fd, kept open until the ops are done
    int idmap_count;              // at most 16
    long max_processes;           // RLIMIT_NPROC of the command; 0: unchanged
    const dt_op *ops;             // carried out in order by the sandbox's init
    int op_count;
    const char *cwd;              // working directory of the command (NULL: inherit)
    const char *path;             // program for execve
    char *const *argv;
    char *const *envp;
    const void *filter;           // struct sock_filter[filter_len], NULL for none
    unsigned short filter_len;
    const void *listener_filter;  // tried first, with a listener; NULL: only `filter`
    unsigned short listener_filter_len;
    int listener_socket;          // the command sends the listener on it (or why not), then waits for one byte; -1: none
    int listener_required;        // no listener: fail (DT_STAGE_FILTER, index 2) rather than load `filter`
    int listener_refused;         // tests only: act as if the kernel refused the listener (EBUSY)
    int listener_plain;           // load `listener_filter` without a listener (it notifies nothing): the
                                  // message then says only whether it loaded (error 0, no descriptor)
    int cpu;                      // pin the command to this CPU; -1: no pinning
    int stdio[3];                 // descriptors for the command's 0, 1, 2; -1: inherit
    int status_fd;                // write end: dt_status records (close-on-exec)
    int go_fd;                    // read end: one byte once the tracer is attached
} dt_spawn_plan;

enum dt_stage {
    DT_STAGE_READY = 0,     // init finished the set-up, waits for the tracer
    DT_STAGE_OP = 1,        // ops[index] failed with error
    DT_STAGE_FORK = 2,      // init could not fork the command
    DT_STAGE_CHDIR = 3,     // chdir(cwd) failed
    DT_STAGE_FILTER = 4,    // the seccomp filter could not be loaded
    DT_STAGE_EXEC = 5,      // execve failed with error
    DT_STAGE_AFFINITY = 6,  // sched_setaffinity failed
    DT_STAGE_STDIO = 7,     // dup2 of stdio[index] failed
    DT_STAGE_FDS = 8,       // closing inherited descriptors failed
    DT_STAGE_USERNS = 9,    // entering or mapping the inner user namespace failed (index: which step)
    DT_STAGE_CAPABILITIES = 10,  // dropping capabilities (0) or setting no_new_privs (1) failed
    DT_STAGE_LIMIT = 11,    // setrlimit(RLIMIT_NPROC) failed
};

/// What the sandbox's children report on `status_fd`.
typedef struct dt_status {
    int32_t stage;
    int32_t index;
    int32_t error;
} dt_status;

/// Clones the sandbox init ("A") with `plan->clone_flags`. A closes every
/// descriptor it does not need; rootless, it waits for one byte on go_fd (its
/// maps are written); it carries out the ops, enters a user namespace of its
/// own (see dt_identity), reports DT_STAGE_READY, waits for one byte on
/// go_fd, forks the command ("B": process limit, affinity, stdio, no other
/// descriptors, chdir, no capabilities, no_new_privs, seccomp filter,
/// execve) and exits with B's status (128+N for a signal). Returns A's pid,
/// or -1 with errno.
pid_t dt_spawn(const dt_spawn_plan *plan);

/// A user namespace with the given maps ("0 1000000000 1\n"), held by the
/// returned fd (close-on-exec), for idmapped mounts. -1 with errno.
int dt_make_user_namespace(const char *uid_map, const char *gid_map);

/// Sets the calling thread's CPU affinity to one CPU. 0 or -1 with errno.
int dt_pin_thread_to_cpu(int cpu);
/// Writes up to `capacity` numbers of the CPUs this thread may run on;
/// returns how many, or -1 (errno set).
int dt_available_cpu_list(int *cpus, int capacity);
/// Lets this thread run on the `count` CPUs listed.
int dt_pin_thread_to_cpus(const int *cpus, int count);

#ifdef __cplusplus
}
#endif

#endif
