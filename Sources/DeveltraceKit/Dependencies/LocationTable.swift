/// A set of byte strings, each given a number in the order first added:
/// their bytes end to end in one array, an open-addressed table of numbers
/// over them. For the host's packaged paths (`FileOwners`), some 140,000 of
/// them, without an object or a `Hasher` per path.
struct LocationTable: Sendable {
    /// Every entry's bytes, end to end.
    private var text: [UInt8] = []
    /// Entry → where its bytes end in `text` (they start where the one
    /// before ends).
    private var ends: [Int32] = []
    private var hashes: [UInt64] = []
    /// Slot → entry, or -1; a power of two long, at most half full.
    private var slots: [Int32] = Array(repeating: -1, count: 16)

    /// The number of entries.
    var count: Int { ends.count }

    /// The bytes of `entry`.
    func bytes(of entry: Int32) -> [UInt8] {
        Array(text[range(of: Int(entry))])
    }

    private func range(of entry: Int) -> Range<Int> {
        (entry == 0 ? 0 : Int(ends[entry - 1]))..<Int(ends[entry])
    }

    /// Room for `count` entries without growing.
    mutating func reserve(_ count: Int) {
        ends.reserveCapacity(count)
        hashes.reserveCapacity(count)
        var size = slots.count
        while size < 2 * count { size *= 2 }
        if size > slots.count { rehash(size) }
    }

    /// The entry of `bytes`, nil if none.
    func find(_ bytes: [UInt8]) -> Int32? { find(bytes[...]) }

    /// The entry of `bytes`, nil if none.
    func find(_ bytes: ArraySlice<UInt8>) -> Int32? {
        let hash = Self.hash(bytes)
        let place = slot(of: bytes, hash: hash)
        return slots[place] < 0 ? nil : slots[place]
    }

    /// The entry of `bytes`, added as entry `count` if new.
    mutating func insert(_ bytes: [UInt8]) -> Int32 { insert(bytes[...]) }

    /// The entry of `bytes`, added as entry `count` if new.
    mutating func insert(_ bytes: ArraySlice<UInt8>) -> Int32 {
        if 2 * (ends.count + 1) > slots.count { rehash(2 * slots.count) }
        let hash = Self.hash(bytes)
        let place = slot(of: bytes, hash: hash)
        if slots[place] >= 0 { return slots[place] }
        let entry = Int32(ends.count)
        text.append(contentsOf: bytes)
        ends.append(Int32(text.count))
        hashes.append(hash)
        slots[place] = entry
        return entry
    }

    /// The slot holding `bytes`, or the empty slot where it would go.
    private func slot(of bytes: ArraySlice<UInt8>, hash: UInt64) -> Int {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = slots[slot]
            if entry < 0 { return slot }
            if hashes[Int(entry)] == hash, text[range(of: Int(entry))].elementsEqual(bytes) { return slot }
            slot = (slot + 1) & mask
        }
    }

    private mutating func rehash(_ size: Int) {
        slots = Array(repeating: -1, count: size)
        let mask = size - 1
        for (entry, hash) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(entry)
        }
    }

    /// FNV-1a over eight bytes at a time (the last word zero-padded, the
    /// length mixed in), then mixed so that the low bits the table uses
    /// depend on every byte. Pure.
    static func hash(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.withUnsafeBytes { raw in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(raw.count)
            var offset = 0
            while offset + 8 <= raw.count {
                hash = (hash ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0x100_0000_01b3
                hash ^= hash >> 29
                offset += 8
            }
            var last: UInt64 = 0
            var shift: UInt64 = 0
            while offset < raw.count {
                last |= UInt64(raw[offset]) << shift
                shift += 8
                offset += 1
            }
            hash = (hash ^ last) &* 0x100_0000_01b3
            hash ^= hash >> 33
            hash = hash &* 0xff51_afd7_ed55_8ccd
            hash ^= hash >> 33
            return hash
        }
    }
}
