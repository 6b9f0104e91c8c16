/// The BPF Type Format (BTF) blob the kernel wants beside a program with
/// more than one function (a `bpf_loop` callback): each function a static
/// `FUNC` of a `FUNC_PROTO` returning `int`, nothing else. Pure: the kernel
/// checks it when it loads (`BPF_BTF_LOAD`).
///
/// Layout (`<linux/btf.h>`): a 24-byte header, the types, the strings.
/// Type ids count from 1 (0 is `void`): 1 is `int`, 2 the prototype, and
/// the functions follow in order (`functionTypeID`).
enum BPFTypeInfo {
    static let magic: UInt16 = 0xEB9F
    static let headerSize: UInt32 = 24
    private static let kindInt: UInt32 = 1
    private static let kindFunction: UInt32 = 12
    private static let kindFunctionPrototype: UInt32 = 13

    /// The type id of the `index`th function of `functions`.
    static func functionTypeID(_ index: Int) -> UInt32 { UInt32(3 + index) }

    /// The blob naming `functions` (C identifiers).
    static func blob(functions: [String]) -> [UInt8] {
        var strings: [UInt8] = [0]
        func string(_ text: String) -> UInt32 {
            let offset = UInt32(strings.count)
            strings += Array(text.utf8) + [0]
            return offset
        }
        var types: [UInt32] = []
        // 1: int, 4 bytes, signed, 32 bits.
        types += [string("int"), kindInt << 24, 4, 1 << 24 | 32]
        // 2: int (void), no parameters the kernel checks (static functions).
        types += [0, kindFunctionPrototype << 24, 1]
        for name in functions {
            types += [string(name), kindFunction << 24, 2]
        }
        let typeBytes = types.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
        var header: [UInt8] = []
        header += withUnsafeBytes(of: magic.littleEndian, Array.init)
        header += [1, 0] // version, flags
        for field in [headerSize, 0, UInt32(typeBytes.count), UInt32(typeBytes.count), UInt32(strings.count)] {
            header += withUnsafeBytes(of: field.littleEndian, Array.init)
        }
        return header + typeBytes + strings
    }

    /// `struct bpf_func_info` records: each function's first instruction
    /// and its type id.
    static func functionRecords(_ starts: [Int]) -> [UInt32] {
        starts.enumerated().flatMap { [UInt32($0.element), functionTypeID($0.offset)] }
    }
}
