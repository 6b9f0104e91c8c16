import CDeveltrace
import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Runs one command in its sandbox under the tracer and returns what it did.
///
/// The tracer runs on a thread of its own that forks the sandbox and makes
/// every ptrace request. `cancel` (from any thread, e.g. a signal handler's
/// queue or a timer) kills the sandbox's init: as PID 1 of its namespace its
/// death takes every other process with it, and the mount namespace goes
/// with the last of them. The scratch directory is removed before `run`
/// returns, whatever happened.
public final class TraceSession: Sendable {
    private struct State {
        var initPidfd: Int32 = -1
        var initPid: pid_t = 0
        var cancellation: Termination? = nil
    }

    public let request: TraceRequest
    private let state = Mutex(State())

    public init(request: TraceRequest) {
        self.request = request
    }

    /// Stops the run: every process in the sandbox is killed at once.
    public func cancel(_ reason: Termination) {
        state.withLock { state in
            if state.cancellation == nil { state.cancellation = reason }
            if state.initPidfd >= 0 { _ = dt_pidfd_send_signal(state.initPidfd, SIGKILL) }
            // Without a PID namespace, the init's process group holds the tree.
            if state.initPid > 0 { kill(-state.initPid, SIGKILL) }
        }
    }

    /// Runs the command and blocks until it and everything it started are
    /// gone. `onAccess` is called on a thread of its own with each access in
    /// order, a few milliseconds after it completed (never inside a traced
    /// call's wait), and for the last one before this returns.
    public func run(timeout: Duration? = nil, onAccess: (@Sendable (FileAccess) -> Void)? = nil) throws -> TraceOutcome {
        let filter: SeccompFilter
        switch request.traced ? SeccompFilter.standard : SeccompFilter.untraced {
        case .success(let f): filter = f
        case .failure(let error): throw error
        }

        let result = Mutex<Result<TraceOutcome, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            var outcome = Result { try self.traceOnThisThread(filter: filter, following: request.followsInKernel, onAccess: onAccess) }
            if case .failure(let error) = outcome, error is FollowingUnavailable {
                // The command never ran: again, followed by ptrace.
                outcome = Result { try self.traceOnThisThread(filter: filter, following: false, onAccess: onAccess) }
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        if let timeout {
            let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
            if done.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .timedOut {
                cancel(.timedOut)
                done.wait()
            }
        } else {
            done.wait()
        }
        return try result.withLock { $0! }.get()
    }

    /// What the trace lacks because the recorder had no room: calls (a full
    /// ring buffer) or whole tasks (a full task map).
    private static func recorderNotes(_ counts: SyscallRecorder.Counts?) -> [String] {
        guard let counts else { return [] }
        var notes: [String] = []
        if counts.lost > 0 { notes.append("the in-kernel recorder lost \(counts.lost) calls: its ring buffer was full") }
        if counts.unwatched > 0 {
            notes.append(
                "the in-kernel recorder had no room for \(counts.unwatched) tasks: their read and change calls are not in the trace")
        }
        return notes
    }

    private static func path(of scratch: borrowing ScratchDirectory?) -> RawPath? {
        switch scratch {
        case .some(let directory): directory.path
        case .none: nil
        }
    }

    /// Loads the in-kernel recorder's objects for `count` traces that will
    /// follow their processes (what each would load at its start: the
    /// kernel's types, the maps, the verifier's passes), so that a check's
    /// first builds do not wait for them. Nothing where the recorder would
    /// not follow (no sync listener, no BTF, not root).
    static func prepareFollowingRecorders(_ count: Int, pool: RecorderObjects.Pool = .shared) {
        guard ListenerSupport.available, let types = KernelTypes.running, case .success = SeccompFilter.following else { return }
        pool.prepare(count, for: types)
    }

    /// The command could not be followed without ptrace after all (its
    /// listener was refused, the sandbox's namespace could not be read);
    /// it never ran, and runs again with ptrace.
    private struct FollowingUnavailable: Error {}

    /// `following`: try `TraceRequest.followsInKernel`.
    private func traceOnThisThread(
        filter: SeccompFilter, following wantsFollowing: Bool, onAccess: (@Sendable (FileAccess) -> Void)?
    ) throws -> TraceOutcome {
        let started = ContinuousClock.now
        if let cpu = request.cpu { _ = dt_pin_thread_to_cpu(Int32(cpu)) }
        // One binding, set once and consumed once at the end: the scratch
        // directory lives exactly as long as the run.
        let scratch: ScratchDirectory?
        if request.sandbox != nil {
            do { scratch = try ScratchDirectory() } catch { throw SandboxError.scratch(error) }
        } else {
            scratch = nil
        }
        var plan: SandboxPlan? = nil
        if var configuration = request.sandbox, let scratchPath = Self.path(of: scratch) {
            if let cwd = request.workingDirectory, !configuration.shows(cwd) {
                // The command's working directory, through an overlay that catches writes.
                configuration.overlays.append(.init(lower: cwd, target: cwd))
            }
            let program = Launch.resolve(request.program, environment: request.environment)
            if program.isAbsolute, !configuration.shows(program), LiveHostView().followedKind(of: program) != nil {
                // A program from elsewhere (`trace -- ~/bin/tool`), read-only.
                configuration.binds.append(.init(source: program, target: program))
            }
            let planned = try SandboxPlan(configuration: configuration, scratch: scratchPath, identity: SandboxIdentity.current)
            try SandboxPreparer.prepare(planned.preparation)
            plan = planned
        }
        let proc: FileDescriptor
        do { proc = try FileDescriptor.open("/proc", .readOnly, options: [.directory, .closeOnExec]) } catch {
            throw SandboxError.launch("cannot open /proc", (error as? Errno) ?? .noSuchFileOrDirectory)
        }
        defer { try? proc.close() }

        // Read-only calls go to a seccomp listener where the kernel gives one
        // with the sync wake-up; otherwise to the in-kernel recorder where it
        // loads, and every other call stops for ptrace.
        var mode =
            request.usesListener
            ? (request.withoutListener
                ? "ptrace (no seccomp listener: asked)"
                : "ptrace (no usable seccomp listener here: a kernel before 6.6, or a listener above develtrace)")
            : "ptrace (asked)"
        var listening: SeccompFilter? = nil
        var recorder: SyscallRecorder? = nil
        var recorderNote: String? = nil
        var following = false
        /// The recorder with ptrace, no listener (`recordingWithPtrace`).
        var listeningPlainly = false
        if !request.traced { mode = "untraced (the sandbox alone)" }
        let listenerUsable =
            request.traced && request.usesListener && !request.withoutListener && ListenerSupport.available
            && (try? SeccompFilter.listening.get()) != nil && dt_wake_signal_install() == 0
        if listenerUsable, case .success(let variant) = SeccompFilter.listening {
            listening = variant
            // The in-kernel recorder takes what it can of the listener's
            // calls, where it loads (root).
            if wantsFollowing, request.usesRecorder, plan != nil, let types = KernelTypes.running,
                case .success(let variant) = SeccompFilter.following,
                let followingRecorder = try? SyscallRecorder(proc: proc, follow: types)
            {
                // No ptrace: the recorder follows the sandbox's processes
                // and the listener takes every other path call.
                recorder = followingRecorder
                listening = variant
                following = true
            } else if request.usesRecorder, case .success(let recording) = SeccompFilter.recording {
                do {
                    recorder = try SyscallRecorder(proc: proc)
                    listening = recording
                } catch {
                    recorderNote = "\(error)".split(separator: "\n").first.map(String.init)
                }
            }
        } else if request.traced, request.usesListener, request.usesRecorder, case .success(let plain) = SeccompFilter.recordingWithPtrace {
            // No listener: the recorder takes what it can, ptrace the rest
            // (the recorder is enabled once the command says it loaded the
            // filter that lets those calls through).
            do {
                recorder = try SyscallRecorder(proc: proc)
                listening = plain
                listeningPlainly = true
            } catch {
                recorderNote = "\(error)".split(separator: "\n").first.map(String.init)
            }
        }
        defer { recorder?.close() }
        let launch = try Launch(
            request: request, plan: plan, filter: filter, listening: listening, listenerRequired: following,
            listeningPlainly: listeningPlainly)
        let initPid = try launch.start()
        if following, recorder?.follow(initPid: initPid, commandDirectory: request.workingDirectory) != true {
            kill(initPid, SIGKILL)
            var ignored: Int32 = 0
            waitpid(initPid, &ignored, 0)
            throw FollowingUnavailable()
        }
        let pidfd = dt_pidfd_open(initPid)
        let cancelledEarly = state.withLock { state -> Bool in
            state.initPid = initPid
            state.initPidfd = pidfd
            return state.cancellation != nil
        }
        if cancelledEarly { cancel(.interrupted(signal: SIGTERM)) }
        defer {
            state.withLock { state in
                if state.initPidfd >= 0 { close(state.initPidfd) }
                state.initPidfd = -1
                state.initPid = 0
            }
        }

        // The tracees' root (the sandbox's, after its pivot_root), for
        // predicting results without joining any namespace.
        let root =
            (try? OwnedDescriptor.open(RawPath("\(initPid)/root"), OpenFlags.path.rawValue | O_DIRECTORY, relativeTo: proc.rawValue)
                .release()) ?? -1
        defer { if root >= 0 { close(root) } }
        let shared = TraceShared(recorder: recorder)
        let stream = onAccess.map { AccessStream(shared: shared, onAccess: $0) }
        defer { stream?.finish() }
        let loop = TraceLoop(initPid: initPid, proc: proc, root: root, shared: shared)
        loop.predictsResults = root >= 0
        if root < 0 { shared.predictsResults.store(false, ordering: .releasing) }
        // This thread looks files up with the sandbox root's host identity,
        // so predicted permissions are the tracees' (root's would pass
        // everything).
        var changedIdentity = false
        if let taken = plan?.identity.takeOnThisThread() {
            changedIdentity = taken.changed
            if !taken.predictsResults { loop.predictsResults = false }
        }
        defer { if changedIdentity { SandboxIdentity.restoreThreadIdentity() } }
        var listeners: ListenerPool? = nil
        var confirmation: PlainFilterConfirmation? = nil
        if listeningPlainly {
            confirmation = PlainFilterConfirmation(socket: launch.takeListenerSocket(), shared: shared)
        } else if let listening {
            listeners = ListenerPool(
                socket: launch.takeListenerSocket(), filter: listening, shared: shared, proc: proc, root: root,
                cpu: request.cpu, identity: plan?.identity, alwaysParallel: request.listenerAlwaysParallel,
                adaptive: !following)
        }
        do {
            try launch.release(initPid: initPid, seize: !following)
        } catch {
            kill(initPid, SIGKILL)
            loop.run()
            listeners?.join(shared)
            confirmation?.join()
            throw error
        }
        let reader = recorder.map { RecorderReader(recorder: $0, shared: shared) }
        loop.run()
        reader?.stop()
        let listened = listeners?.join(shared)
        confirmation?.join()
        if let listened { mode = listened.mode }
        if let recorder, recorder.isEnabled {
            mode =
                listeningPlainly
                ? "in-kernel recorder (eBPF), the rest stopped for \(mode)"
                : (following
                    ? "in-kernel recorder (eBPF) following the processes, the rest to the " : "in-kernel recorder (eBPF), the rest to the ")
                    + mode
        } else if let recorderNote {
            // (Set only where the recorder was tried and did not load.)
            mode += "; no in-kernel recorder (\(recorderNote))"
        }
        let recorded = recorder?.counts
        if changedIdentity {
            // Back to root before reading and removing the scratch layers.
            SandboxIdentity.restoreThreadIdentity()
            changedIdentity = false
        }
        let failure = launch.launchFailure()
        if following && launch.listenerRefused { throw FollowingUnavailable() }
        let writes = plan?.capturedWrites() ?? []
        // The scratch directory goes here, before the result is returned.
        _ = consume scratch

        let cancellation = state.withLock { $0.cancellation }
        // Untraced, the init's status is the command's (it leaves with it).
        // Untraced or followed by the recorder, the init's status is the
        // command's (it leaves with it).
        var status = (request.traced && !following ? loop.commandStatus : loop.initStatus) ?? 128 + SIGKILL
        if case .interrupted(let signal) = cancellation { status = 128 + signal }
        let ledger = following ? recorder?.ledger : nil
        let processes = ledger?.processes ?? loop.processes
        let commandPid = ledger.map { ledger in ledger.commandID.flatMap { processes[$0]?.pid } } ?? loop.commandPid
        return TraceOutcome(
            accesses: loop.accesses, processes: processes, exitStatus: status,
            termination: cancellation ?? .completed, writes: writes,
            notes: Self.recorderNotes(recorded),
            launchFailure: failure, commandPid: commandPid ?? 0,
            statistics: TraceStatistics(
                seccompStops: loop.seccompStops, syscallExitStops: loop.syscallExitStops, otherStops: loop.otherStops,
                seconds: Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                    + Double((ContinuousClock.now - started).components.seconds),
                notifications: listened?.notifications ?? 0, interruptStops: loop.interruptStops,
                parallelNotifications: listened?.parallelNotifications ?? 0, listenerSwitches: listened?.switches ?? 0,
                lookupCacheHits: shared.lookups.hits.load(ordering: .relaxed),
                lookupCacheMisses: shared.lookups.misses.load(ordering: .relaxed),
                recordedCalls: recorded?.recorded ?? 0, unreadableRecordedCalls: recorded?.unreadable ?? 0,
                lostRecordedCalls: recorded?.lost ?? 0, mode: mode))
    }
}
