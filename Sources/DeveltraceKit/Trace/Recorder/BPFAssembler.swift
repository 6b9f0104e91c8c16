/// Writes eBPF programs: instructions, and jumps to named labels resolved
/// when the program is finished. Only what the recorder's programs use.
struct BPFAssembler {
    /// One `struct bpf_insn` (8 bytes; a 64-bit immediate load is two).
    struct Instruction: Equatable {
        var code: UInt8
        var destination: UInt8
        var source: UInt8
        var offset: Int16
        var immediate: Int32

        var bytes: [UInt8] {
            [code, destination & 0x0f | (source & 0x0f) << 4] + withUnsafeBytes(of: offset.littleEndian) { Array($0) }
                + withUnsafeBytes(of: immediate.littleEndian) { Array($0) }
        }
    }

    /// r0 (results), r1–r5 (arguments, lost at a call), r6–r9 (kept), r10
    /// (the frame pointer, read-only).
    typealias Register = UInt8

    enum Size: UInt8 {
        case word = 0x00, half = 0x08, byte = 0x10, double = 0x18
    }

    enum Jump: UInt8 {
        case equal = 0x10, greater = 0x20, notEqual = 0x50, signedGreater = 0x60, signedLess = 0xc0
    }

    private(set) var instructions: [Instruction] = []
    private var labels: [String: Int] = [:]
    /// (instruction index, label) of jumps still to resolve.
    private var fixups: [(Int, String)] = []
    /// (instruction index, label) of function addresses still to resolve.
    private var functionFixups: [(Int, String)] = []
    /// Subprograms after the main program: name and first instruction.
    private var subprograms: [(name: String, start: Int)] = []

    // Opcode classes and modes (<linux/bpf.h>, <linux/bpf_common.h>).
    private static let ldx: UInt8 = 0x01, st: UInt8 = 0x02, stx: UInt8 = 0x03, jmp: UInt8 = 0x05, alu64: UInt8 = 0x07
    private static let jmp32: UInt8 = 0x06
    private static let alu32: UInt8 = 0x04, memory: UInt8 = 0x60, atomic: UInt8 = 0xc0, immediate64: UInt8 = 0x18
    private static let sourceRegister: UInt8 = 0x08
    private static let add: UInt8 = 0x00, and: UInt8 = 0x50, move: UInt8 = 0xb0, rightShift: UInt8 = 0x70
    /// `BPF_PSEUDO_MAP_FD`: a 64-bit load whose immediate is a map's descriptor.
    private static let pseudoMapDescriptor: UInt8 = 1
    /// `BPF_PSEUDO_FUNC`: a 64-bit load whose immediate is a subprogram's
    /// place, relative to the instruction after the load.
    private static let pseudoFunction: UInt8 = 4

    private mutating func emit(_ code: UInt8, _ dst: Register = 0, _ src: Register = 0, _ off: Int16 = 0, _ imm: Int32 = 0) {
        instructions.append(Instruction(code: code, destination: dst, source: src, offset: off, immediate: imm))
    }

    mutating func label(_ name: String) {
        precondition(labels[name] == nil, "label \(name) twice")
        labels[name] = instructions.count
    }

    /// dst = imm (64 bits, sign-extended).
    mutating func move(_ dst: Register, _ imm: Int32) { emit(Self.alu64 | Self.move, dst, 0, 0, imm) }
    /// dst = src.
    mutating func move(_ dst: Register, register src: Register) { emit(Self.alu64 | Self.move | Self.sourceRegister, dst, src) }
    /// dst = src's low 32 bits (the upper ones cleared).
    mutating func move32(_ dst: Register, register src: Register) { emit(Self.alu32 | Self.move | Self.sourceRegister, dst, src) }
    mutating func add(_ dst: Register, _ imm: Int32) { emit(Self.alu64 | Self.add, dst, 0, 0, imm) }
    /// dst = dst + src.
    mutating func add(_ dst: Register, register src: Register) { emit(Self.alu64 | Self.add | Self.sourceRegister, dst, src) }
    /// dst = dst >> imm (logical, 64 bits).
    mutating func shiftRight(_ dst: Register, _ imm: Int32) { emit(Self.alu64 | Self.rightShift, dst, 0, 0, imm) }
    /// dst = dst & imm, on the low 32 bits (the upper ones cleared).
    mutating func and32(_ dst: Register, _ imm: UInt32) { emit(Self.alu32 | Self.and, dst, 0, 0, Int32(bitPattern: imm)) }
    /// dst = *(size *)(src + off).
    mutating func load(_ size: Size, _ dst: Register, _ src: Register, _ off: Int16) {
        emit(Self.ldx | Self.memory | size.rawValue, dst, src, off)
    }
    /// *(size *)(dst + off) = src.
    mutating func store(_ size: Size, _ dst: Register, _ off: Int16, register src: Register) {
        emit(Self.stx | Self.memory | size.rawValue, dst, src, off)
    }
    /// *(size *)(dst + off) = imm.
    mutating func store(_ size: Size, _ dst: Register, _ off: Int16, _ imm: Int32) {
        emit(Self.st | Self.memory | size.rawValue, dst, 0, off, imm)
    }
    /// *(u64 *)(dst + off) += src, atomically.
    mutating func atomicAdd(_ dst: Register, _ off: Int16, register src: Register) {
        emit(Self.stx | Self.atomic | Size.double.rawValue, dst, src, off, 0)
    }
    /// dst = the map with descriptor `map` (two instructions).
    mutating func loadMap(_ dst: Register, _ map: Int32) {
        emit(Self.immediate64, dst, Self.pseudoMapDescriptor, 0, map)
        emit(0, 0, 0, 0, 0)
    }
    /// dst = the subprogram at `label` (a callback for `bpf_loop`; two
    /// instructions). A subprogram follows the main program's last `exit`.
    mutating func loadFunction(_ dst: Register, _ label: String) {
        functionFixups.append((instructions.count, label))
        emit(Self.immediate64, dst, Self.pseudoFunction, 0, 0)
        emit(0, 0, 0, 0, 0)
    }
    mutating func call(_ helper: Int32) { emit(Self.jmp | 0x80, 0, 0, 0, helper) }
    /// Calls a map helper with r1 = `map` and r2 = r10 + `key` (the key on
    /// the stack); further arguments (r3, r4) as set before.
    mutating func callMap(_ helper: Int32, _ map: Int32, key: Int16) {
        loadMap(1, map)
        move(2, register: 10)
        add(2, Int32(key))
        call(helper)
    }
    mutating func exit() { emit(Self.jmp | 0x90) }
    /// Goes to `label` when `dst <op> imm` (64-bit compare).
    mutating func jump(_ op: Jump, _ dst: Register, _ imm: Int32, to label: String) {
        fixups.append((instructions.count, label))
        emit(Self.jmp | op.rawValue, dst, 0, 0, imm)
    }
    /// Goes to `label` when `dst <op> imm` on the low 32 bits (`BPF_JMP32`).
    mutating func jump32(_ op: Jump, _ dst: Register, _ imm: Int32, to label: String) {
        fixups.append((instructions.count, label))
        emit(Self.jmp32 | op.rawValue, dst, 0, 0, imm)
    }
    /// Goes to `label` when `dst <op> src` on the low 32 bits.
    mutating func jump32(_ op: Jump, _ dst: Register, register src: Register, to label: String) {
        fixups.append((instructions.count, label))
        emit(Self.jmp32 | op.rawValue | Self.sourceRegister, dst, src)
    }
    mutating func jump(to label: String) {
        fixups.append((instructions.count, label))
        emit(Self.jmp)
    }

    /// Starts a subprogram (a `bpf_loop` callback) named `name`, also a
    /// label; it runs to its own `exit`.
    mutating func function(_ name: String) {
        label(name)
        subprograms.append((name, instructions.count))
    }

    /// The program, its main function named `name`.
    func program(named name: String) -> BPFProgram {
        BPFProgram(
            instructions: assembled(), functions: [name] + subprograms.map(\.name), starts: [0] + subprograms.map(\.start))
    }

    /// The program's bytes, jumps resolved.
    func assembled() -> [UInt8] {
        var resolved = instructions
        for (index, name) in fixups {
            guard let target = labels[name] else { preconditionFailure("no label \(name)") }
            resolved[index].offset = Int16(target - index - 1)
        }
        for (index, name) in functionFixups {
            guard let target = labels[name] else { preconditionFailure("no label \(name)") }
            resolved[index].immediate = Int32(target - index - 1)
        }
        return resolved.flatMap(\.bytes)
    }
}

/// An assembled eBPF program and its functions (the main one first, at
/// instruction 0), for `BPFTypeInfo`.
struct BPFProgram: Equatable {
    var instructions: [UInt8]
    var functions: [String]
    /// Each function's first instruction.
    var starts: [Int]
}
