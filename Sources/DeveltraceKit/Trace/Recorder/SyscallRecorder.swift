import CDeveltrace
import Dispatch
import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Records the path calls of `RecordedCall.table` in the kernel,
/// without stopping the caller: two eBPF programs at the `sys_enter` and
/// `sys_exit` raw tracepoints (`RecorderPrograms`) write each call of a
/// watched task into a ring buffer, which the tracer reads (`drain`).
/// Needs `CAP_BPF` and `CAP_PERFMON` (root) and Linux 5.17 (ring buffers, `bpf_loop`);
/// x86_64 only. Where it cannot load, the seccomp listener takes these
/// calls, as before.
///
/// What keeps the trace in order, since the caller never waits for the
/// record:
/// - A task's calls are committed to the ring before its next call enters
///   the kernel. Every other recorder (the ptrace loop, the listener) drains
///   the ring before it records (`TraceShared.record`), so a task's accesses
///   keep their order, and a read is recorded before any change a later
///   stop lets happen.
/// - A relative path is resolved against its task's working directory as
///   the ptrace loop last read it: when the task was first seen
///   (`watch`), and after every `chdir`, `fchdir` or removal of a directory,
///   after draining (`refreshWorkingDirectories`). A task that exits is
///   drained before it is forgotten (`unwatch`): its pid may come back.
/// - The result is the kernel's own return value, never a prediction.
///
/// Following the sandbox's processes (`follows`, `init(proc:follow:)`), no
/// ptrace loop stops anything: the programs record the tasks of the
/// sandbox's PID namespace, three more record forks, execs and exits
/// (`RecorderPrograms.Process`), `ProcessLedger` keeps the processes in the
/// ring's order, the listener queues the calls it let go on
/// (`expectResult`) and their results come as records of their own; the
/// working directories are followed in the ring's order too (a child
/// starts in its parent's; a `chdir` moves to the directory the listener
/// opened for it; a removed or renamed one changes as `/proc` shows it).
///
/// What it does not do: a thread sharing its working directory with
/// another (`CLONE_FS`) that calls while the other one's `chdir` runs may
/// be resolved against the old directory; a path another thread rewrites
/// between the kernel's read and the recorder's is recorded as rewritten
/// (ptrace and the listener share that race); a 64-bit task making 32-bit
/// calls with `int 0x80` is not told apart from its 64-bit calls here
/// (`cs` is the 64-bit one).
final class SyscallRecorder: @unchecked Sendable {
    enum LoadError: Error, CustomStringConvertible {
        case unsupported
        case step(String, Errno, log: String)

        var description: String {
            switch self {
            case .unsupported: return "the in-kernel recorder is built for x86_64 only"
            case .step(let step, let errno, let log):
                let tail = log.split(separator: "\n").suffix(6).joined(separator: "\n")
                return "cannot \(step): \(errno.symbolicName)" + (tail.isEmpty ? "" : "\n\(tail)")
            }
        }
    }

    private struct State {
        var ring = dt_ringbuf()
        /// Working directories of watched tasks, as `/proc/TID/cwd` read.
        var workingDirectories: [pid_t: RawPath] = [:]
        var recorded = 0
        var unreadable = 0
        var restarted = 0
        /// Tasks are recorded only once the command has loaded the filter
        /// that lets their calls through (`enable`); until then they wait here.
        var enabled = false
        var waiting: [pid_t] = []
        /// Tasks the `tasks` map had no room for.
        var unwatched = 0
        /// Each task's last `execve` as seen at its entry, until its exit
        /// record comes.
        var execs: [pid_t: ExecArguments] = [:]
        /// Following processes (the sandbox gate): the processes so far.
        var ledger = ProcessLedger()
        /// Following: the sandbox's PID namespace (`follow`), written to
        /// the gate's map by `enable`.
        var namespace: (device: UInt64, inode: UInt64)? = nil
        /// Following: the command's working directory, for when it is gone
        /// before the ring is read.
        var commandDirectory: RawPath? = nil
    }

    /// A call the listener read and let go on, whose result the recorder
    /// brings (`RecorderEvent.Kind.result`).
    struct ExpectedResult {
        /// The call's number (on its ABI): the result record has it.
        var number: UInt32
        /// When the listener let it go on (`CLOCK_MONOTONIC`, ns).
        var since: UInt64
        var accesses: [PendingAccess]
        /// A working directory change: where to, as the listener opened it
        /// while the call waited (`/proc` is read when the result comes
        /// only where it could not).
        var directory: RawPath?
        var movesDirectory = false
        /// An `execveat`: the program and its argument vector.
        var exec: (argv: [RawPath], executable: RawPath?)? = nil
    }

    /// Whether this recorder follows the sandbox's processes itself (no
    /// ptrace): the gate is the sandbox's PID namespace.
    let follows: Bool

    /// Following: the calls the listener let go on, by task, oldest first,
    /// until their results come (`expectResult`). A lock of its own: the
    /// listener adds here while a task waits, never behind a drain.
    private let expectations = Mutex([pid_t: [ExpectedResult]]())

    /// The maps, programs and ring (`RecorderObjects`).
    let objects: RecorderObjects
    private let pool: RecorderObjects.Pool
    /// The gate's map: the task map, or the sandbox's namespace.
    private let gateMap: Int32
    private let pending: Int32
    private let counters: Int32
    private let proc: FileDescriptor
    private let state: Mutex<State>
    private let table = PathSyscall.table

    /// Loads the maps and programs and attaches them, or, following the
    /// sandbox's processes (`follow`: the kernel's task offsets), takes
    /// those an earlier trace of this process kept (`RecorderObjects`).
    /// Nothing is recorded until a task is watched, or, following, until
    /// `enable`.
    init(proc: FileDescriptor, follow types: KernelTypes? = nil, pool: RecorderObjects.Pool = .shared) throws(LoadError) {
        let objects: RecorderObjects
        if let types {
            objects = try RecorderObjects.following(types, from: pool)
        } else {
            objects = try RecorderObjects(follow: nil)
        }
        self.objects = objects
        self.pool = pool
        self.gateMap = objects.gateMap
        self.follows = objects.follows
        self.pending = objects.maps.pending
        self.counters = objects.maps.counters
        self.proc = proc
        self.state = Mutex(State(ring: objects.ring))
    }

    /// Done with the kernel objects: kept for the process's next trace
    /// when they follow processes, else detached and freed
    /// (`RecorderObjects.release`).
    func close() {
        objects.release(to: pool)
    }

    /// Records the calls of `tid` from now on (once enabled); its working
    /// directory is read now (it is stopped).
    func watch(_ tid: pid_t) {
        let directory = FileSystem.readLink(RawPath("\(tid)/cwd"), relativeTo: proc.rawValue)
        let enabled = state.withLock { state in
            state.workingDirectories[tid] = directory
            if !state.enabled { state.waiting.append(tid) }
            return state.enabled
        }
        if enabled { insert(tid) }
    }

    private func insert(_ tid: pid_t) {
        var key = UInt32(bitPattern: tid)
        var one: UInt32 = 1
        if dt_bpf_map_update(gateMap, &key, &one) != 0 {
            // The map is full (65,536 tasks at once; `RLIMIT_NPROC` is
            // 4,096 unless raised): this task's calls go unrecorded.
            state.withLock { $0.unwatched += 1 }
        }
    }

    /// The command loaded the filter that lets the recorded calls through
    /// (it may not have: a listener refused at load makes it fall back to
    /// ptrace for every call, and then nothing is recorded here). The
    /// tasks seen so far are recorded from now on, their working
    /// directories read again (the command changed its own before it loaded
    /// the filter, unseen).
    func enable() {
        let (waiting, namespace) = state.withLock { state in
            state.enabled = true
            defer { state.waiting = [] }
            return (state.waiting, state.namespace)
        }
        if follows {
            // Open the gate: every task of the sandbox but its init from now on.
            var key: UInt32 = 0
            var value = [namespace?.device ?? 0, namespace?.inode ?? 0]
            _ = dt_bpf_map_update(gateMap, &key, &value)
            return
        }
        for tid in waiting { insert(tid) }
        refreshWorkingDirectories()
    }

    /// Following: the sandbox's tasks are those of the PID namespace of
    /// its init, `initPid`; recorded once `enable` opens the gate. False
    /// when the namespace cannot be read.
    func follow(initPid: pid_t, commandDirectory: RawPath?) -> Bool {
        var status = stat()
        guard RawPath("\(initPid)/ns/pid").withCString({ fstatat(proc.rawValue, $0, &status, 0) }) == 0 else { return false }
        state.withLock { state in
            state.namespace = (UInt64(status.st_dev), UInt64(status.st_ino))
            state.commandDirectory = commandDirectory
        }
        return true
    }

    /// Following: the processes so far, and the command's id.
    var ledger: ProcessLedger { state.withLock { $0.ledger } }

    /// Following: the listener let `tid`'s call go on; its accesses are
    /// recorded with the result the `sys_exit` program brings, in the
    /// ring's order. A task's results come in the order of its calls, one
    /// for each call the listener saw (the programs test what the filter
    /// tests), so a result is its task's oldest expectation's: one of
    /// another number is no call's the listener saw.
    func expectResult(tid: pid_t, _ expected: ExpectedResult) {
        expectations.withLock { $0[tid, default: []].append(expected) }
    }

    /// The expectation a result of call `number` of `tid` answers.
    private func takeExpectation(tid: pid_t, number: UInt32) -> ExpectedResult? {
        expectations.withLock { queues in
            guard let head = queues[tid]?.first, head.number == number else { return nil }
            queues[tid]!.removeFirst()
            if queues[tid]!.isEmpty { queues[tid] = nil }
            return head
        }
    }

    /// The working directory of `tid` as `/proc` has it; nil when the task
    /// is gone or the directory was removed since (the link then ends in
    /// " (deleted)", a name the task never used).
    private func workingDirectory(of tid: pid_t) -> RawPath? {
        guard let link = FileSystem.readLink(RawPath("\(tid)/cwd"), relativeTo: proc.rawValue) else { return nil }
        return link.bytes.reversed().starts(with: Array(" (deleted)".utf8).reversed()) ? nil : link
    }

    /// A task met for the first time while following: the command (whose
    /// fork came before the gate opened), or a thread of a process met.
    private func meet(_ tid: pid_t, group: pid_t, _ state: inout State, shared: TraceShared) -> pid_t {
        let process = state.ledger.process(ofTask: tid, group: group)
        if state.workingDirectories[tid] == nil {
            // The command's is the one it was started in (its records may be
            // read after it moved); a thread's is its process's.
            state.workingDirectories[tid] =
                (state.ledger.commandID == process ? state.commandDirectory : nil)
                ?? state.ledger.taskProcess.first { $0.value == process && $0.key != tid }.flatMap { state.workingDirectories[$0.key] }
                ?? workingDirectory(of: tid)
        }
        shared.setThreadGroup(tid, process)
        return process
    }

    /// Whether `enable` was called.
    var isEnabled: Bool { state.withLock { $0.enabled } }

    /// Stops recording `tid` (gone, or now named by its leader's pid after
    /// an exec), after recording what it did into `shared`.
    func unwatch(_ tid: pid_t, drainingInto shared: TraceShared) {
        drain(into: shared)
        // Following, no task is watched (the only task the ptrace loop
        // sees end is the init): the exit records keep the state.
        if follows { return }
        var key = UInt32(bitPattern: tid)
        _ = dt_bpf_map_delete(gateMap, &key)
        _ = dt_bpf_map_delete(pending, &key)
        state.withLock { state in
            state.workingDirectories.removeValue(forKey: tid)
            state.waiting.removeAll { $0 == tid }
            state.execs.removeValue(forKey: tid)
        }
    }

    /// The `execve` that `tid` is in (stopped at its exec event), as the
    /// recorder saw it at the call's entry; nil when it did not (the task
    /// was not recorded then). Drains into `shared` first.
    func exec(of tid: pid_t, drainingInto shared: TraceShared) -> ExecArguments? {
        drain(into: shared)
        return state.withLock { $0.execs[tid] }
    }

    /// The path `tid`'s `execve` was given, for an exec whose path the
    /// `sys_enter` program could not read (a page not yet in the caller's
    /// page tables: a string a forked child had not touched) or that it has
    /// no record of; the ptrace loop read it from the new program
    /// (`AT_EXECFN`). The exec's exit record then has a path.
    func supplyExecPath(_ raw: RawPath, for tid: pid_t) -> ExecArguments {
        state.withLock { state in
            var exec = state.execs[tid] ?? ExecArguments()
            exec.raw = raw
            exec.absolute = absolute(raw, tid: tid, state)
            state.execs[tid] = exec
            return exec
        }
    }

    /// A thread other than the leader executed: it has the leader's id
    /// now, and its call's exit comes under that id.
    func carryExec(from former: pid_t, to tid: pid_t, drainingInto shared: TraceShared) {
        drain(into: shared)
        var key = UInt32(bitPattern: former)
        var value = [UInt8](repeating: 0, count: RecorderPrograms.pendingSize)
        if dt_bpf_map_lookup(pending, &key, &value) == 0 {
            var newKey = UInt32(bitPattern: tid)
            _ = dt_bpf_map_update(pending, &newKey, &value)
            _ = dt_bpf_map_delete(pending, &key)
        }
        state.withLock { state in
            state.execs[tid] = state.execs.removeValue(forKey: former)
        }
    }

    /// Reads every watched task's working directory again (after a
    /// `chdir`, `fchdir` or a directory's removal), after recording into
    /// `shared` the calls made in the old ones. A task
    /// that has just ended (its directory can no longer be read, and may
    /// still have calls in the ring) keeps the one it had.
    func refreshWorkingDirectories(drainingInto shared: TraceShared) {
        drain(into: shared)
        refreshWorkingDirectories()
    }

    private func refreshWorkingDirectories() {
        state.withLock { state in
            for tid in Array(state.workingDirectories.keys) {
                if let directory = FileSystem.readLink(RawPath("\(tid)/cwd"), relativeTo: proc.rawValue) {
                    state.workingDirectories[tid] = directory
                }
            }
        }
    }

    /// Records into `shared` every call committed to the ring so far, in
    /// order. Returns how many.
    @discardableResult
    func drain(into shared: TraceShared) -> Int {
        state.withLock { drain(&$0, into: shared) }
    }

    private func drain(_ state: inout State, into shared: TraceShared) -> Int {
        var count = 0
        while true {
            var length: UInt32 = 0
            guard let data = dt_ringbuf_next(&state.ring, &length) else { break }
            let event = RecorderEvent(UnsafeRawBufferPointer(start: data, count: Int(length)))
            dt_ringbuf_advance(&state.ring, length)
            guard let event else { continue }
            count += 1
            if follows {
                follow(event, &state, into: shared)
            } else {
                record(event, &state, into: shared)
            }
        }
        return count
    }

    /// One record while following the sandbox's processes.
    private func follow(_ event: RecorderEvent, _ state: inout State, into shared: TraceShared) {
        let tid = event.tid
        let process = state.ledger.taskProcess[tid] ?? meet(tid, group: event.group, &state, shared: shared)
        switch event.kind {
        case .fork:
            let child = pid_t(truncatingIfNeeded: event.args[0])
            let childGroup = pid_t(truncatingIfNeeded: event.args[1])
            state.ledger.forked(tid: tid, group: event.group, child: child, childGroup: childGroup)
            state.workingDirectories[child] = state.workingDirectories[tid]
            shared.setThreadGroup(child, state.ledger.taskProcess[child])
        case .exec:
            let former = pid_t(truncatingIfNeeded: event.args[0])
            guard former != tid else { return }
            state.ledger.executed(tid: tid, group: event.group, former: former)
            if let directory = state.workingDirectories.removeValue(forKey: former) { state.workingDirectories[tid] = directory }
            state.execs[tid] = state.execs.removeValue(forKey: former)
            // The exec's own result comes under the new pid, before any
            // call of the new program (which the listener may have seen).
            expectations.withLock { queues in
                if let carried = queues.removeValue(forKey: former) { queues[tid] = carried + (queues[tid] ?? []) }
            }
            shared.setThreadGroup(former, nil)
            shared.setThreadGroup(tid, state.ledger.taskProcess[tid])
        case .exit:
            state.ledger.exited(tid: tid, group: event.group, status: Int32(truncatingIfNeeded: event.args[0]))
            state.workingDirectories[tid] = nil
            state.execs[tid] = nil
            // Calls it was killed in never return; a task that has its pid
            // since (the record may be read late) keeps its own.
            let ended = event.args[1]
            expectations.withLock { queues in
                queues[tid]?.removeAll { $0.since < ended }
                if queues[tid]?.isEmpty == true { queues[tid] = nil }
            }
            shared.setThreadGroup(tid, nil)
            // Its pid may come back as another task with another directory.
            shared.directoryGeneration.add(1, ordering: .releasing)
        case .result:
            // The task's next result after the listener let its call go on
            // is that call's (the ring was drained then); another number
            // means the call never returned (it was killed).
            guard let expected = takeExpectation(tid: tid, number: UInt32(truncatingIfNeeded: event.tableIndex)),
                let result = AccessResult(returnValue: event.result)
            else { return } // not the listener's, or to be restarted (it comes again)
            if !expected.accesses.isEmpty {
                shared.recordDrained(pid: tid, process: process, expected.accesses, result: result)
            }
            guard result == .ok else { return }
            directoriesChanged(by: expected.accesses, &state)
            if expected.movesDirectory {
                // Read while the task cannot have moved again: its next
                // change waits in the listener, which drains first.
                let directory = expected.directory ?? workingDirectory(of: tid)
                for (task, owner) in state.ledger.taskProcess where owner == process || task == tid {
                    // Threads share their working directory (`CLONE_FS`).
                    state.workingDirectories[task] = directory
                }
            }
            if let exec = expected.exec {
                state.ledger.setProgram(ofTask: tid, group: event.group, argv: exec.argv, executable: exec.executable)
            }
        case .call, .execArguments, .execResult:
            // (No exec is recorded here while following: the listener has them.)
            record(event, &state, into: shared)
        }
    }

    private func record(_ event: RecorderEvent, _ state: inout State, into shared: TraceShared) {
        guard event.tableIndex < table.count else { return }
        let call = table[event.tableIndex]
        let operand = call.operands[0]
        var bytes = event.path
        switch event.kind {
        case .execArguments:
            let raw = event.path.map(RawPath.init(bytes:))
            state.execs[event.tid] = ExecArguments(
                raw: raw, absolute: raw.map { absolute($0, tid: event.tid, state) },
                argv: event.arguments?.map(RawPath.init(bytes:)))
            return
        case .execResult:
            bytes = state.execs.removeValue(forKey: event.tid)?.raw?.bytes
        case .call:
            if operand.intent.isExec { state.execs[event.tid] = nil }
        case .result, .fork, .exec, .exit:
            return
        }
        guard let result = AccessResult(returnValue: event.result) else {
            state.restarted += 1 // it comes again
            return
        }
        guard let bytes else {
            state.unreadable += 1
            return
        }
        let path = RawPath(bytes: bytes)
        if path.isEmpty, let flags = call.atFlagsArgument, event.args[flags] & UInt64(dt_at_empty_path) != 0 { return }
        let access = PendingAccess(
            syscall: event.tableIndex, raw: path, absolute: absolute(path, tid: event.tid, state),
            intent: operand.intent.intent(from: event.args) ?? .read)
        state.recorded += 1
        shared.recordDrained(pid: event.tid, process: shared.threadGroup(of: event.tid) ?? event.tid, access, result: result)
        if follows && result == .ok && access.intent == .delete { directoriesChanged(by: [access], &state) }
    }

    /// Following: the working directories a successful call removed or
    /// moved, as `/proc` shows them from then on (and ptrace, which reads
    /// them there, and strace): a removed one ends in " (deleted)", a moved
    /// one (or one inside it) has its new name. In the ring's order, so a
    /// call before the change still has the old name. Paths are compared
    /// with `..` taken lexically.
    private func directoriesChanged(by accesses: [PendingAccess], _ state: inout State) {
        let removed = accesses.filter { $0.intent == .delete }.map { Self.lexical($0.absolute) }
        guard !removed.isEmpty, !state.workingDirectories.isEmpty else { return }
        let moved = accesses.first { $0.intent == .create }.map { Self.lexical($0.absolute) }
        let slash = UInt8(ascii: "/")
        for (task, directory) in state.workingDirectories {
            let current = Self.lexical(directory)
            for old in removed {
                if current == old {
                    state.workingDirectories[task] = moved ?? RawPath(bytes: directory.bytes + Array(" (deleted)".utf8))
                } else if let moved, current.bytes.starts(with: old.bytes + [slash]) {
                    state.workingDirectories[task] = RawPath(bytes: moved.bytes + current.bytes.dropFirst(old.bytes.count))
                }
            }
        }
    }

    /// An absolute path with its `..` components taken lexically. Pure.
    static func lexical(_ path: RawPath) -> RawPath {
        guard path.bytes.contains(UInt8(ascii: ".")) else { return path }
        var components: [ArraySlice<UInt8>] = []
        for component in path.bytes.split(separator: UInt8(ascii: "/")) {
            if component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                _ = components.popLast()
            } else {
                components.append(component)
            }
        }
        return RawPath(bytes: components.isEmpty ? [UInt8(ascii: "/")] : components.flatMap { [UInt8(ascii: "/")] + $0 })
    }

    /// `path` resolved against the task's working directory as last read.
    private func absolute(_ path: RawPath, tid: pid_t, _ state: State) -> RawPath {
        let base = path.isAbsolute ? RawPath(bytes: []) : state.workingDirectories[tid] ?? RawPath("/")
        return path.absolute(relativeTo: base)
    }

    /// The number of possible CPUs (the exec scratch map has a value for
    /// each): one more than the last in `/sys/devices/system/cpu/possible`.
    static func possibleCPUs() -> Int {
        if let text = FileSystem.contents(of: RawPath("/sys/devices/system/cpu/possible")), let count = possibleCPUs(in: text) {
            return count
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_CONF))))
    }

    /// A CPU list (`0-3,5`) → one more than its largest number. Pure.
    static func possibleCPUs(in text: [UInt8]) -> Int? {
        let list = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var largest: Int? = nil
        for range in list.split(separator: ",") {
            guard let last = range.split(separator: "-").last, let number = Int(last), number >= 0 else { return nil }
            largest = max(largest ?? 0, number)
        }
        return largest.map { $0 + 1 }
    }

    struct Counts {
        var recorded = 0
        /// Calls whose path could not be read from the caller's memory.
        var unreadable = 0
        /// Calls the ring buffer had no room for: lost.
        var lost = 0
        /// Tasks whose calls went unrecorded (no room in the task map).
        var unwatched = 0
    }

    var counts: Counts {
        var key: UInt32 = 0
        var lost: UInt64 = 0
        _ = dt_bpf_map_lookup(counters, &key, &lost)
        return state.withLock { Counts(recorded: $0.recorded, unreadable: $0.unreadable, lost: Int(lost), unwatched: $0.unwatched) }
    }
}

/// A thread that drains the recorder's ring buffer every 10 ms while the
/// trace runs (the programs wake no reader: a wake-up per call would cost
/// what the recorder saves), so the ring never fills: at most a few
/// thousand records come in that time, where the ring holds 160,000. The
/// order of the trace does not depend on it (every other recorder drains
/// first). It drained every millisecond until stop 29: a third of the
/// tracer's context switches in a v4l2loopback build, for nothing.
final class RecorderReader: @unchecked Sendable {
    private let stopped = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// Time between two drains.
    static let interval = DispatchTimeInterval.milliseconds(10)

    init(recorder: SyscallRecorder, shared: TraceShared) {
        let thread = Thread { [self] in
            defer { done.signal() }
            while !stopped.load(ordering: .acquiring) {
                recorder.drain(into: shared)
                _ = wake.wait(timeout: .now() + Self.interval)
            }
            // What the last tasks did before they were gone.
            recorder.drain(into: shared)
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Stops the thread after a last drain; returns once it has.
    func stop() {
        stopped.store(true, ordering: .releasing)
        wake.signal()
        done.wait()
    }
}

/// Whether the in-kernel recorder loads here (root with `CAP_BPF` and
/// `CAP_PERFMON`, x86_64, Linux 5.17 or newer). Tried once per process.
public enum RecorderSupport {
    public static let available: Bool = {
        guard let proc = try? FileDescriptor.open("/proc", .readOnly, options: [.directory, .closeOnExec]) else { return false }
        defer { try? proc.close() }
        guard let recorder = try? SyscallRecorder(proc: proc) else { return false }
        recorder.close()
        return true
    }()
}
