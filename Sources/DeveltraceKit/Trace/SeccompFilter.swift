import CDeveltrace
import CSeccomp
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The seccomp-bpf program that makes the kernel stop a tracee only on
/// system calls that name a path (`SCMP_ACT_TRACE`), built with libseccomp
/// before fork and loaded by the child.
///
/// x86_64 and i386 calls are both decoded (a 32-bit host tool is still
/// traced); anything else (x32) stops with `PathSyscall.foreignABIMarker`.
public struct SeccompFilter: Sendable {
    /// `struct sock_filter` records, 8 bytes each.
    public let program: [UInt8]

    /// Number of BPF instructions.
    public var instructionCount: Int { program.count / 8 }

    public enum BuildError: Error, CustomStringConvertible {
        case libseccomp(String, Int32)

        public var description: String {
            switch self {
            case .libseccomp(let step, let code):
                return "libseccomp failed to \(step) (error \(code)); is libseccomp 2.5 or newer installed?"
            }
        }
    }

    /// The filter for `PathSyscall.table`, built once.
    public static let standard: Result<SeccompFilter, BuildError> = {
        do throws(BuildError) { return .success(try SeccompFilter(table: PathSyscall.table)) } catch { return .failure(error) }
    }()

    init(table: [PathSyscall]) throws(BuildError) {
        guard let context = seccomp_init(0x7fff_0000 /* SCMP_ACT_ALLOW */) else { throw .libseccomp("create a filter", -1) }
        defer { seccomp_release(context) }

        func check(_ rc: Int32, _ step: @autoclosure () -> String) throws(BuildError) {
            if rc < 0 { throw .libseccomp(step(), rc) }
        }
        let x86: UInt32 = 0x4000_0003 // SCMP_ARCH_X86 (AUDIT_ARCH_I386)
        try check(seccomp_arch_add(context, x86), "add the i386 ABI")
        try check(
            seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, traceAction(PathSyscall.foreignABIMarker)),
            "set the action for foreign ABIs")

        for (index, call) in table.enumerated() {
            let action = traceAction(UInt16(index))
            for name in [call.name] + call.aliases {
                let number = seccomp_syscall_resolve_name(name)
                if number == __NR_SCMP_ERROR { continue }
                var conditions: [scmp_arg_cmp] = []
                if call.filterSkipsEmptyPathFlag, let flags = call.atFlagsArgument {
                    // Stop only when (flags & AT_EMPTY_PATH) == 0.
                    conditions.append(
                        scmp_arg_cmp(
                            arg: UInt32(flags), op: SCMP_CMP_MASKED_EQ,
                            datum_a: UInt64(dt_at_empty_path), datum_b: 0))
                }
                if let argument = call.skipWhenNull {
                    conditions.append(scmp_arg_cmp(arg: UInt32(argument), op: SCMP_CMP_NE, datum_a: 0, datum_b: 0))
                }
                let rc = conditions.withUnsafeBufferPointer {
                    seccomp_rule_add_array(context, action, number, UInt32($0.count), $0.baseAddress)
                }
                // A call that one ABI lacks is not an error.
                if rc < 0 && rc != -EDOM && rc != -EINVAL && rc != -EOPNOTSUPP {
                    throw .libseccomp("add a rule for \(name)", rc)
                }
            }
        }

        // libseccomp 2.5 exports only to a file descriptor.
        let memory = dt_memfd("develtrace-seccomp")
        guard memory >= 0 else { throw .libseccomp("create a memfd", -errno) }
        let descriptor = FileDescriptor(rawValue: memory)
        defer { try? descriptor.close() }
        try check(seccomp_export_bpf(context, memory), "export the program")
        var bytes: [UInt8] = []
        do {
            _ = try descriptor.seek(offset: 0, from: FileDescriptor.SeekOrigin.start)
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = try chunk.withUnsafeMutableBytes { try descriptor.read(into: $0) }
                if n == 0 { break }
                bytes.append(contentsOf: chunk[0..<n])
            }
        } catch {
            throw .libseccomp("read the program back", -1)
        }
        self.program = bytes
    }
}

/// `SCMP_ACT_TRACE(data)`, a C macro.
private func traceAction(_ data: UInt16) -> UInt32 {
    0x7ff0_0000 | UInt32(data)
}
