import Foundation

/// The machine `check --arch` builds samples for, when it is not this one:
/// the kernel's `ARCH`, the cross compiler's prefix (`CROSS_COMPILE`) and
/// DKMS's name for the machine (`dkms build -a`, which `BUILD_EXCLUSIVE_ARCH`
/// is matched against).
public struct TargetArchitecture: Sendable, Hashable, Codable {
    /// The kernel's name for it (`arch/NAME`): `arm64`.
    public var kernel: String
    /// DKMS's (`uname -m`'s) name: `aarch64`.
    public var machine: String
    /// The cross compiler's prefix: `aarch64-linux-gnu-`.
    public var crossCompile: String

    /// Kernel architecture → (machine, Debian's cross prefix).
    static let known: [String: (machine: String, prefix: String)] = [
        "arm64": ("aarch64", "aarch64-linux-gnu-"),
        "arm": ("armv7l", "arm-linux-gnueabihf-"),
        "x86": ("x86_64", "x86_64-linux-gnu-"),
        "riscv": ("riscv64", "riscv64-linux-gnu-"),
        "powerpc": ("ppc64le", "powerpc64le-linux-gnu-"),
        "s390": ("s390x", "s390x-linux-gnu-"),
        "mips": ("mips64el", "mips64el-linux-gnuabi64-"),
        "loongarch": ("loongarch64", "loongarch64-linux-gnu-"),
    ]

    /// The architecture the user named (`arm64`, or a machine name such as
    /// `aarch64`), with the cross-compiler prefix given or Debian's.
    /// Checked before any build: an unknown name, or a prefix whose `gcc`
    /// is not on `PATH`, is bad input.
    public static func named(_ name: String, crossCompile given: String?, path: String? = nil) throws(InputError)
        -> TargetArchitecture
    {
        let kernel =
            known[name] != nil ? name : known.first { $0.value.machine == name || (name == "x86_64" && $0.key == "x86") }?.key
        guard let kernel, let entry = known[kernel] else {
            throw .badArchitecture(
                name, "not a kernel architecture develtrace knows (\(known.keys.sorted().joined(separator: ", ")))")
        }
        let prefix = given ?? entry.prefix
        let compiler = prefix + "gcc"
        let directories = (path ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        let found =
            compiler.hasPrefix("/")
            ? FileManager.default.isExecutableFile(atPath: compiler)
            : directories.contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(compiler)") }
        guard found else {
            let package = "gcc-\(prefix.dropLast())"
            throw .badArchitecture(
                name, "no cross compiler \(compiler) on PATH (Debian's is in \(package); or name another prefix with --cross-compile)")
        }
        return TargetArchitecture(kernel: kernel, machine: entry.machine, crossCompile: prefix)
    }

    /// What the sample builds' environment gets: kbuild reads `ARCH` and
    /// `CROSS_COMPILE` from it (DKMS passes its environment to make).
    var environment: [String] { ["ARCH=\(kernel)", "CROSS_COMPILE=\(crossCompile)"] }
}
