import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct ListenerScheduling {
        /// The modes the schedule reports for `tasks`, one call each.
        static func changes(_ tasks: [Int32], from start: ListenerSchedule = ListenerSchedule()) -> (
            ListenerSchedule, [ListenerSchedule.Mode]
        ) {
            var schedule = start
            var seen: [ListenerSchedule.Mode] = []
            for task in tasks {
                if let mode = schedule.observe(task: task) { seen.append(mode) }
            }
            return (schedule, seen)
        }

        @Test("tasks that take turns (make, a shell, the compiler, in runs of calls) stay serial")
        func turns() {
            let tasks = (0..<200).flatMap { step in [Int32](repeating: Int32(100 + step % 5), count: 12) }
            let (schedule, seen) = Self.changes(tasks)
            #expect(seen.isEmpty)
            #expect(schedule.mode == .serial)
        }

        @Test("two compilers whose calls interleave go parallel, once, and stay while they do")
        func interleaved() {
            let tasks = (0..<2000).map { Int32(200 + $0 % 2) }
            let (schedule, seen) = Self.changes(tasks)
            #expect(seen == [.parallel])
            #expect(schedule.mode == .parallel)
        }

        @Test("back to serial once one task calls alone, and no flapping in between")
        func settle() {
            let (parallel, _) = Self.changes((0..<2000).map { Int32(300 + $0 % 2) })
            // A mixed stretch: a switch every third call, between the thresholds.
            let mixed = (0..<3000).map { Int32($0 / 3 % 2 == 0 ? 300 : 301) }
            let (stillParallel, flaps) = Self.changes(mixed, from: parallel)
            #expect(flaps.isEmpty)
            #expect(stillParallel.mode == .parallel)
            let (serial, seen) = Self.changes([Int32](repeating: 300, count: 1000), from: stillParallel)
            #expect(seen == [.serial])
            #expect(serial.mode == .serial)
        }

        @Test("a short pipeline (two tasks for a few calls) does not switch")
        func pipeline() {
            let burst = (0..<12).map { Int32(400 + $0 % 2) }
            let tasks = [Int32](repeating: 399, count: 300) + burst + [Int32](repeating: 402, count: 300)
            let (_, seen) = Self.changes(tasks)
            #expect(seen.isEmpty)
        }
    }
}
