import Foundation
import Synchronization

/// The candidate's staging, run on a thread of its own; `value()` waits
/// for it (and rethrows its error).
final class StagingTask: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Classifier, any Error>?
    private let lock = NSLock()

    init(_ work: @escaping @Sendable () throws -> Classifier) {
        let thread = Thread { [self] in
            let outcome = Result { try work() }
            lock.lock()
            result = outcome
            lock.unlock()
            done.signal()
        }
        thread.start()
    }

    func value() throws -> Classifier {
        lock.lock()
        if let result {
            lock.unlock()
            return try result.get()
        }
        lock.unlock()
        done.wait()
        done.signal()
        lock.lock()
        defer { lock.unlock() }
        return try result!.get()
    }
}
