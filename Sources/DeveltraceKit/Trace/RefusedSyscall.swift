import CDeveltrace
#if canImport(Glibc)
import Glibc
#endif

/// A system call the seccomp filter refuses, because it would reach a file
/// without a trace line or change the sandbox from inside. Each errno is one
/// that makes programs fall back to a traced way (glibc's `posix_spawn`
/// falls back from `clone3` to `clone` on ENOSYS, liburing users to plain
/// reads).
struct RefusedSyscall: Sendable {
    var name: String
    var errno: Int32
    /// Refused only when argument `argument` has any of these bits; nil:
    /// always.
    var flags: (argument: Int, bits: [UInt64])? = nil
    /// Why, for the README and the tests.
    var reason: String

    // Linux's clone flags (uapi/linux/sched.h), through the C target.
    static let cloneUntraced = dt_clone_untraced
    static let cloneNewNamespace = dt_clone_newns
    static let cloneNewUser = dt_clone_newuser_flag
    static let cloneNewPid = dt_clone_newpid

    /// Every refusal the filter makes, besides the two blanket ones: numbers
    /// libseccomp cannot name and other ABIs (x32), both ENOSYS.
    static let table: [RefusedSyscall] = [
        RefusedSyscall(name: "io_uring_setup", errno: ENOSYS, reason: "io_uring opens and stats files without a system call per access"),
        RefusedSyscall(name: "io_uring_enter", errno: ENOSYS, reason: "io_uring"),
        RefusedSyscall(name: "io_uring_register", errno: ENOSYS, reason: "io_uring"),
        RefusedSyscall(name: "open_by_handle_at", errno: EPERM, reason: "opens a file by handle, no path to trace"),
        RefusedSyscall(name: "name_to_handle_at", errno: EPERM, reason: "makes the handles open_by_handle_at takes"),
        RefusedSyscall(name: "clone3", errno: ENOSYS, reason: "its flags are in memory, where the filter cannot see CLONE_UNTRACED"),
        RefusedSyscall(
            name: "clone", errno: EPERM, flags: (0, [cloneUntraced, cloneNewUser, cloneNewNamespace, cloneNewPid]),
            reason:
                "CLONE_UNTRACED escapes the tracer; a new user or mount namespace could mount over paths; the in-kernel recorder knows the sandbox's tasks by their PID namespace"
        ),
        RefusedSyscall(
            name: "unshare", errno: EPERM, flags: (0, [cloneNewUser, cloneNewNamespace, cloneNewPid]),
            reason:
                "a new user or mount namespace could mount over paths the tracer looks up; a new PID namespace would hide its tasks from the in-kernel recorder"
        ),
        RefusedSyscall(name: "setns", errno: EPERM, reason: "joins another namespace"),
    ]
}
