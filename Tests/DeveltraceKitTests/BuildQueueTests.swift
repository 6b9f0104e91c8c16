import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// `BuildQueue.fanOut`: a job's rebuilds spread over idle workers,
    /// never waiting on a busy one.
    @Suite struct BuildQueueFanOut {
        /// Records which worker (cpu) ran each index, and how many ran at once.
        final class Record: @unchecked Sendable {
            let lock = NSLock()
            var cpus: [Int: Int] = [:]
            var running = 0
            var most = 0
            func enter(_ index: Int, cpu: Int) {
                lock.withLock {
                    cpus[index] = cpu
                    running += 1
                    most = max(most, running)
                }
            }
            func leave() { lock.withLock { running -= 1 } }
        }

        /// A value shared by the queue's threads.
        final class Shared<T>: @unchecked Sendable {
            private let lock = NSLock()
            private var value: T
            init(_ value: T) { self.value = value }
            func withLock<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
        }

        @Test("a lone job's fan-out runs on the idle worker too, and returns each index's result")
        func idleWorkerHelps() throws {
            let queue = BuildQueue()
            let record = Record()
            let results = Shared<[Int]>([])
            queue.add(priority: 0) { cpu in
                // Let the other worker reach its wait.
                while queue.idleWorkers == 0 { usleep(1000) }
                let squares = queue.fanOut(6, cpu: cpu) { index, cpu in
                    record.enter(index, cpu: cpu)
                    usleep(20000)
                    record.leave()
                    return index * index
                }
                results.withLock { $0 = squares }
            }
            try queue.run(workers: 2, cpus: 2) { false }
            #expect(results.withLock { $0 } == [0, 1, 4, 9, 16, 25])
            #expect(Set(record.cpus.values) == [0, 1], "\(record.cpus)")
            #expect(record.most == 2)
        }

        @Test("two jobs fanning out at once finish (each runs its own when no worker is idle)")
        func noDeadlock() throws {
            let queue = BuildQueue()
            let total = Shared(0)
            for _ in 0..<2 {
                queue.add(priority: 0) { cpu in
                    let parts = queue.fanOut(4, cpu: cpu) { index, _ in
                        usleep(5000)
                        return index
                    }
                    total.withLock { $0 += parts.reduce(0, +) }
                }
            }
            try queue.run(workers: 2, cpus: 2) { false }
            #expect(total.withLock { $0 } == 12)
        }

        @Test("a stopped queue's helpers are withdrawn: the fan-out still ends, on the caller")
        func cancelled() throws {
            let queue = BuildQueue()
            let stop = Shared(false)
            let ran = Shared(0)
            queue.add(priority: 0) { cpu in
                stop.withLock { $0 = true }
                _ = queue.fanOut(3, cpu: cpu) { _, _ in ran.withLock { $0 += 1 } }
            }
            try queue.run(workers: 2, cpus: 2) { stop.withLock { $0 } }
            #expect(ran.withLock { $0 } == 3)
        }
    }

    @Suite struct BuildOrdering {
        @Test("one worker: lower priority first, equal priorities in the order added, a job's later job before others' queued earlier")
        func priorities() throws {
            let queue = BuildQueue()
            let ran = BuildQueueFanOut.Shared<[String]>([])
            // As a check queues them: each sample's reference and candidate
            // at its place in the build order; sample 0's candidate adds its
            // next round.
            for place in 0..<3 {
                queue.add(priority: place) { _ in ran.withLock { $0.append("reference \(place)") } }
                queue.add(priority: place) { _ in
                    ran.withLock { $0.append("candidate \(place)") }
                    if place == 0 {
                        queue.add(priority: place) { _ in ran.withLock { $0.append("round 2 of 0") } }
                    }
                }
            }
            try queue.run(workers: 1, cpus: 1) { false }
            #expect(
                ran.withLock { $0 } == [
                    "reference 0", "candidate 0", "round 2 of 0", "reference 1", "candidate 1", "reference 2", "candidate 2",
                ])
        }

        @Test(
            "held jobs (first candidate rounds before the staging is done) let every other job go first, and go first again once released")
        func heldJobs() throws {
            let jobs = [(priority: 0, order: 0, held: false), (0, 1, true), (1, 2, false), (1, 3, true)]
            #expect(BuildQueue.pick(jobs, released: false) == 0)
            #expect(BuildQueue.pick(Array(jobs.dropFirst()), released: false) == 1) // (1, 2): the next one not held
            #expect(BuildQueue.pick(Array(jobs.dropFirst()), released: true) == 0) // (0, 1): its place again
            // Nothing but held jobs: one is taken (its worker waits in it).
            #expect(BuildQueue.pick([(2, 5, true), (1, 6, true)], released: false) == 1)
            #expect(BuildQueue.pick([], released: false) == nil)

            // One worker, as a check queues its builds; the staging is done
            // during the second reference build.
            let queue = BuildQueue()
            let ran = BuildQueueFanOut.Shared<[String]>([])
            for place in 0..<3 {
                queue.add(priority: place) { _ in
                    ran.withLock { $0.append("reference \(place)") }
                    if place == 1 { queue.release() }
                }
                queue.add(priority: place, held: true) { _ in ran.withLock { $0.append("candidate \(place)") } }
            }
            try queue.run(workers: 1, cpus: 1) { false }
            #expect(
                ran.withLock { $0 } == [
                    "reference 0", "reference 1", "candidate 0", "candidate 1", "reference 2", "candidate 2",
                ])
        }

        @Test("largest first, equal sizes in their order; a sample's size is the bytes of its regular files")
        func largestFirst() throws {
            #expect(BuildOrder.largestFirst([10, 8144, 0, 6344, 10]) == [1, 3, 0, 4, 2])
            #expect(BuildOrder.largestFirst([]) == [])
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("build-order-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("sub"), withIntermediateDirectories: true)
            try Data(count: 1000).write(to: directory.appendingPathComponent("a.c"))
            try Data(count: 234).write(to: directory.appendingPathComponent("sub/b.h"))
            try FileManager.default.createSymbolicLink(
                at: directory.appendingPathComponent("link"), withDestinationURL: directory.appendingPathComponent("a.c"))
            #expect(BuildOrder.sourceSize(of: RawPath(directory.path)) == 1234)
            #expect(BuildOrder.sourceSize(of: RawPath("/nonexistent-build-order")) == 0)
        }
    }
}
