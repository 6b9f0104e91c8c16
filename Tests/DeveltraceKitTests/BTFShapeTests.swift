import Testing

@testable import DeveltraceKit

extension Unit {
    /// `.BTF` sections written in another order describe the same thing; other
    /// sizes or members do not.
    @Suite struct BTFShapeTests {
        /// A `.BTF` section: header, then the types (each `[name, info, size or
        /// type]` plus its kind's words), then the strings.
        static func section(types: [[UInt32]], strings: [String]) -> [UInt8] {
            var typeBytes: [UInt8] = []
            for word in types.joined() { withUnsafeBytes(of: word.littleEndian) { typeBytes += $0 } }
            var stringBytes: [UInt8] = [0]
            for string in strings { stringBytes += Array(string.utf8) + [0] }
            var bytes: [UInt8] = [0x9f, 0xeb, 1, 0]
            for word in [UInt32(24), 0, UInt32(typeBytes.count), UInt32(typeBytes.count), UInt32(stringBytes.count)] {
                withUnsafeBytes(of: word.littleEndian) { bytes += $0 }
            }
            return bytes + typeBytes + stringBytes
        }

        static func info(kind: UInt32, vlen: UInt32) -> UInt32 { kind << 24 | vlen }

        // struct point { int x; int y; } (size 8) and int (size 4, 32 bits),
        // the strings "point", "x", "y", "int" at offsets 1, 7, 9, 11.
        static let int: [UInt32] = [11, info(kind: 1, vlen: 0), 4, 32]
        static func point(size: UInt32 = 8, intId: UInt32) -> [UInt32] {
            [1, info(kind: 4, vlen: 2), size, 7, intId, 0, 9, intId, 32]
        }

        @Test("the same types and strings in another order have one shape")
        func reordered() throws {
            let first = Self.section(types: [Self.int, Self.point(intId: 1)], strings: ["point", "x", "y", "int"])
            // int is type 2 now, and "int" comes first in the string table.
            let second = Self.section(
                types: [[5, Self.info(kind: 4, vlen: 2), 8, 11, 2, 0, 13, 2, 32], [1, Self.info(kind: 1, vlen: 0), 4, 32]],
                strings: ["int", "point", "x", "y"])
            #expect(first != second)
            let a = try #require(BTFShape(first))
            let b = try #require(BTFShape(second))
            #expect(a == b)
            #expect(ModuleComparison.sameContent(".BTF", first, second))
            #expect(!ModuleComparison.sameContent(".data", first, second), "only .BTF is compared by shape")
        }

        @Test("another struct size, member offset or member count is another shape")
        func changed() throws {
            let strings = ["point", "x", "y", "int"]
            let base = try #require(BTFShape(Self.section(types: [Self.int, Self.point(intId: 1)], strings: strings)))
            let bigger = try #require(BTFShape(Self.section(types: [Self.int, Self.point(size: 16, intId: 1)], strings: strings)))
            #expect(base != bigger)
            var moved = Self.point(intId: 1)
            moved[8] = 64
            #expect(base != BTFShape(Self.section(types: [Self.int, moved], strings: strings)))
            let oneMember: [UInt32] = [1, Self.info(kind: 4, vlen: 1), 8, 7, 1, 0]
            #expect(base != BTFShape(Self.section(types: [Self.int, oneMember], strings: strings)))
        }

        @Test("what is not a BTF section is compared by its bytes")
        func notBTF() {
            #expect(BTFShape([]) == nil)
            #expect(BTFShape(Array("not btf at all, not btf at all".utf8)) == nil)
            var truncated = Self.section(types: [Self.int, Self.point(intId: 1)], strings: ["point"])
            truncated.removeLast(20)
            #expect(BTFShape(truncated) == nil)
            #expect(!ModuleComparison.sameContent(".BTF", [1, 2, 3], [1, 2, 4]))
        }
    }
}
