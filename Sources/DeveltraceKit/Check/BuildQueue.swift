import Foundation

/// The builds of a check as a queue of jobs run by `workers` threads, each
/// pinned (with the tracer it starts) to its own CPU. A job may add jobs
/// (the next closure round); the queue is done when it is empty and no job
/// is running.
///
/// Builds, not samples, are the unit: a sample's reference build and its
/// first candidate build do not depend on each other, so they can run at
/// the same time, and a few samples still keep every CPU busy.
final class BuildQueue: @unchecked Sendable {
    typealias Job = @Sendable (_ cpu: Int) throws -> Void

    private let condition = NSCondition()
    private var jobs: [(priority: Int, order: Int, held: Bool, job: Job)] = []
    /// Whether held jobs may go first again (`release`).
    private var released = false
    private var running = 0
    private var added = 0
    private var failure: (any Error)?
    private var stopped = false
    /// Workers waiting for a job, and helper jobs (`fanOut`) queued for
    /// them and not yet taken.
    private var waiting = 0
    private var helpersQueued = 0

    /// Moves `check` on by `event` (`SampleStage.transition`) under the
    /// queue's lock: the one lock every sample's state changes under, so
    /// that a reference build and a candidate round finishing at once see
    /// each other's results.
    func send(_ event: SampleStage.Event, to check: SampleCheck) -> SampleStage.Command? {
        condition.lock()
        defer { condition.unlock() }
        return check.apply(event)
    }

    /// Whether `check` is done (read under the queue's lock).
    func isDone(_ check: SampleCheck) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return check.stage.isDone
    }

    /// What `check` gave, once done (read under the queue's lock).
    func outcome(of check: SampleCheck) -> SampleOutcome? {
        condition.lock()
        defer { condition.unlock() }
        if case .done(let outcome) = check.stage { return outcome }
        return nil
    }

    /// Adds a job; lower `priority` runs first, then first added. A `held`
    /// job (one that needs the staged candidate) lets every job that is not
    /// held go first until `release`.
    func add(priority: Int, held: Bool = false, _ job: @escaping Job) {
        condition.lock()
        jobs.append((priority, added, held, job))
        added += 1
        condition.signal()
        condition.unlock()
    }

    /// What held jobs wait for has come (the candidate is staged): they
    /// take their place by priority again.
    func release() {
        condition.lock()
        released = true
        condition.broadcast()
        condition.unlock()
    }

    /// The job a free worker takes: the first by priority, then by the
    /// order added, of those not held; a held job only when it is
    /// released or nothing else is queued (then the worker waits in it, as
    /// it would for nothing). Pure.
    static func pick(_ jobs: [(priority: Int, order: Int, held: Bool)], released: Bool) -> Int? {
        let ready = jobs.indices.filter { released || !jobs[$0].held }
        let candidates = ready.isEmpty ? Array(jobs.indices) : ready
        return candidates.min { (jobs[$0].priority, jobs[$0].order) < (jobs[$1].priority, jobs[$1].order) }
    }

    /// Runs every job, and those they add, on `workers` threads; rethrows
    /// the first error (the other jobs are then not started).
    func run(workers: Int, cpus: Int, cancelled: @escaping @Sendable () -> Bool) throws {
        let group = DispatchGroup()
        for worker in 0..<max(1, workers) {
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                while let job = next(cancelled: cancelled) {
                    do {
                        try job(worker % max(1, cpus))
                        finished(nil)
                    } catch {
                        finished(error)
                    }
                }
            }
            thread.start()
        }
        group.wait()
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
    }

    private func next(cancelled: () -> Bool) -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if stopped || cancelled() { return nil }
            if let index = Self.pick(jobs.map { ($0.priority, $0.order, $0.held) }, released: released) {
                running += 1
                if jobs[index].priority == Self.helperPriority { helpersQueued -= 1 }
                return jobs.remove(at: index).job
            }
            if running == 0 {
                // Nothing queued and nothing that could queue more.
                condition.broadcast()
                return nil
            }
            waiting += 1
            condition.wait()
            waiting -= 1
        }
    }

    /// The priority of `fanOut`'s helpers: before any other job.
    private static let helperPriority = Int.min

    /// Workers with nothing to do right now (a hint: `fanOut` checks again).
    var idleWorkers: Int {
        condition.lock()
        defer { condition.unlock() }
        return max(0, waiting - helpersQueued)
    }

    /// Runs `work` for the indices `0..<count` from inside a job: on the
    /// job's own thread (`cpu`) and on as many workers as are idle right
    /// now, each taking the next index until none is left; returns each
    /// index's result. A worker busy with another job is never waited for,
    /// so two jobs fanning out at once cannot deadlock: what no idle worker
    /// takes, the calling thread does.
    func fanOut<T: Sendable>(_ count: Int, cpu: Int, _ work: @escaping @Sendable (_ index: Int, _ cpu: Int) -> T) -> [T] {
        let shared = FanOut<T>(count: count)
        let group = DispatchGroup()
        var orders: [Int] = []
        condition.lock()
        let helpers = min(count - 1, max(0, waiting - helpersQueued))
        for _ in 0..<max(0, helpers) {
            group.enter()
            let order = added
            orders.append(order)
            jobs.append(
                (
                    Self.helperPriority, order, false,
                    { cpu in
                        defer { group.leave() }
                        while let index = shared.claim() { shared.store(index, work(index, cpu)) }
                    }
                ))
            added += 1
            helpersQueued += 1
        }
        if helpers > 0 { condition.broadcast() }
        condition.unlock()
        while let index = shared.claim() { shared.store(index, work(index, cpu)) }
        // Helpers no worker took (the queue stopped, or every index was
        // claimed first) are withdrawn rather than waited for.
        condition.lock()
        let before = jobs.count
        jobs.removeAll { orders.contains($0.order) }
        helpersQueued -= before - jobs.count
        for _ in 0..<(before - jobs.count) { group.leave() }
        condition.unlock()
        group.wait()
        return shared.results()
    }

    private func finished(_ error: (any Error)?) {
        condition.lock()
        running -= 1
        if let error, failure == nil {
            failure = error
            stopped = true
        }
        condition.broadcast()
        condition.unlock()
    }
}

/// The indices a `fanOut` hands out and the results it gathers.
private final class FanOut<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var nextIndex = 0
    private let count: Int
    private var stored: [T?]

    init(count: Int) {
        self.count = count
        stored = Array(repeating: nil, count: count)
    }

    func claim() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard nextIndex < count else { return nil }
        nextIndex += 1
        return nextIndex - 1
    }

    func store(_ index: Int, _ value: T) {
        lock.lock()
        stored[index] = value
        lock.unlock()
    }

    func results() -> [T] {
        lock.lock()
        defer { lock.unlock() }
        return stored.map { $0! }
    }
}
