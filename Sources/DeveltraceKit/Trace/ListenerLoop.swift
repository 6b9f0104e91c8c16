import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Answers the read-only path calls the listening filter sends to a seccomp
/// listener (`SeccompFilter.listening`), on a thread of its own beside the
/// ptrace loop.
///
/// For each call it reads the path from the caller's memory, checks that the
/// call still waits (`SECCOMP_IOCTL_NOTIF_ID_VALID`: the caller was not
/// killed and its pid reused while the path was read), predicts the result
/// with its own `ResultPredictor`, records the access and lets the call go
/// on in the kernel (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`). With the sync
/// wake-up (Linux 6.6) the kernel hands the CPU straight from the caller to
/// this thread and back, as a pinned ptrace pair would run.
///
/// What it does not do, and why:
/// - It never decides a call. Another thread of the caller can rewrite the
///   path between the read and the kernel's own lookup; the record can then
///   name another path than the one opened. ptrace has the same race for
///   other threads; neither lets anything through the sandbox, which does
///   not depend on the trace.
/// - A call it cannot predict (`/proc`, `/dev`, `/sys`, a magic link on the
///   way, after a `chroot`, an unreadable path) goes to the ptrace loop
///   (`TraceShared.requestInterrupt`), which stops the task right after it.
/// - A caller that dies from SIGKILL after the call was received: the call
///   is recorded though it never ran (`SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`
///   leaves only fatal signals able to end the wait, so a signal-storm
///   restart never brings a received call twice).
final class ListenerLoop {
    private let listener: Int32
    private let filter: SeccompFilter
    private let shared: TraceShared
    private let proc: FileDescriptor
    private var predictor: ResultPredictor
    private var memory = TraceeMemory()
    private var generation = 0
    private var notification = dt_notification()
    /// Calls answered here (those handed to the ptrace loop are its
    /// `interruptStops`).
    private(set) var notifications = 0
    /// No task uses the filter any more (the traced tasks are gone while
    /// the sandbox's init still winds down): nothing can come, and a
    /// receive would fail at once, over and over.
    private(set) var hungUp = false

    init(listener: Int32, filter: SeccompFilter, shared: TraceShared, proc: FileDescriptor, root: Int32) {
        self.listener = listener
        self.filter = filter
        self.shared = shared
        self.proc = proc
        self.predictor = ResultPredictor(proc: proc, root: root, cache: shared.lookups)
    }

    /// Registers this thread with `shared` (to be woken at the end) for the
    /// duration of `body`.
    func registered<T>(_ body: () -> T) -> T {
        _ = dt_wake_signal_unblock()
        let thread = dt_gettid()
        shared.listenerStarted(thread)
        defer {
            shared.listenerEnded(thread)
            predictor.closeDescriptors()
        }
        return body()
    }

    /// Receives one call and answers it; `observe` learns the calling task
    /// first. False when the receive was interrupted (the wake signal,
    /// perhaps the end) or the caller went away before its call was taken.
    @discardableResult
    func serveOne(observe: (pid_t) -> Void) -> Bool {
        guard dt_notification_receive(listener, &notification) == 0 else {
            if errno == ENOENT && dt_listener_hung_up(listener) == 1 { hungUp = true }
            return false
        }
        observe(pid_t(bitPattern: notification.pid))
        answer(notification)
        return true
    }

    private func answer(_ notification: dt_notification) {
        notifications += 1
        let tid = pid_t(bitPattern: notification.pid)
        guard let index = filter.notified[SeccompFilter.notificationKey(arch: notification.arch, nr: notification.nr)] else {
            _ = dt_notification_continue(listener, notification.id)
            return
        }
        if let recorder = shared.recorder, recorder.follows {
            follow(notification, index: index, recorder: recorder)
            return
        }
        let call = PathSyscall.table[index]
        let operand = call.operands[0]
        let args = withUnsafeBytes(of: notification.args) { Array($0.bindMemory(to: UInt64.self)) }
        let generationNow = shared.directoryGeneration.load(ordering: .acquiring)
        if generationNow != generation {
            predictor.invalidateWorkingDirectories()
            generation = generationNow
        }
        let raw = memory.string(pid: tid, at: args[operand.pathArgument])
        // Read, then check: the memory was the waiting caller's.
        guard dt_notification_id_valid(listener, notification.id) == 0 else { return }
        guard let raw else {
            // Unreadable: named nothing we can record (as in the ptrace loop).
            _ = dt_notification_continue(listener, notification.id)
            return
        }
        let path = RawPath(bytes: raw)
        if path.isEmpty, let flags = call.atFlagsArgument, args[flags] & UInt64(dt_at_empty_path) != 0 {
            // About a file descriptor, not a path.
            _ = dt_notification_continue(listener, notification.id)
            return
        }
        let dirfd = operand.dirfdArgument.map { Int32(truncatingIfNeeded: args[$0]) }
        let (absolute, relativeToWorkingDirectory) = predictor.locate(path, dirfd: dirfd, pid: tid)
        // openat2 (whose flags are in memory) is never notified.
        let intent = operand.intent.intent(from: args) ?? .read
        let access = PendingAccess(syscall: index, raw: path, absolute: absolute, intent: intent)
        let process = shared.threadGroup(of: tid) ?? TraceLoop.threadGroup(of: tid, proc: proc) ?? tid
        if shared.predictsResults.load(ordering: .acquiring), let lookup = call.lookup {
            let workingDirectory = relativeToWorkingDirectory ? predictor.workingDirectoryDescriptor(of: tid) : nil
            if let result = predictor.predict(lookup, raw: path, absolute: absolute, workingDirectory: workingDirectory, args: args) {
                shared.record(pid: tid, process: process, [access], result: result)
                _ = dt_notification_continue(listener, notification.id)
                return
            }
        }
        handOver(tid: tid, process: process, notification, access)
    }

    /// A call while the recorder follows the processes (no ptrace): every
    /// path call the recorder does not take comes here, `execve` included.
    /// Its paths are read and resolved while it waits (relative to a
    /// descriptor, to the working directory, two of them, an exec's
    /// argument vector); its result comes from the recorder, in the ring's
    /// order with everything else (`SyscallRecorder.expectResult`), never
    /// a prediction. Nothing waits here for the ring.
    private func follow(_ notification: dt_notification, index: Int, recorder: SyscallRecorder) {
        let tid = pid_t(bitPattern: notification.pid)
        let call = PathSyscall.table[index]
        let args = withUnsafeBytes(of: notification.args) { Array($0.bindMemory(to: UInt64.self)) }
        // Its working directory is read anew: the pid may be another task's
        // than last time, and nothing tells this thread when (the ring is
        // read later).
        predictor.forget(tid)
        var accesses: [PendingAccess] = []
        for operand in call.operands {
            guard let raw = memory.string(pid: tid, at: args[operand.pathArgument]) else { continue }
            let path = RawPath(bytes: raw)
            if path.isEmpty, let flags = call.atFlagsArgument, args[flags] & UInt64(dt_at_empty_path) != 0, call.name != "execveat" {
                continue // about a file descriptor, not a path
            }
            let dirfd = operand.dirfdArgument.map { Int32(truncatingIfNeeded: args[$0]) }
            let (absolute, _) = predictor.locate(path, dirfd: dirfd, pid: tid)
            var intent = operand.intent.intent(from: args)
            if intent == nil, case .openHow(let argument) = operand.intent {
                let flags = memory.words(pid: tid, at: args[argument], count: 1, width: 8)?.first ?? 0
                intent = OpenFlags(rawValue: Int32(truncatingIfNeeded: flags)).intent
            }
            accesses.append(PendingAccess(syscall: index, raw: path, absolute: absolute, intent: intent ?? .read))
        }
        var exec: (argv: [RawPath], executable: RawPath?)? = nil
        if call.operands.first?.intent.isExec == true {
            let width = notification.arch == dt_audit_arch_x86_64 ? 8 : 4
            let argv = memory.stringArray(pid: tid, at: args[call.name == "execveat" ? 2 : 1], width: width)
            exec = (argv.map(RawPath.init(bytes:)), accesses.first?.absolute)
        }
        let movesDirectory = call.movesWorkingDirectory
        var directory: RawPath? = nil
        if call.name == "fchdir" {
            directory = FileSystem.readLink(RawPath("\(tid)/fd/\(Int32(truncatingIfNeeded: args[0]))"), relativeTo: proc.rawValue)
        } else if movesDirectory, let access = accesses.first {
            directory = predictor.directory(access.raw, absolute: access.absolute, pid: tid) ?? access.absolute
        }
        // Read, then check: the memory was the waiting caller's.
        guard dt_notification_id_valid(listener, notification.id) == 0 else { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        recorder.expectResult(
            tid: tid,
            SyscallRecorder.ExpectedResult(
                number: UInt32(bitPattern: notification.nr), since: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec),
                accesses: accesses, directory: directory, movesDirectory: movesDirectory, exec: exec))
        _ = dt_notification_continue(listener, notification.id)
    }

    /// The ptrace loop learns this call's result at the stop right after it.
    private func handOver(tid: pid_t, process: pid_t, _ notification: dt_notification, _ access: PendingAccess) {
        shared.requestInterrupt(tid: tid, process: process, access: access)
        _ = dt_notification_continue(listener, notification.id)
    }
}

/// Whether this kernel, in this process's place, gives develtrace a seccomp
/// listener it can use: `SECCOMP_FILTER_FLAG_NEW_LISTENER` with
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19) and the sync
/// wake-up (Linux 6.6). Without them (an older kernel, or under an
/// ancestor's listener: `EBUSY` in some containers and nested sandboxes)
/// the in-kernel recorder takes what it can where it loads (root) and every
/// other path call stops for ptrace (`SeccompFilter.recordingWithPtrace`).
/// Tried once per process, in a child, from this process's place in the
/// seccomp tree: the place every sandbox it starts inherits.
public enum ListenerSupport {
    public static let available: Bool = dt_listener_probe() == 3
}
