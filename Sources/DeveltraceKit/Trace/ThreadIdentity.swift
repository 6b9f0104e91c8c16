import CDeveltrace

/// The tracer threads' file-system identity: each thread that predicts
/// results (the ptrace loop's, the listener's) takes the sandbox root's.
extension SandboxIdentity {
    /// Gives this thread's file-system checks (not its other credentials)
    /// the sandbox root's host identity when develtrace runs as root, so
    /// the tracer's lookups get the tracees' permissions (root's would pass
    /// everything). `changed`: give it back with `restoreThreadIdentity()`;
    /// `predictsResults`: false when the kernel refused (the lookups would
    /// then be root's).
    func takeOnThisThread() -> (changed: Bool, predictsResults: Bool) {
        guard case .rootMapped = self else { return (false, true) }
        let (uid, gid) = hostIdentity
        let changed = dt_thread_fs_identity(uid, gid, 1) == 0
        return (changed, changed)
    }

    /// Undoes `takeOnThisThread()`.
    static func restoreThreadIdentity() {
        _ = dt_thread_fs_identity(0, 0, 0)
    }
}
