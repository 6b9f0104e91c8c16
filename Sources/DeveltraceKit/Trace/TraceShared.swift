import CDeveltrace
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One path of a call whose result is not known yet.
struct PendingAccess: Sendable {
    var syscall: Int
    var raw: RawPath
    var absolute: RawPath
    var intent: AccessIntent
}

/// What the ptrace loop and the listener loop of one trace share. Each
/// piece has one writer; the ordering rules are stated where they are kept.
///
/// - The access log: both record into it, under its lock, so sequence
///   numbers follow the order in which calls were answered. A task is
///   blocked while either loop records its call, so one task's accesses are
///   in its own order.
/// - Working directories: the ptrace loop sees every `chdir`, `fchdir`,
///   `chroot` and exit, and bumps `directoryGeneration` before it resumes
///   the task; the listener drops its cached working directories when the
///   generation moved. A task's next call can only come after the resume,
///   so the listener never uses a directory the task has left.
/// - Thread groups: the ptrace loop records each task's process when it
///   first stops (a seized child stops before it runs); the listener asks
///   here and, for a task it does not know yet, `/proc`.
/// - Lookup results: both loops' predictors read and fill `lookups`; the
///   ptrace loop, which stops at every call that changes the file system,
///   begins a change there before resuming the task and ends it at the
///   call's exit, so no result that predates a change survives it.
/// - Calls the listener cannot predict: it asks the ptrace loop (the only
///   thread that may make ptrace requests) to interrupt the task, and lets
///   the call go on only once the request is made, so the task stops right
///   after the call returns and the ptrace loop reads the result there.
final class TraceShared: Sendable {
    private struct Log {
        var accesses: [FileAccess] = []
        /// Every path recorded so far, each once: an access refers to the
        /// stored bytes (arrays share their storage), so a build that reads
        /// one header ten thousand times holds its path once. A configure
        /// that runs kbuild hundreds of times (openafs) made millions of
        /// accesses, gigabytes when each held its own copies.
        var paths = Set<RawPath>()

        /// The stored copy of `path` (stored now if new): one hash lookup.
        mutating func intern(_ path: RawPath) -> RawPath { paths.insert(path).memberAfterInsert }

        mutating func append(_ access: PendingAccess, pid: pid_t, process: pid_t, result: AccessResult) {
            let path = intern(access.absolute)
            let raw = access.raw == access.absolute ? path : intern(access.raw)
            accesses.append(
                FileAccess(
                    pid: pid, process: process, syscall: PathSyscall.table[access.syscall].name,
                    path: path, rawPath: raw, intent: access.intent, result: result,
                    sequence: accesses.count))
        }
    }

    struct InterruptRequest: Sendable {
        var tid: pid_t
        var process: pid_t
        var access: PendingAccess
        var answered: DispatchSemaphore
    }

    private let log = Mutex(Log())
    private let threadGroups = Mutex([pid_t: pid_t]())
    private let interrupts = Mutex([InterruptRequest]())
    /// Lookup results kept while nothing changed them; the ptrace loop
    /// reports every change (`LookupCache`).
    let lookups = SharedLookupCache()
    /// Bumped by the ptrace loop whenever a working directory may have moved.
    let directoryGeneration = Atomic<Int>(0)
    /// False after a `chroot`: nobody predicts from then on.
    let predictsResults = Atomic<Bool>(true)
    /// The ptrace loop's thread, for `dt_wake_thread`.
    let tracerThread = Atomic<Int32>(0)
    /// The listener loops' threads, for waking them at the end.
    private let listenerThreads = Mutex(Set<Int32>())
    /// Set by the ptrace loop once every tracee is gone.
    let finished = Atomic<Bool>(false)

    /// The in-kernel recorder, when it takes calls of one path: its
    /// records come before any other's (`record`).
    let recorder: SyscallRecorder?

    init(recorder: SyscallRecorder? = nil) {
        self.recorder = recorder
    }

    /// The command loaded the filter that lets the recorder's calls
    /// through: the recorder records from now on, and the lookup cache is
    /// off (the recorder takes changes the ptrace loop never sees). Said
    /// by the listener's first thread, or without a listener by
    /// `PlainFilterConfirmation`.
    func recorderFilterLoaded() {
        guard let recorder else { return }
        lookups.disable()
        recorder.enable()
    }

    /// Records the accesses of one call with `result`, in order: the
    /// recorder's calls committed so far first (they came before).
    func record(pid: pid_t, process: pid_t, _ pending: [PendingAccess], result: AccessResult) {
        recorder?.drain(into: self)
        recordDrained(pid: pid, process: process, pending, result: result)
    }

    /// `record` without draining the recorder (the recorder's own records).
    func recordDrained(pid: pid_t, process: pid_t, _ pending: [PendingAccess], result: AccessResult) {
        log.withLock { log in
            for access in pending { log.append(access, pid: pid, process: process, result: result) }
        }
    }

    /// One access of one call, recorded as `recordDrained` does (the
    /// recorder's records are one access each: no array for it).
    func recordDrained(pid: pid_t, process: pid_t, _ access: PendingAccess, result: AccessResult) {
        log.withLock { $0.append(access, pid: pid, process: process, result: result) }
    }

    var accesses: [FileAccess] { log.withLock { $0.accesses } }

    /// The accesses recorded from `index` on (for `AccessStream`).
    func accesses(from index: Int) -> [FileAccess] {
        log.withLock { index < $0.accesses.count ? Array($0.accesses[index...]) : [] }
    }

    func listenerStarted(_ thread: Int32) { _ = listenerThreads.withLock { $0.insert(thread) } }
    func listenerEnded(_ thread: Int32) { _ = listenerThreads.withLock { $0.remove(thread) } }
    /// Wakes every listener thread from a blocking receive.
    func wakeListeners() {
        listenerThreads.withLock { threads in
            for thread in threads { _ = dt_wake_thread(thread) }
        }
    }

    func setThreadGroup(_ tid: pid_t, _ process: pid_t?) {
        threadGroups.withLock { $0[tid] = process }
    }

    func threadGroup(of tid: pid_t) -> pid_t? {
        threadGroups.withLock { $0[tid] }
    }

    /// Listener side: asks the ptrace loop to interrupt `tid` and returns
    /// once it has (or has found it gone).
    func requestInterrupt(tid: pid_t, process: pid_t, access: PendingAccess) {
        let request = InterruptRequest(tid: tid, process: process, access: access, answered: DispatchSemaphore(value: 0))
        interrupts.withLock { $0.append(request) }
        // The signal can come just before the ptrace loop blocks in waitpid
        // (and be lost there): send it again until the request is taken.
        while true {
            let tracer = tracerThread.load(ordering: .acquiring)
            if tracer > 0 { _ = dt_wake_thread(tracer) }
            if request.answered.wait(timeout: .now() + .milliseconds(2)) == .success { return }
            if finished.load(ordering: .acquiring) { return }
        }
    }

    /// Ptrace side: the requests waiting.
    func takeInterruptRequests() -> [InterruptRequest] {
        interrupts.withLock { requests in
            defer { requests.removeAll() }
            return requests
        }
    }
}
