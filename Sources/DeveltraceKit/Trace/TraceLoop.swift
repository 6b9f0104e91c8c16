import CDeveltrace
import Dispatch
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The ptrace event loop of one trace. Runs entirely on the thread that
/// spawned the tracees (ptrace requests must come from the tracer thread).
///
/// The seccomp filter stops a tracee only at the entry of a path system call
/// (`PTRACE_EVENT_SECCOMP`). There the loop reads the call's paths from the
/// tracee's memory, resolves relative ones against `/proc/PID/cwd` or
/// `/proc/PID/fd/N`, and resumes to the syscall-exit stop to learn the
/// result. A successful `execve` is confirmed by `PTRACE_EVENT_EXEC` instead.
/// With the in-kernel recorder, `execve` does not stop at its entry: the
/// exec event takes its path and argument vector from the recorder.
final class TraceLoop {
    private let table = PathSyscall.table
    private let proc: FileDescriptor
    private let initPid: pid_t
    private var memory = TraceeMemory()
    private var predictor: ResultPredictor
    /// Whether the tracer sees the tracees' file system exactly (same mount
    /// namespace and root), so results can be predicted at the entry stop.
    var predictsResults = false

    private struct Task {
        /// Its process's `TracedProcess.id`.
        var process: pid_t
        var pending: [PendingAccess] = []
        var pendingArgv: [RawPath]? = nil
        var movesWorkingDirectory = false
        /// Changes this task's call began in the lookup cache, ended at
        /// its exit (or the task's end).
        var changesRunning = 0
    }

    private var tasks: [pid_t: Task] = [:]
    /// Fork events and first stops, paired whichever comes first.
    private var forks = ForkOrder()
    /// Every process of the trace by `TracedProcess.id`.
    private(set) var processes: [pid_t: TracedProcess] = [:]
    /// The id of each live process, by its pid: a pid used again later gets
    /// a new one (`freshIDs`), so that two processes never share a record.
    private var liveIDs: [pid_t: pid_t] = [:]
    /// The next id for a pid used again: above any pid (`pid_max` is at
    /// most 2^22).
    private var freshIDs = pid_t.max
    /// What this loop shares with a listener loop (the access log first).
    let shared: TraceShared
    var accesses: [FileAccess] { shared.accesses }
    /// Calls the listener handed over: the task stops right after them.
    private var interrupted: [pid_t: (process: pid_t, access: PendingAccess)] = [:]
    /// The traced command (the init's only child) and how it ended.
    private(set) var commandPid: pid_t?
    private(set) var commandStatus: Int32?
    /// How the sandbox's init ended (untraced runs: the command's status).
    private(set) var initStatus: Int32?
    /// ptrace stops handled, by kind (for `--stats`).
    private(set) var seccompStops = 0
    private(set) var syscallExitStops = 0
    private(set) var otherStops = 0
    /// Stops right after a call the listener could not predict.
    private(set) var interruptStops = 0

    /// `root`: an `O_PATH` descriptor of the tracees' root, for predictions.
    init(initPid: pid_t, proc: FileDescriptor, root: Int32, shared: TraceShared) {
        self.initPid = initPid
        self.proc = proc
        self.predictor = ResultPredictor(proc: proc, root: root, cache: shared.lookups)
        self.shared = shared
    }

    static let options: Ptrace.Options = [
        .traceSysGood, .traceFork, .traceVFork, .traceClone, .traceExec, .traceSeccomp, .exitKill,
    ]

    /// Waits for and handles stops until no tracee and no child is left.
    func run() {
        tasks[initPid] = Task(process: initPid)
        _ = dt_wake_signal_unblock()
        shared.tracerThread.store(dt_gettid(), ordering: .releasing)
        while true {
            serveInterruptRequests()
            var status: Int32 = 0
            let pid = waitpid(-1, &status, Ptrace.waitFlags)
            if pid < 0 {
                if errno == EINTR { continue } // perhaps the listener's wake signal
                break // ECHILD: everything is gone.
            }
            handle(pid: pid, status: WaitStatus(status))
        }
        shared.finished.store(true, ordering: .releasing)
        shared.tracerThread.store(0, ordering: .releasing)
        // Nothing of the sandbox's stays open once it is gone.
        predictor.closeDescriptors()
    }

    /// Interrupts the tasks whose calls the listener could not predict, so
    /// they stop right after the call (`PTRACE_EVENT_STOP`), then lets the
    /// listener continue them.
    private func serveInterruptRequests() {
        for request in shared.takeInterruptRequests() {
            if (try? Ptrace.request(Ptrace.interrupt, request.tid)) != nil {
                interrupted[request.tid] = (request.process, request.access)
            }
            request.answered.signal()
        }
    }

    /// The stop after a handed-over call: its result is in the return
    /// register. A call the kernel will restart (a signal came) is not
    /// recorded: it comes to the listener again.
    private func interruptStop(_ pid: pid_t, _ call: (process: pid_t, access: PendingAccess)) {
        interruptStops += 1
        var value: Int64 = 0
        if dt_get_return_value(pid, &value) == 0 {
            let returned = Int64(Int32(truncatingIfNeeded: value)) == value ? Int64(Int32(truncatingIfNeeded: value)) : value
            if let result = AccessResult(returnValue: returned) {
                shared.record(pid: pid, process: call.process, [call.access], result: result)
            }
        }
        resume(pid)
    }

    private func handle(pid: pid_t, status: WaitStatus) {
        switch status {
        case .exited(let code):
            finished(pid: pid, status: code)
        case .signaled(let signal):
            finished(pid: pid, status: 128 + signal)
        case .stopped(let signal, let event):
            if tasks[pid] == nil { adopt(pid) }
            if event == Ptrace.Event.stop.rawValue, signal == SIGTRAP, let call = interrupted.removeValue(forKey: pid) {
                interruptStop(pid, call)
            } else if event == Ptrace.Event.seccomp.rawValue {
                seccompStops += 1
                seccompStop(pid)
            } else if signal == (SIGTRAP | 0x80) {
                syscallExitStops += 1
                syscallExitStop(pid)
            } else if event != 0 {
                otherStops += 1
                eventStop(pid, event: event, signal: signal)
            } else {
                // A signal on its way to the tracee: deliver it.
                resume(pid, signal: signal)
            }
        case .other:
            break
        }
    }

    /// A task seen for the first time (its first stop may come before its
    /// parent's fork event).
    private func adopt(_ pid: pid_t) {
        let leader = Self.threadGroup(of: pid, proc: proc) ?? pid
        let process = id(ofProcess: leader)
        tasks[pid] = Task(process: process)
        shared.setThreadGroup(pid, process)
        shared.recorder?.watch(pid)
        let announcedParent = forks.firstStop(of: pid, process: process, isLeader: leader == pid)
        if leader == pid && processes[process] == nil {
            let parentProcess = announcedParent ?? 0
            processes[process] = TracedProcess(
                id: process, pid: pid, parent: parentProcess, argv: processes[parentProcess]?.argv ?? [],
                executable: processes[parentProcess]?.executable)
        }
    }

    /// The id of the live process `pid` (its thread group), given on first
    /// sight: the pid itself, or a fresh one when an earlier process of the
    /// trace had that pid.
    private func id(ofProcess pid: pid_t) -> pid_t {
        if let id = liveIDs[pid] { return id }
        var id = pid
        if processes[pid] != nil {
            id = freshIDs
            freshIDs -= 1
        }
        liveIDs[pid] = id
        return id
    }

    private func finished(pid: pid_t, status: Int32) {
        forks.ended(pid, seen: tasks[pid] != nil)
        endChanges(pid)
        predictor.forget(pid)
        interrupted[pid] = nil
        // Its calls, before its pid can name another task.
        shared.recorder?.unwatch(pid, drainingInto: shared)
        shared.setThreadGroup(pid, nil)
        // Its pid may come back as another task with another directory.
        shared.directoryGeneration.add(1, ordering: .releasing)
        if let task = tasks.removeValue(forKey: pid), liveIDs[pid] == task.process {
            // The process itself (its leader), not one of its threads.
            processes[task.process]?.exitStatus = status
            liveIDs[pid] = nil
        }
        if pid == commandPid { commandStatus = status }
        if pid == initPid { initStatus = status }
    }

    private func eventStop(_ pid: pid_t, event: Int32, signal: Int32) {
        switch Ptrace.Event(rawValue: event) {
        case .fork, .vfork, .clone:
            let child = pid_t(truncatingIfNeeded: Ptrace.eventMessage(pid))
            // The command's parent is the init, which is not traced: 0.
            let parentProcess = pid == initPid ? 0 : tasks[pid]?.process ?? pid
            if let early = forks.forkEvent(child: child, parent: parentProcess), early.isLeader {
                // The child stopped first (and may even be gone already): now
                // we know its parent.
                let inherited = processes[parentProcess]
                processes[early.process]?.parent = parentProcess
                if !early.executed {
                    processes[early.process]?.argv = inherited?.argv ?? []
                    processes[early.process]?.executable = inherited?.executable
                }
            }
            if pid == initPid {
                // The init forked the command: from here on the command's
                // tree is traced; the init itself needs no tracing.
                commandPid = child
                try? Ptrace.request(Ptrace.detach, pid)
                tasks[pid] = nil
                return
            }
            resume(pid)
        case .exec:
            let former = pid_t(truncatingIfNeeded: Ptrace.eventMessage(pid))
            if former != pid, let task = tasks.removeValue(forKey: former) {
                // A non-leader thread executed: it now has the leader's pid.
                tasks[pid] = task
                shared.recorder?.carryExec(from: former, to: pid, drainingInto: shared)
                shared.recorder?.unwatch(former, drainingInto: shared)
            }
            execSucceeded(pid)
            resume(pid)
        case .stop:
            if signal == SIGSTOP || signal == SIGTSTP || signal == SIGTTIN || signal == SIGTTOU {
                // A group-stop: stay stopped like an untraced process would.
                try? Ptrace.request(Ptrace.listen, pid)
            } else {
                resume(pid)
            }
        default:
            resume(pid)
        }
    }

    private func resume(_ pid: pid_t, signal: Int32 = 0, toSyscallExit: Bool = false) {
        try? Ptrace.request(toSyscallExit ? Ptrace.syscall : Ptrace.cont, pid, 0, UInt(signal))
    }

    // MARK: Path system calls

    private func seccompStop(_ pid: pid_t) {
        var info = dt_syscall_info()
        guard dt_get_syscall_info(pid, &info) == 0, info.op == 3 /* SECCOMP */ else {
            resume(pid)
            return
        }
        let index = Int(info.ret_data)
        guard index < table.count else {
            resume(pid)
            return
        }
        let call = table[index]
        let args = withUnsafeBytes(of: info.args) { Array($0.bindMemory(to: UInt64.self)) }
        let movesWorkingDirectory = call.movesWorkingDirectory
        if movesWorkingDirectory {
            invalidateWorkingDirectories()
            if call.name == "chroot" {
                predictsResults = false
                shared.predictsResults.store(false, ordering: .releasing)
            }
            tasks[pid, default: Task(process: pid)].movesWorkingDirectory = true
        }
        let wordSize = info.arch == dt_audit_arch_x86_64 ? 8 : 4
        var pending: [PendingAccess] = []
        for operand in call.operands {
            guard let raw = memory.string(pid: pid, at: args[operand.pathArgument]) else { continue }
            let path = RawPath(bytes: raw)
            if path.isEmpty, let flags = call.atFlagsArgument, args[flags] & UInt64(dt_at_empty_path) != 0,
                call.name != "execveat"
            {
                continue // about a file descriptor, not a path
            }
            let dirfd = operand.dirfdArgument.map { Int32(truncatingIfNeeded: args[$0]) }
            let (absolute, relativeToWorkingDirectory) = predictor.locate(path, dirfd: dirfd, pid: pid)
            if predictsResults, let lookup = call.lookup, call.operands.count == 1 {
                let workingDirectory = relativeToWorkingDirectory ? predictor.workingDirectoryDescriptor(of: pid) : nil
                if let result = predictor.predict(
                    lookup, raw: path, absolute: absolute, workingDirectory: workingDirectory, args: args)
                {
                    tasks[pid, default: Task(process: pid)].pending = [
                        PendingAccess(
                            syscall: index, raw: path, absolute: absolute, intent: intent(of: operand.intent, args: args, pid: pid))
                    ]
                    complete(pid, result: result)
                    resume(pid)
                    return
                }
            }
            pending.append(
                PendingAccess(
                    syscall: index, raw: path, absolute: absolute,
                    intent: intent(of: operand.intent, args: args, pid: pid)))
        }
        let changes = beginChanges(pid, call, pending)
        if pending.isEmpty {
            resume(pid, toSyscallExit: movesWorkingDirectory || changes)
            return
        }
        tasks[pid, default: Task(process: pid)].pending = pending
        if call.operands.first?.intent.isExec == true {
            let argvAddress = args[call.name == "execveat" ? 2 : 1]
            tasks[pid]?.pendingArgv = memory.stringArray(pid: pid, at: argvAddress, width: wordSize).map(RawPath.init(bytes:))
        }
        resume(pid, toSyscallExit: true)
    }

    private func syscallExitStop(_ pid: pid_t) {
        var info = dt_syscall_info()
        let result: AccessResult
        if dt_get_syscall_info(pid, &info) == 0, info.op == 2 /* EXIT */ {
            result = info.is_error != 0 ? .failed(Errno(rawValue: Int32(-info.rval))) : .ok
        } else {
            result = .ok
        }
        complete(pid, result: result)
        endChanges(pid)
        tasks[pid]?.pendingArgv = nil
        if tasks[pid]?.movesWorkingDirectory == true {
            invalidateWorkingDirectories()
            tasks[pid]?.movesWorkingDirectory = false
        }
        resume(pid)
    }

    private func execSucceeded(_ pid: pid_t) {
        guard var task = tasks[pid] else { return }
        let exec = task.pending.first
        complete(pid, result: .ok)
        task = tasks[pid] ?? task
        let process = task.process
        var program: (argv: [RawPath], executable: RawPath?)? = nil
        if let argv = task.pendingArgv {
            program = (argv, exec?.absolute)
        } else if let recorder = shared.recorder, recorder.isEnabled {
            // The recorder read the call at its entry (no stop). A path it
            // could not read (or a call it has no record of: a full ring) is
            // the one the kernel kept for the new program (`AT_EXECFN`); a
            // vector it could not read whole is the new program's own, as
            // the kernel laid it out (a script's interpreter's, for a script).
            var recorded = recorder.exec(of: pid, drainingInto: shared) ?? ExecArguments()
            if recorded.raw == nil, let path = executionPath(of: pid) {
                recorded = recorder.supplyExecPath(path, for: pid)
            }
            program = (recorded.argv ?? Self.commandLine(of: pid, proc: proc) ?? [], recorded.absolute)
        }
        if let program {
            processes[process]?.argv = program.argv
            processes[process]?.executable = program.executable
            // After exec the task is its process's leader: `pid` is the pid.
            forks.executed(pid)
        }
        tasks[pid]?.pendingArgv = nil
    }

    /// The path a task stopped at its exec event was executed by, as given
    /// to `execve`: the string `AT_EXECFN` of `/proc/PID/auxv` points to
    /// in the new program's memory. Nil when it cannot be read.
    private func executionPath(of pid: pid_t) -> RawPath? {
        guard let auxv = FileSystem.contents(of: RawPath("\(pid)/auxv"), relativeTo: proc.rawValue),
            let address = Self.auxiliaryValue(Self.auxiliaryExecutionPath, in: auxv),
            let bytes = memory.string(pid: pid, at: address)
        else { return nil }
        return RawPath(bytes: bytes)
    }

    /// `AT_EXECFN` (`<elf.h>`).
    static let auxiliaryExecutionPath: UInt64 = 31

    /// The value of `type` in an auxiliary vector (pairs of native 64-bit
    /// words, ended by `AT_NULL`). Pure.
    static func auxiliaryValue(_ type: UInt64, in bytes: [UInt8]) -> UInt64? {
        func word(_ at: Int) -> UInt64 { bytes[at..<at + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        var offset = 0
        while offset + 16 <= bytes.count {
            let key = word(offset)
            if key == 0 { return nil }
            if key == type { return word(offset + 8) }
            offset += 16
        }
        return nil
    }

    /// The argument vector of `pid` as `/proc/PID/cmdline` has it (after an
    /// exec: the new program's, an interpreter's for a script); nil when it
    /// cannot be read.
    static func commandLine(of pid: pid_t, proc: FileDescriptor) -> [RawPath]? {
        guard let bytes = FileSystem.contents(of: RawPath("\(pid)/cmdline"), relativeTo: proc.rawValue), !bytes.isEmpty else {
            return nil
        }
        return commandLine(in: bytes)
    }

    /// NUL-terminated arguments → the vector. Pure.
    static func commandLine(in bytes: [UInt8]) -> [RawPath] {
        var text = bytes[...]
        if text.last == 0 { text = text.dropLast() }
        return text.split(separator: 0, omittingEmptySubsequences: false).map { RawPath(bytes: Array($0)) }
    }

    private func complete(_ pid: pid_t, result: AccessResult) {
        guard let task = tasks[pid], !task.pending.isEmpty else { return }
        shared.record(pid: pid, process: task.process, task.pending, result: result)
        tasks[pid]?.pending = []
    }

    /// Tells the lookup cache about the changes `call` is about to make;
    /// true when it made any (the task then stops at the call's exit, where
    /// they end). A directory removed or renamed may be a working directory
    /// by another name now: every cached one is dropped.
    private func beginChanges(_ pid: pid_t, _ call: PathSyscall, _ pending: [PendingAccess]) -> Bool {
        var changes: [RawPath?] = call.changesAnyLookup ? [nil] : []
        for access in pending where access.intent == .create || access.intent == .delete {
            let scope = predictor.changeScope(access.absolute)
            changes.append(scope.canonical ? access.absolute : nil)
            if access.intent == .delete && scope.isDirectory { invalidateWorkingDirectories() }
        }
        if changes.isEmpty { return false }
        for change in changes { shared.lookups.beginChange(at: change) }
        tasks[pid, default: Task(process: pid)].changesRunning += changes.count
        return true
    }

    private func endChanges(_ pid: pid_t) {
        guard let running = tasks[pid]?.changesRunning, running > 0 else { return }
        for _ in 0..<running { shared.lookups.endChange() }
        tasks[pid]?.changesRunning = 0
    }

    /// This loop's and the listener's cached working directories are stale.
    private func invalidateWorkingDirectories() {
        predictor.invalidateWorkingDirectories()
        shared.directoryGeneration.add(1, ordering: .releasing)
        shared.recorder?.refreshWorkingDirectories(drainingInto: shared)
    }

    // MARK: Helpers

    private func intent(of rule: IntentRule, args: [UInt64], pid: pid_t) -> AccessIntent {
        if let intent = rule.intent(from: args) { return intent }
        guard case .openHow(let argument) = rule else { return .read }
        let flags = memory.words(pid: pid, at: args[argument], count: 1, width: 8)?.first ?? 0
        return OpenFlags(rawValue: Int32(truncatingIfNeeded: flags)).intent
    }

    /// The thread group id of a task: itself when `pidfd_open` takes it (a
    /// group's leader), else from `/proc/TID/status`; nil when it is gone.
    static func threadGroup(of tid: pid_t, proc: FileDescriptor) -> pid_t? {
        // Most tasks of a build lead their own group, and `pidfd_open`
        // takes only a group's leader: two calls, where reading and parsing
        // `/proc/PID/status` cost 60 µs a process (a third of the tracer's
        // time in a loop of 2,000 short processes).
        let pidfd = dt_pidfd_open(tid)
        if pidfd >= 0 {
            close(pidfd)
            return tid
        }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let read = try? withOpened(RawPath("\(tid)/status"), O_RDONLY, relativeTo: proc.rawValue) { fd in
            buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 1024) }
        }
        guard let n = read, n > 0 else { return nil }
        return threadGroup(inStatus: buffer[0..<n])
    }

    /// The `Tgid:` field of a `/proc/PID/status` text. Pure.
    static func threadGroup(inStatus text: ArraySlice<UInt8>) -> pid_t? {
        let key = Array("Tgid:".utf8)
        var lineStart = text.startIndex
        while lineStart < text.endIndex {
            let lineEnd = text[lineStart...].firstIndex(of: 10) ?? text.endIndex
            let line = text[lineStart..<lineEnd]
            if line.starts(with: key) {
                let digits = line.dropFirst(key.count).drop { $0 == 32 || $0 == 9 }.prefix { (48...57).contains($0) }
                return pid_t(String(decoding: digits, as: UTF8.self))
            }
            lineStart = lineEnd == text.endIndex ? text.endIndex : text.index(after: lineEnd)
        }
        return nil
    }
}

extension IntentRule {
    /// The intent, when the arguments alone tell it (nil for `openat2`,
    /// whose flags are in the caller's memory).
    func intent(from args: [UInt64]) -> AccessIntent? {
        switch self {
        case .fixed(let intent): intent
        case .openFlags(let argument): OpenFlags(rawValue: Int32(truncatingIfNeeded: args[argument])).intent
        case .openHow: nil
        }
    }

    var isExec: Bool {
        if case .fixed(.exec) = self { return true }
        return false
    }
}

/// `open(2)` flags, as far as they tell the intent.
struct OpenFlags: OptionSet {
    let rawValue: Int32
    static let writeOnly = OpenFlags(rawValue: O_WRONLY)
    static let readWrite = OpenFlags(rawValue: O_RDWR)
    static let create = OpenFlags(rawValue: O_CREAT)
    static let truncate = OpenFlags(rawValue: O_TRUNC)
    static let path = OpenFlags(rawValue: dt_o_path)
    static let temporaryFile = OpenFlags(rawValue: dt_o_tmpfile)

    var intent: AccessIntent {
        if contains(.path) { return .stat }
        if contains(.create) || contains(.temporaryFile) { return .create }
        if contains(.writeOnly) || contains(.readWrite) || contains(.truncate) { return .write }
        return .read
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return s
    }
}
