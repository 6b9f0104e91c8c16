/// What a module's `.BTF` section describes, independent of the order its
/// types and strings were written in.
///
/// Two builds of one module from the same inputs do not give the same
/// `.BTF` bytes: pahole before 1.26 encodes with several threads (`-j`,
/// which kbuild's `pahole-flags.sh` passes from pahole 1.22 on) and numbers
/// types, and lays out strings, in the order the threads finish. Seen on
/// Debian 12's pahole 1.24 with a module built twice against the same tree:
/// the bytes differed, the content did not. So `.BTF` is compared by its
/// shape: the section's sizes, the multiset of its strings, and the multiset
/// of its types with every size, offset, count and value they carry but
/// without type ids and string offsets (which are what the order changes).
/// A module built without `vmlinux` (no `.BTF`), against another `vmlinux`
/// (other types deduplicated away) or with other type layouts still differs.
struct BTFShape: Hashable {
    var typeLength: UInt32
    var stringLength: UInt32
    var strings: [[UInt8]]
    var types: [[UInt32]]

    /// Kinds whose third word is a size, not a type id: INT, STRUCT, UNION,
    /// ENUM, DATASEC, FLOAT, ENUM64.
    private static let sizedKinds: Set<UInt32> = [1, 4, 5, 6, 15, 16, 19]

    /// Parses a raw `.BTF` section; nil when it is not one this understands
    /// (then its bytes are compared as they are).
    init?(_ section: [UInt8]) {
        func word(_ offset: Int) -> UInt32? {
            guard offset >= 0, offset + 4 <= section.count else { return nil }
            return section.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
        }
        guard section.count >= 24, section[0] == 0x9f, section[1] == 0xeb, section[2] == 1,
            let headerLength = word(4), let typeOffset = word(8), let typeLength = word(12),
            let stringOffset = word(16), let stringLength = word(20)
        else { return nil }
        let types = Int(headerLength) + Int(typeOffset)
        let strings = Int(headerLength) + Int(stringOffset)
        guard types + Int(typeLength) <= section.count, strings + Int(stringLength) <= section.count else { return nil }
        self.typeLength = typeLength
        self.stringLength = stringLength
        self.strings = section[strings..<strings + Int(stringLength)].split(separator: 0, omittingEmptySubsequences: true)
            .map(Array.init).sorted { $0.lexicographicallyPrecedes($1) }

        var shapes: [[UInt32]] = []
        var offset = types
        let end = types + Int(typeLength)
        while offset < end {
            guard let info = word(offset + 4), let sizeOrType = word(offset + 8) else { return nil }
            let kind = (info >> 24) & 0x1f
            let vlen = Int(info & 0xffff)
            var shape: [UInt32] = [kind, UInt32(vlen), info >> 31]
            offset += 12
            // Per kind (linux/btf.h): what follows the common part, and which
            // of its words are not type ids or string offsets.
            if Self.sizedKinds.contains(kind) { shape.append(sizeOrType) }
            var kept: [Int] = []
            var stride = 0
            var count = 0
            switch kind {
            case 1, 14, 17: (stride, count, kept) = (4, 1, [0]) // INT encoding, VAR linkage, DECL_TAG component
            case 3: (stride, count, kept) = (12, 1, [8]) // ARRAY: type, index type, nelems
            case 4, 5: (stride, count, kept) = (12, vlen, [8]) // members: name, type, offset
            case 6: (stride, count, kept) = (8, vlen, [4]) // ENUM: name, value
            case 13: (stride, count, kept) = (8, vlen, []) // FUNC_PROTO params: name, type
            case 15: (stride, count, kept) = (12, vlen, [4, 8]) // DATASEC: type, offset, size
            case 19: (stride, count, kept) = (12, vlen, [4, 8]) // ENUM64: name, low, high
            case 0, 2, 7, 8, 9, 10, 11, 12, 16, 18: break
            default: return nil
            }
            for index in 0..<count {
                for field in kept {
                    guard let value = word(offset + index * stride + field) else { return nil }
                    shape.append(value)
                }
            }
            offset += stride * count
            shapes.append(shape)
        }
        guard offset == end else { return nil }
        self.types = shapes.sorted { $0.lexicographicallyPrecedes($1) }
    }
}
