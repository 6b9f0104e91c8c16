import Foundation
import Synchronization

/// Work run on a thread of its own from the moment it is made; `value()`
/// waits for it (and rethrows its error).
final class BackgroundTask<Value>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Value, any Error>?
    private let lock = NSLock()

    init(_ work: @escaping @Sendable () throws -> Value) {
        let thread = Thread { [self] in
            let outcome = Result { try work() }
            lock.lock()
            result = outcome
            lock.unlock()
            done.signal()
        }
        thread.start()
    }

    func value() throws -> Value {
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

/// The candidate's staging (unpacking, layout, the packages' declarations),
/// run while the samples' `dkms.conf` are read and the reference builds run.
typealias StagingTask = BackgroundTask<Classifier>
