import Testing

@testable import DeveltraceKit

extension Unit {
    /// The parent of each process, whichever of the fork event and the
    /// child's first stop ptrace reports first, over pids used again.
    @Suite struct ForkOrderTests {
        @Test("the fork event first: the first stop takes the parent")
        func eventFirst() {
            var forks = ForkOrder()
            #expect(forks.forkEvent(child: 200, parent: 100) == nil)
            #expect(forks.firstStop(of: 200, process: 200, isLeader: true) == 100)
            forks.ended(200, seen: true)
            #expect(forks.open == 0)
        }

        @Test("the first stop first: the fork event gives the parent, and says whether the child executed meanwhile")
        func stopFirst() {
            var forks = ForkOrder()
            #expect(forks.firstStop(of: 200, process: 200, isLeader: true) == nil)
            forks.executed(200)
            forks.ended(200, seen: true)
            #expect(forks.forkEvent(child: 200, parent: 100) == ForkOrder.LateParent(process: 200, isLeader: true, executed: true))
            #expect(forks.open == 0)
        }

        /// Stop 28's sweep: a pid announced as a `make`'s child, used again
        /// much later by a child of `dkms` that stopped before its fork
        /// event, was given the `make` as its parent.
        @Test("a pid used again: the earlier announcement does not name the later process's parent")
        func pidUsedAgain() {
            var forks = ForkOrder()
            let make: Int32 = 100
            let dkms: Int32 = 300
            #expect(forks.forkEvent(child: 200, parent: make) == nil)
            #expect(forks.firstStop(of: 200, process: 200, isLeader: true) == make)
            forks.ended(200, seen: true)
            // pid 200 again, as another process (a fresh id).
            #expect(forks.firstStop(of: 200, process: 2_147_483_647, isLeader: true) == nil)
            let late = forks.forkEvent(child: 200, parent: dkms)
            #expect(late == ForkOrder.LateParent(process: 2_147_483_647, isLeader: true, executed: false))
            #expect(forks.open == 0)
        }

        @Test("a thread that stopped and ended before its clone event leaves nothing for its tid")
        func threadGoneFirst() {
            var forks = ForkOrder()
            #expect(forks.firstStop(of: 201, process: 100, isLeader: false) == nil)
            forks.ended(201, seen: true)
            #expect(forks.forkEvent(child: 201, parent: 100)?.isLeader == false)
            #expect(forks.open == 0)
            // The tid as a new process's leader, stopped first.
            #expect(forks.firstStop(of: 201, process: 201, isLeader: true) == nil)
        }

        @Test("a child killed before its first stop, before or after its fork event, leaves nothing for its pid")
        func killedBeforeFirstStop() {
            var forks = ForkOrder()
            forks.ended(200, seen: false)
            #expect(forks.forkEvent(child: 200, parent: 100) == nil)
            #expect(forks.open == 0)
            #expect(forks.forkEvent(child: 201, parent: 100) == nil)
            forks.ended(201, seen: false)
            #expect(forks.open == 0)
            #expect(forks.firstStop(of: 201, process: 201, isLeader: true) == nil)
        }
    }
}
