import Dispatch
import Foundation
import Synchronization

/// Hands a trace's accesses to a caller's `onAccess` (say, `trace --format
/// jsonl` writing each line) on a thread of its own, in order.
///
/// Encoding and writing a line takes microseconds; done where the access is
/// recorded, it would hold the access log's lock and the traced task, which
/// waits for its call to be answered. Here the thread takes what was
/// recorded every 10 ms, and everything left when the trace ends. (It took
/// it every 2 ms until stop 36: in an evdi build at `-j2` its wake-ups were
/// a quarter of its CPU time, 36 of 141 ms.)
final class AccessStream: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    init(shared: TraceShared, onAccess: @escaping @Sendable (FileAccess) -> Void) {
        let thread = Thread { [self] in
            var delivered = 0
            while true {
                // Read the flag first: what was recorded before it was set
                // is taken below, then once more after.
                let last = stopped.load(ordering: .acquiring)
                let batch = shared.accesses(from: delivered)
                for access in batch { onAccess(access) }
                delivered += batch.count
                if last { break }
                // `finish` cuts the wait short: the trace's end waits for
                // the last lines, not for the rest of a pause.
                _ = wake.wait(timeout: .now() + .milliseconds(10))
            }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Delivers what is left and waits for the thread.
    func finish() {
        stopped.store(true, ordering: .releasing)
        wake.signal()
        done.wait()
    }
}
