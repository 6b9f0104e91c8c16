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
    private var jobs: [(priority: Int, order: Int, job: Job)] = []
    private var running = 0
    private var added = 0
    private var failure: (any Error)?
    private var stopped = false

    /// Adds a job; lower `priority` runs first, then first added.
    func add(priority: Int, _ job: @escaping Job) {
        condition.lock()
        jobs.append((priority, added, job))
        added += 1
        condition.signal()
        condition.unlock()
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
            if let index = jobs.indices.min(by: { (jobs[$0].priority, jobs[$0].order) < (jobs[$1].priority, jobs[$1].order) }) {
                running += 1
                return jobs.remove(at: index).job
            }
            if running == 0 {
                // Nothing queued and nothing that could queue more.
                condition.broadcast()
                return nil
            }
            condition.wait()
        }
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
