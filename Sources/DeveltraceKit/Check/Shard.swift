/// One part of a run split across machines (`--shard K/N`): the samples,
/// sorted by name, are dealt round-robin, so every shard of the same
/// command line gets a fixed, disjoint share and together they cover all.
public struct Shard: Sendable, Hashable, CustomStringConvertible {
    /// 1-based.
    public var index: Int
    public var count: Int

    /// Parses `K/N` with 1 ≤ K ≤ N.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (1...count).contains(index)
        else { return nil }
        self.index = index
        self.count = count
    }

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Whether the sample at `position` of the sorted sample list is this
    /// shard's.
    public func owns(position: Int) -> Bool { position % count == index - 1 }

    public var description: String { "\(index)/\(count)" }
}
