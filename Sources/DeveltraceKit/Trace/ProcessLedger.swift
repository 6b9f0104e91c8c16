#if canImport(Glibc)
import Glibc
#endif

/// The processes of a trace that no ptrace loop follows, kept from the
/// in-kernel recorder's process records (`RecorderEvent.Kind.fork`,
/// `exec`, `exit`) in the ring's order, which is the kernel's: a fork comes
/// before anything its child does, an exit after the task's last call. So
/// unlike `ForkOrder` nothing waits for a pairing: each record finds the
/// state it needs. Pure.
///
/// Tasks are named by their host pid (tid); processes by
/// `TracedProcess.id`, fresh for a pid used again. A task met without a
/// fork record (the command, whose fork by the init comes before anything
/// is recorded) starts a process of its own with parent 0.
struct ProcessLedger {
    private(set) var processes: [pid_t: TracedProcess] = [:]
    /// Each live task's process.
    private(set) var taskProcess: [pid_t: pid_t] = [:]
    /// The id of each live process, by its pid.
    private var liveIDs: [pid_t: pid_t] = [:]
    /// Live tasks of each process, by id: it ends with its last.
    private var liveTasks: [pid_t: Int] = [:]
    /// The next id for a pid used again, above any pid.
    private var freshIDs = pid_t.max
    /// The first process met without a fork record: the command.
    private(set) var commandID: pid_t?

    /// The process of task `tid` of thread group `group`; a task not met
    /// before starts a process (parent 0), or joins its group's.
    mutating func process(ofTask tid: pid_t, group: pid_t) -> pid_t {
        if let process = taskProcess[tid] { return process }
        if let process = liveIDs[group] {
            taskProcess[tid] = process
            liveTasks[process, default: 0] += 1
            return process
        }
        let process = start(pid: group, parent: 0, inheriting: nil)
        if commandID == nil { commandID = process }
        taskProcess[tid] = process
        liveTasks[process] = 1
        return process
    }

    /// `tid` (of `group`) forked `child` of thread group `childGroup`: a
    /// thread of its own process, or a new process that starts with its
    /// parent's program.
    mutating func forked(tid: pid_t, group: pid_t, child: pid_t, childGroup: pid_t) {
        let parent = process(ofTask: tid, group: group)
        if childGroup != child, let process = liveIDs[childGroup] {
            taskProcess[child] = process
            liveTasks[process, default: 0] += 1
            return
        }
        let process = start(pid: child, parent: parent, inheriting: processes[parent])
        taskProcess[child] = process
        liveTasks[process] = 1
    }

    /// Task `tid` executed a program, as task `former` before (a thread
    /// that executes takes its leader's pid; the leader ended first).
    /// `program`: what it executed, when known.
    mutating func executed(tid: pid_t, group: pid_t, former: pid_t) {
        guard former != tid, let process = taskProcess.removeValue(forKey: former) else { return }
        if taskProcess[tid] == nil { liveTasks[process, default: 0] += 1 }
        taskProcess[tid] = process
        liveTasks[process, default: 1] -= 1
    }

    /// The program the process of `tid` runs from now on.
    mutating func setProgram(ofTask tid: pid_t, group: pid_t, argv: [RawPath], executable: RawPath?) {
        let process = process(ofTask: tid, group: group)
        processes[process]?.argv = argv
        processes[process]?.executable = executable
    }

    /// Task `tid` ended with the wait status `status`; its process ends
    /// with its last task, with that task's status. Returns the process
    /// when it ended.
    @discardableResult
    mutating func exited(tid: pid_t, group: pid_t, status: Int32) -> pid_t? {
        guard let process = taskProcess.removeValue(forKey: tid) else { return nil }
        let left = (liveTasks[process] ?? 1) - 1
        guard left <= 0 else {
            liveTasks[process] = left
            return nil
        }
        liveTasks[process] = nil
        if let pid = processes[process]?.pid, liveIDs[pid] == process { liveIDs[pid] = nil }
        processes[process]?.exitStatus = Self.exitStatus(waitStatus: status)
        return process
    }

    /// A wait status as `TracedProcess.exitStatus` has it: the exit code,
    /// or 128 + the signal. Pure.
    static func exitStatus(waitStatus status: Int32) -> Int32 {
        status & 0x7F == 0 ? status >> 8 & 0xFF : 128 + status & 0x7F
    }

    private mutating func start(pid: pid_t, parent: pid_t, inheriting parentProcess: TracedProcess?) -> pid_t {
        var id = pid
        if processes[pid] != nil {
            id = freshIDs
            freshIDs -= 1
        }
        liveIDs[pid] = id
        processes[id] = TracedProcess(
            id: id, pid: pid, parent: parent, argv: parentProcess?.argv ?? [], executable: parentProcess?.executable)
        return id
    }
}
