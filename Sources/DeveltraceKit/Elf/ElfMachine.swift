import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The machine an ELF file was built for (`e_machine`), read from its
/// header: what decides whether a host tool a package ships can run on the
/// machine that builds modules, whatever `execve` says (where qemu-user is
/// registered with binfmt_misc, a foreign `fixdep` simply runs).
public struct ElfMachine: Hashable, Sendable, CustomStringConvertible {
    /// `e_machine`.
    public let code: UInt16

    public init(code: UInt16) { self.code = code }

    public static let i386 = ElfMachine(code: 3)
    public static let arm = ElfMachine(code: 40)
    public static let x86_64 = ElfMachine(code: 62)
    public static let aarch64 = ElfMachine(code: 183)

    /// The names `readelf -h` gives the machines kernels are built for.
    static let names: [UInt16: String] = [
        2: "SPARC", 3: "Intel 80386", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "IBM S/390", 40: "ARM", 43: "SPARC v9",
        62: "x86-64", 183: "AArch64", 243: "RISC-V", 258: "LoongArch",
    ]

    public var description: String { Self.names[code] ?? "ELF machine \(code)" }

    /// The machine of an ELF header (its first 20 bytes at least), or nil
    /// for anything that is not ELF (a script).
    public static func of(header bytes: some Collection<UInt8>) -> ElfMachine? {
        let header = Array(bytes.prefix(20))
        guard header.count == 20, header[0..<4] == [0x7F, 0x45, 0x4C, 0x46] else { return nil }
        let (low, high) = (UInt16(header[18]), UInt16(header[19]))
        switch header[5] { // EI_DATA
        case 1: return ElfMachine(code: low | high << 8)
        case 2: return ElfMachine(code: high | low << 8)
        default: return nil
        }
    }

    /// The machine of the ELF file at `path`, or nil (not ELF, unreadable).
    public static func of(file path: RawPath) -> ElfMachine? {
        guard let fd = try? FileDescriptor.open(path.filePath, .readOnly, options: [.closeOnExec]) else { return nil }
        defer { try? fd.close() }
        var header = [UInt8](repeating: 0, count: 20)
        guard let count = try? header.withUnsafeMutableBytes({ try fd.read(into: $0) }), count == 20 else { return nil }
        return of(header: header)
    }

    /// The machines this machine's kernel runs natively: its own and its
    /// 32-bit companion (an i386 host tool runs on x86-64).
    public static let native: Set<ElfMachine> = {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return runnable(onMachine: machine)
    }()

    /// The ELF machines a kernel of `uname -m` machine runs natively.
    static func runnable(onMachine machine: String) -> Set<ElfMachine> {
        switch machine {
        case "x86_64": return [.x86_64, .i386]
        case "i386", "i486", "i586", "i686": return [.i386]
        case "aarch64", "arm64": return [.aarch64, .arm]
        case let arm where arm.hasPrefix("arm"): return [.arm]
        case "ppc64le", "ppc64": return [ElfMachine(code: 21)]
        case "s390x": return [ElfMachine(code: 22)]
        case "riscv64": return [ElfMachine(code: 243)]
        case "loongarch64": return [ElfMachine(code: 258)]
        default: return []
        }
    }
}
