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

    /// The ring buffer's size: at about 100 bytes a record, 160,000 calls
    /// between two reads.
    static let ringSize: UInt32 = 16 << 20

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
    }

    private let tasks: Int32
    private let pending: Int32
    private let scratch: Int32
    private let execScratch: Int32
    private let counters: Int32
    private let ringMap: Int32
    private let programs: [Int32]
    private let links: [Int32]
    private let proc: FileDescriptor
    private let state: Mutex<State>
    private let table = PathSyscall.table

    /// Loads the maps and programs and attaches them. Nothing is recorded
    /// until a task is watched.
    init(proc: FileDescriptor) throws(LoadError) {
        #if arch(x86_64)
        var descriptors: [Int32] = []
        func make(_ step: String, _ body: () -> Int32, log: String = "") throws(LoadError) -> Int32 {
            let fd = body()
            if fd < 0 {
                let error = Errno(rawValue: errno)
                for d in descriptors.reversed() { Glibc.close(d) }
                throw .step(step, error, log: log)
            }
            descriptors.append(fd)
            return fd
        }
        let tasks = try make("create the recorder's task map") {
            // Filled as tasks come (a few thousand a build): preallocating
            // 65,536 elements cost every trace 2 ms.
            dt_bpf_map_create(dt_bpf_map_hash, 4, 4, 65536, dt_bpf_f_no_prealloc, "dt_tasks")
        }
        let pending = try make("create the recorder's call map") {
            dt_bpf_map_create(dt_bpf_map_hash, 4, UInt32(RecorderPrograms.pendingSize), 65536, 0, "dt_pending")
        }
        let scratch = try make("create the recorder's scratch map") {
            dt_bpf_map_create(dt_bpf_map_percpu_array, 4, UInt32(RecorderEvent.size), 1, 0, "dt_scratch")
        }
        let execScratch = try make("create the recorder's exec scratch map") {
            dt_bpf_map_create(dt_bpf_map_array, 4, UInt32(RecorderEvent.execSize), UInt32(Self.possibleCPUs()), 0, "dt_exec_scratch")
        }
        let counters = try make("create the recorder's counters") { dt_bpf_map_create(dt_bpf_map_array, 4, 8, 1, 0, "dt_counters") }
        let ringMap = try make("create the recorder's ring buffer") {
            dt_bpf_map_create(dt_bpf_map_ringbuf, 0, 0, Self.ringSize, 0, "dt_ring")
        }
        var log = [CChar](repeating: 0, count: 1 << 16)
        func load(_ name: String, _ program: BPFProgram) throws(LoadError) -> Int32 {
            // A program with a callback needs its functions named in BTF.
            var btf: Int32 = -1
            let records = BPFTypeInfo.functionRecords(program.starts)
            if program.functions.count > 1 {
                let blob = BPFTypeInfo.blob(functions: program.functions)
                btf = blob.withUnsafeBytes { dt_bpf_btf_load($0.baseAddress, UInt32($0.count), nil, 0) }
                if btf < 0 {
                    let error = Errno(rawValue: errno)
                    for d in descriptors.reversed() { Glibc.close(d) }
                    throw .step("load the recorder's \(name) program's types", error, log: "")
                }
            }
            // The program keeps the types it needs.
            defer { if btf >= 0 { Glibc.close(btf) } }
            func attempt(_ log: UnsafeMutableBufferPointer<CChar>?) -> Int32 {
                program.instructions.withUnsafeBytes { bytes in
                    records.withUnsafeBytes { info in
                        dt_bpf_prog_load_raw_tracepoint(
                            bytes.baseAddress, UInt32(bytes.count / 8), btf, info.baseAddress, UInt32(records.count / 2),
                            log?.baseAddress, UInt32(log?.count ?? 0))
                    }
                }
            }
            // Without a log first: a log costs the load time, and the log
            // of a long program may not fit (ENOSPC).
            var fd = attempt(nil)
            var text = ""
            if fd < 0 {
                let first = errno
                fd = log.withUnsafeMutableBufferPointer { attempt($0) }
                text = log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                if fd >= 0 {
                    Glibc.close(fd)
                    fd = -1
                }
                errno = first
            }
            return try make("load the recorder's \(name) program", { fd }, log: text)
        }
        let maps = RecorderPrograms.Maps(
            tasks: tasks, pending: pending, scratch: scratch, execScratch: execScratch, ring: ringMap, counters: counters)
        let enter = try load("sys_enter", RecorderPrograms.enter(RecordedCall.table, maps: maps))
        let exit = try load("sys_exit", RecorderPrograms.exit(maps: maps))
        let enterLink = try make("attach to sys_enter") { dt_bpf_raw_tracepoint_open("sys_enter", enter) }
        let exitLink = try make("attach to sys_exit") { dt_bpf_raw_tracepoint_open("sys_exit", exit) }
        var ring = dt_ringbuf()
        if dt_ringbuf_open(ringMap, Self.ringSize, &ring) != 0 {
            let error = Errno(rawValue: errno)
            for d in descriptors.reversed() { Glibc.close(d) }
            throw .step("map the recorder's ring buffer", error, log: "")
        }
        self.tasks = tasks
        self.pending = pending
        self.scratch = scratch
        self.execScratch = execScratch
        self.counters = counters
        self.ringMap = ringMap
        self.programs = [enter, exit]
        self.links = [enterLink, exitLink]
        self.proc = proc
        self.state = Mutex(State(ring: ring))
        #else
        throw .unsupported
        #endif
    }

    /// Detaches the programs and frees everything (the kernel frees the
    /// maps with their last descriptor).
    func close() {
        state.withLock { state in
            dt_ringbuf_close(&state.ring)
        }
        for fd in links + programs + [tasks, pending, scratch, execScratch, counters, ringMap] { Glibc.close(fd) }
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
        if dt_bpf_map_update(tasks, &key, &one) != 0 {
            // The map is full (65,536 tasks at once; `RLIMIT_NPROC` is
            // 4,096 unless raised): this task's calls go unrecorded.
            state.withLock { $0.unwatched += 1 }
        }
    }

    /// The command loaded the filter that lets the recorded calls through
    /// (it may not have: a listener above develtrace makes it fall back to
    /// ptrace for every call, and then nothing is recorded here). The
    /// tasks seen so far are recorded from now on, their working
    /// directories read again (the command changed its own before it loaded
    /// the filter, unseen).
    func enable() {
        let waiting = state.withLock { state in
            state.enabled = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for tid in waiting { insert(tid) }
        refreshWorkingDirectories()
    }

    /// Whether `enable` was called.
    var isEnabled: Bool { state.withLock { $0.enabled } }

    /// Stops recording `tid` (gone, or now named by its leader's pid after
    /// an exec), after recording what it did into `shared`.
    func unwatch(_ tid: pid_t, drainingInto shared: TraceShared) {
        drain(into: shared)
        var key = UInt32(bitPattern: tid)
        _ = dt_bpf_map_delete(tasks, &key)
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
        state.withLock { state in
            var count = 0
            while true {
                var length: UInt32 = 0
                guard let data = dt_ringbuf_next(&state.ring, &length) else { break }
                let event = RecorderEvent(UnsafeRawBufferPointer(start: data, count: Int(length)))
                dt_ringbuf_advance(&state.ring, length)
                guard let event else { continue }
                count += 1
                record(event, &state, into: shared)
            }
            return count
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
        shared.recordDrained(pid: event.tid, process: shared.threadGroup(of: event.tid) ?? event.tid, [access], result: result)
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
