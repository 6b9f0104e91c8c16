import Synchronization

/// Answers computed once per key and kept, for threads that share them.
/// The computation runs outside the lock: two threads asking at once may
/// both compute, and the answers must then be the same.
final class Memo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let table = Mutex<[Key: Value]>([:])

    init() {}

    /// The answer kept for `key`, or `compute()`'s, kept.
    func value(for key: Key, _ compute: () -> Value) -> Value {
        if let known = table.withLock({ $0[key] }) { return known }
        let value = compute()
        table.withLock { $0[key] = value }
        return value
    }
}
