#if canImport(Glibc)
import Glibc
#endif

/// Who forked each process of a trace, when ptrace reports the parent's
/// fork event and the child's first stop in either order. Pure state: the
/// ptrace loop tells it what came, it answers with the parent to record.
///
/// A pid names different processes over a long trace (a build that runs
/// more than `pid_max` processes machine-wide wraps around), so nothing
/// here outlives the pairing it was kept for: an announcement is taken by
/// the child's first stop, a waiting child by its fork event, and a child
/// that ended before either (killed before its first stop) by its fork
/// event. The parent is kept as its process's id at the fork, never as the
/// forking thread's pid, which may name another task by the child's first
/// stop.
///
/// Stop 28's 30-package sweep reported `openssl` as a dependency of the
/// kernel package: an announcement left over from an earlier process with
/// the same pid gave DKMS's `sign-file` a `make` of the build as its parent.
struct ForkOrder {
    /// The parent's fork event came first: the child's pid → the parent's
    /// process id.
    private var announced: [pid_t: pid_t] = [:]
    /// Tasks whose first stop came first, by pid.
    private var waiting: [pid_t: LateParent] = [:]
    /// Tasks that ended before their first stop and their fork event.
    private var vanished: Set<pid_t> = []

    /// The first stop of task `pid` (a process's leader when `isLeader`,
    /// whose record has id `process`): the parent's process id when the
    /// fork event came first; nil when the parent is not known yet.
    mutating func firstStop(of pid: pid_t, process: pid_t, isLeader: Bool) -> pid_t? {
        if let parent = announced.removeValue(forKey: pid) { return parent }
        waiting[pid] = LateParent(process: process, isLeader: isLeader, executed: false)
        return nil
    }

    /// What a fork event means for a child that stopped first.
    struct LateParent: Equatable {
        /// The child's process id.
        var process: pid_t
        /// Whether the child is that process's leader (not a thread of
        /// the parent's process).
        var isLeader: Bool
        /// Whether it has executed a program already.
        var executed: Bool
    }

    /// A fork event: `parent` (a process id) forked task `child`. Returns
    /// the child's process when its first stop came first (its parent is
    /// to be set now); nil otherwise (remembered for the first stop).
    mutating func forkEvent(child: pid_t, parent: pid_t) -> LateParent? {
        if let early = waiting.removeValue(forKey: child) { return early }
        if vanished.remove(child) != nil { return nil }
        announced[child] = parent
        return nil
    }

    /// Task `pid` (its process's leader now) executed a program.
    mutating func executed(_ pid: pid_t) {
        waiting[pid]?.executed = true
    }

    /// Task `pid` ended; `seen` when it had stopped at least once.
    mutating func ended(_ pid: pid_t, seen: Bool) {
        // A waiting child stays until its fork event: its pid cannot be
        // used again before its parent, stopped in that event, reaps it.
        if announced.removeValue(forKey: pid) == nil && !seen && waiting[pid] == nil { vanished.insert(pid) }
    }

    /// Pairings not yet made (for tests: none is left once every event of a
    /// trace has come).
    var open: Int { announced.count + waiting.count + vanished.count }
}
