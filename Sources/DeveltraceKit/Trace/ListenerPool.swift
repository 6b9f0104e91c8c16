import CDeveltrace
import Dispatch
import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The threads that answer the seccomp listener, arranged as
/// `ListenerSchedule` decides.
///
/// The first thread receives the listener the command sends and always
/// answers. With more than one CPU there is a helper per further CPU, pinned
/// to it, which answers only while tasks call at once (`.parallel`: the
/// first thread then pinned to its own CPU and the sync wake-up off) and
/// otherwise waits at its gate, out of the listener's wait queue. Every
/// thread looks files up with the sandbox root's host identity, as the
/// tracer thread does. A trace pinned to one CPU (`--cpu`) has the first
/// thread alone, pinned there, with the sync wake-up.
final class ListenerPool: @unchecked Sendable {
    struct Outcome {
        var notifications = 0
        var parallelNotifications = 0
        var switches = 0
        var mode = "ptrace (the command sent no listener)"
    }

    private let shared: TraceShared
    private let cpus: [Int32]
    private let pinned: Bool
    private let alwaysParallel: Bool
    /// Whether `ListenerSchedule` may take the pool parallel; false keeps
    /// one thread with the sync wake-up.
    private let adaptive: Bool
    private let done = DispatchSemaphore(value: 0)
    private let schedule = Mutex((schedule: ListenerSchedule(), switches: 0))
    private let parallel = Atomic<Bool>(false)
    private let parallelCalls = Atomic<Int>(0)
    private let gates: [DispatchSemaphore]
    /// Set by the first thread before any helper starts.
    private var listener: Int32 = -1
    private var sync = false
    /// Written by the first thread before `done` is signalled, read after.
    private var outcome = Outcome()

    init(
        socket: Int32, filter: SeccompFilter, shared: TraceShared, proc: FileDescriptor, root: Int32, cpu: Int?, identity: SandboxIdentity?,
        alwaysParallel: Bool = false, adaptive: Bool = true
    ) {
        self.shared = shared
        self.alwaysParallel = alwaysParallel
        self.adaptive = adaptive
        if let cpu {
            cpus = [Int32(cpu)]
            pinned = true
        } else {
            cpus = Self.availableCPUs()
            pinned = false
        }
        gates = cpus.dropFirst().map { _ in DispatchSemaphore(value: 0) }
        let thread = Thread { [self] in
            defer { done.signal() }
            if pinned { _ = dt_pin_thread_to_cpu(cpus[0]) }
            var reason: Int32 = 0
            let received = dt_listener_receive(socket, &reason)
            if received >= 0 {
                // Only with the listening filter (the recording one) does
                // anything reach the recorder; a listener refused at load
                // leaves every call to ptrace, and nothing is recorded twice.
                shared.recorderFilterLoaded()
            }
            // The command waits for this before its exec, the first call
            // the recorder may take.
            _ = dt_listener_acknowledge(socket)
            close(socket)
            guard received >= 0 else {
                if reason != 0 {
                    outcome.mode = "ptrace (the command could not make a listener: \(Errno(rawValue: reason).symbolicName))"
                }
                return
            }
            defer { close(received) }
            listener = received
            sync = dt_listener_set_sync(received) == 0
            if sync && alwaysParallel && !gates.isEmpty {
                _ = dt_listener_set_sync_to(received, 0)
                parallel.store(true, ordering: .releasing)
            }
            let helpers = DispatchGroup()
            let helperCalls = Mutex(0)
            if sync {
                for (index, gate) in gates.enumerated() {
                    helpers.enter()
                    let helper = Thread { [self] in
                        defer { helpers.leave() }
                        let calls = serveAsHelper(
                            cpu: cpus[index + 1], gate: gate, filter: filter, proc: proc, root: root, identity: identity)
                        helperCalls.withLock { $0 += calls }
                    }
                    helper.stackSize = 1 << 20
                    helper.start()
                }
            }
            let calls = serveAsFirst(filter: filter, proc: proc, root: root, identity: identity)
            for gate in gates { gate.signal() }
            helpers.wait()
            let arrangement =
                !sync
                ? "listener"
                : gates.isEmpty
                    ? "listener (sync wake-up)"
                    : "listener (sync wake-up; without it, a thread per CPU, while tasks call at once)"
            outcome = Outcome(
                notifications: calls + helperCalls.withLock { $0 }, parallelNotifications: parallelCalls.load(ordering: .acquiring),
                switches: schedule.withLock { $0.switches }, mode: arrangement)
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The CPUs this thread may run on (empty when that cannot be read).
    static func availableCPUs() -> [Int32] {
        var list = [Int32](repeating: 0, count: 1024)
        let count = dt_available_cpu_list(&list, Int32(list.count))
        return count > 0 ? Array(list.prefix(Int(count))) : []
    }

    /// Waits for the threads, waking them from a blocking receive or their
    /// gates once the ptrace loop has set `shared.finished`.
    @discardableResult
    func join(_ shared: TraceShared) -> Outcome {
        shared.finished.store(true, ordering: .releasing)
        while done.wait(timeout: .now() + .milliseconds(2)) == .timedOut {
            shared.wakeListeners()
            for gate in gates { gate.signal() }
        }
        return outcome
    }

    private func serveAsFirst(filter: SeccompFilter, proc: FileDescriptor, root: Int32, identity: SandboxIdentity?) -> Int {
        withIdentity(identity) {
            let loop = ListenerLoop(listener: listener, filter: filter, shared: shared, proc: proc, root: root)
            // Pinned to the first CPU while parallel (never with `--cpu`:
            // there is no helper then, and nothing goes parallel).
            var parallelHere = false
            loop.registered {
                while !shared.finished.load(ordering: .acquiring) && !loop.hungUp {
                    loop.serveOne(observe: observe)
                    if parallel.load(ordering: .acquiring) != parallelHere {
                        parallelHere.toggle()
                        _ = parallelHere ? dt_pin_thread_to_cpu(cpus[0]) : dt_pin_thread_to_cpus(cpus, Int32(cpus.count))
                    }
                }
            }
            return loop.notifications
        }
    }

    private func serveAsHelper(
        cpu: Int32, gate: DispatchSemaphore, filter: SeccompFilter, proc: FileDescriptor, root: Int32, identity: SandboxIdentity?
    ) -> Int {
        _ = dt_pin_thread_to_cpu(cpu)
        return withIdentity(identity) {
            let loop = ListenerLoop(listener: listener, filter: filter, shared: shared, proc: proc, root: root)
            loop.registered {
                while !shared.finished.load(ordering: .acquiring) && !loop.hungUp {
                    if parallel.load(ordering: .acquiring) {
                        loop.serveOne(observe: observe)
                    } else {
                        gate.wait()
                    }
                }
            }
            return loop.notifications
        }
    }

    /// Feeds one call to the schedule and applies a change of mode: the
    /// sync wake-up off and the helpers let in, or the sync wake-up on and
    /// the helpers sent back to their gates (a helper in a receive is woken
    /// out of it; one busy answering parks after that call).
    private func observe(_ task: pid_t) {
        guard sync, !gates.isEmpty, adaptive || alwaysParallel else { return }
        if alwaysParallel {
            parallelCalls.add(1, ordering: .relaxed)
            return
        }
        schedule.withLock { state in
            if state.schedule.mode == .parallel { parallelCalls.add(1, ordering: .relaxed) }
            guard let mode = state.schedule.observe(task: task) else { return }
            state.switches += 1
            switch mode {
            case .parallel:
                _ = dt_listener_set_sync_to(listener, 0)
                parallel.store(true, ordering: .releasing)
                for gate in gates { gate.signal() }
            case .serial:
                _ = dt_listener_set_sync_to(listener, 1)
                parallel.store(false, ordering: .releasing)
                shared.wakeListeners()
            }
        }
    }

    /// Runs `body` with this thread's file-system identity the sandbox
    /// root's host identity (predicted permissions are the tracees').
    private func withIdentity<T>(_ identity: SandboxIdentity?, _ body: () -> T) -> T {
        let taken = identity?.takeOnThisThread() ?? (changed: false, predictsResults: true)
        if !taken.predictsResults { shared.predictsResults.store(false, ordering: .releasing) }
        defer { if taken.changed { SandboxIdentity.restoreThreadIdentity() } }
        return body()
    }
}
