import CDeveltrace
import Foundation
import SystemPackage
import Testing

@testable import DeveltraceKit

extension Unit {
    /// `TraceLoop.threadGroup`: which process a task belongs to, asked at
    /// every task's first stop.
    @Suite struct ThreadGroups {
        @Test("the Tgid field of a status text; nil without one or with a bad number")
        func parse() {
            func tgid(_ text: String) -> pid_t? { TraceLoop.threadGroup(inStatus: Array(text.utf8)[...]) }
            #expect(tgid("Name:\tcc1\nUmask:\t0022\nState:\tR (running)\nTgid:\t4242\nNgid:\t0\nPid:\t4250\n") == 4242)
            #expect(tgid("Tgid:\t7") == 7, "the last line, without its newline")
            #expect(tgid("Name:\tTgid:\t1\nTgid: \t 31\n") == 31, "only at a line's start")
            #expect(tgid("Name:\tx\nPid:\t5\n") == nil)
            #expect(tgid("Tgid:\t\n") == nil)
            #expect(tgid("Tgid:\t99999999999\n") == nil)
        }

        @Test("a group's leader and another of its threads both name the leader")
        func leaderAndThread() throws {
            let proc = try FileDescriptor.open("/proc", .readOnly, options: [.directory, .closeOnExec])
            defer { try? proc.close() }
            #expect(TraceLoop.threadGroup(of: getpid(), proc: proc) == getpid())
            let tid = Atomic32()
            let done = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let thread = Thread {
                tid.value = dt_gettid()
                done.signal()
                release.wait()
            }
            thread.start()
            done.wait()
            defer { release.signal() }
            #expect(tid.value != getpid())
            #expect(TraceLoop.threadGroup(of: tid.value, proc: proc) == getpid(), "a thread: from its status")
            #expect(TraceLoop.threadGroup(of: 0x3fff_ffff, proc: proc) == nil, "no such task")
        }

        final class Atomic32: @unchecked Sendable {
            var value: pid_t = 0
        }
    }
}
