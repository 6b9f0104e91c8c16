/// Where the fields of the running kernel's `struct task_struct` that the
/// recorder's process programs read are (`RecorderPrograms.fork`, `exit`),
/// from the kernel's own type information: `/sys/kernel/btf/vmlinux`
/// (`CONFIG_DEBUG_INFO_BTF`, Debian's and Fedora's kernels since 5.x).
/// Offsets differ between kernel versions and configurations; nothing is
/// assumed.
struct KernelTypes: Equatable {
    /// Byte offsets in `struct task_struct`.
    var taskPid: Int
    var taskThreadGroup: Int
    var taskExitCode: Int

    /// The path of the running kernel's types.
    static let vmlinux = "/sys/kernel/btf/vmlinux"

    enum ParseError: Error, Equatable, CustomStringConvertible {
        case notBTF
        case truncated
        case missing(String)

        var description: String {
            switch self {
            case .notBTF: "not BPF type information (BTF)"
            case .truncated: "the BPF type information is cut short"
            case .missing(let what): "the kernel's types have no \(what)"
            }
        }
    }

    /// The offsets in `blob`, a BTF blob like the kernel's. Pure.
    init(btf blob: [UInt8]) throws(ParseError) {
        let types = try BTFTypes(blob)
        guard let task = types.structure(named: "task_struct") else { throw .missing("struct task_struct") }
        func offset(_ member: String) throws(ParseError) -> Int {
            guard let bits = types.memberOffset(in: task, named: member), bits % 8 == 0 else {
                throw .missing("task_struct.\(member)")
            }
            return bits / 8
        }
        taskPid = try offset("pid")
        taskThreadGroup = try offset("tgid")
        taskExitCode = try offset("exit_code")
    }

    init(taskPid: Int, taskThreadGroup: Int, taskExitCode: Int) {
        self.taskPid = taskPid
        self.taskThreadGroup = taskThreadGroup
        self.taskExitCode = taskExitCode
    }

    /// The running kernel's, read once per process; nil where it has none.
    static let running: KernelTypes? = {
        guard let blob = FileSystem.contents(of: RawPath(vmlinux)) else { return nil }
        return try? KernelTypes(btf: blob)
    }()
}

/// The types of a BTF blob (`<linux/btf.h>`), enough to find a structure's
/// members: each type's kind, name and where its trailing records start.
/// Pure; reads little-endian blobs (x86_64's and arm64's).
struct BTFTypes {
    private let bytes: [UInt8]
    private let stringsStart: Int
    private let stringsEnd: Int
    /// By type id (0, `void`, has no entry): the offset of its 12-byte
    /// common part.
    private var starts: [Int] = [0]

    private static let kindStruct: UInt32 = 4
    private static let kindUnion: UInt32 = 5

    init(_ bytes: [UInt8]) throws(KernelTypes.ParseError) {
        self.bytes = bytes
        guard bytes.count >= 24, bytes[0] == 0x9F, bytes[1] == 0xEB else { throw .notBTF }
        func word(_ at: Int) -> Int {
            Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        }
        let headerLength = word(4)
        let typesStart = headerLength + word(8)
        let typesEnd = typesStart + word(12)
        stringsStart = headerLength + word(16)
        stringsEnd = stringsStart + word(20)
        guard headerLength >= 24, typesEnd <= bytes.count, stringsEnd <= bytes.count else { throw .truncated }
        var at = typesStart
        while at < typesEnd {
            guard at + 12 <= typesEnd else { throw .truncated }
            starts.append(at)
            let info = UInt32(word(at + 4))
            let count = Int(info & 0xFFFF)
            let trailing: Int
            switch info >> 24 & 0x1F {
            case 1, 14, 17: trailing = 4 // int, var, decl tag
            case 3: trailing = 12 // array
            case 4, 5, 15, 19: trailing = 12 * count // struct, union, datasec, enum64
            case 6, 13: trailing = 8 * count // enum, function prototype
            case 2, 7, 8, 9, 10, 11, 12, 16, 18: trailing = 0
            default: throw .notBTF
            }
            at += 12 + trailing
        }
        guard at == typesEnd else { throw .truncated }
    }

    private func word(_ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    private func name(at offset: UInt32) -> ArraySlice<UInt8> {
        let start = stringsStart + Int(offset)
        guard start < stringsEnd else { return [] }
        let end = bytes[start..<stringsEnd].firstIndex(of: 0) ?? stringsEnd
        return bytes[start..<end]
    }

    private func kind(_ id: Int) -> UInt32 { word(starts[id] + 4) >> 24 & 0x1F }

    /// The id of the structure `name` that has members (not a declaration).
    func structure(named name: String) -> Int? {
        let wanted = Array(name.utf8)
        for id in 1..<starts.count where kind(id) == Self.kindStruct {
            if word(starts[id] + 4) & 0xFFFF > 0 && self.name(at: word(starts[id])).elementsEqual(wanted) { return id }
        }
        return nil
    }

    /// The bit offset of member `name` of structure or union `id`, looked
    /// for in its anonymous structures and unions too.
    func memberOffset(in id: Int, named name: String, depth: Int = 0) -> Int? {
        guard id > 0, id < starts.count, depth < 8, kind(id) == Self.kindStruct || kind(id) == Self.kindUnion else { return nil }
        let info = word(starts[id] + 4)
        let bitfields = info >> 31 == 1
        let wanted = Array(name.utf8)
        for member in 0..<Int(info & 0xFFFF) {
            let at = starts[id] + 12 + 12 * member
            let memberName = self.name(at: word(at))
            let raw = Int(word(at + 8))
            let offset = bitfields ? raw & 0xFF_FFFF : raw
            if memberName.elementsEqual(wanted) { return offset }
            if memberName.isEmpty, let inner = memberOffset(in: resolved(Int(word(at + 4))), named: name, depth: depth + 1) {
                return offset + inner
            }
        }
        return nil
    }

    /// `id` past typedefs and qualifiers.
    private func resolved(_ id: Int) -> Int {
        var id = id
        for _ in 0..<16 {
            guard id > 0, id < starts.count, [8, 9, 10, 11, 18].contains(kind(id)) else { return id }
            id = Int(word(starts[id] + 8))
        }
        return id
    }
}
