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
/// The listening variant (`listening`) sends the calls whose result the
/// tracer can predict (`PathSyscall.lookup`: reads, `stat`s, probes) to a
/// seccomp listener instead (`SCMP_ACT_NOTIFY`); an `open` that may create,
/// write or truncate still stops for ptrace. Everything else is the same.
///
/// x86_64 and i386 calls are both decoded (a 32-bit host tool is still
/// traced). Refused with an errno, never let through: the calls of
/// `RefusedSyscall.table`, any other ABI (x32) and any number above the
/// highest libseccomp can name for the ABI (calls newer than the filter
/// library could reach files unseen): ENOSYS.
public struct SeccompFilter: Sendable {
    /// `struct sock_filter` records, 8 bytes each.
    public let program: [UInt8]

    /// Table indexes of the calls sent to the listener, by
    /// `notificationKey(arch:nr:)`; empty in the ptrace-only filter.
    public let notified: [UInt64: Int]

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

    /// The filter for `PathSyscall.table`, built once: every path call stops
    /// for ptrace.
    public static let standard: Result<SeccompFilter, BuildError> = {
        do throws(BuildError) { return .success(try SeccompFilter(table: PathSyscall.table)) } catch { return .failure(error) }
    }()

    /// No path call watched, only the sandbox's refusals: for a run
    /// that is not traced (`TraceRequest.traced`).
    public static let untraced: Result<SeccompFilter, BuildError> = {
        do throws(BuildError) { return .success(try SeccompFilter(table: [])) } catch { return .failure(error) }
    }()

    /// The same with predictable calls sent to a listener.
    public static let listening: Result<SeccompFilter, BuildError> = {
        do throws(BuildError) { return .success(try SeccompFilter(table: PathSyscall.table, notifying: true)) } catch {
            return .failure(error)
        }
    }()

    /// The listening filter that lets the calls of `RecordedCall.table`
    /// through untouched, for a trace whose in-kernel recorder takes them.
    public static let recording: Result<SeccompFilter, BuildError> = {
        do throws(BuildError) {
            return .success(try SeccompFilter(table: PathSyscall.table, notifying: true, recorded: RecordedCall.table))
        } catch {
            return .failure(error)
        }
    }()

    /// The calls of `RecordedCall.table` let through untouched for the
    /// in-kernel recorder, every other path call stopped for ptrace: for a
    /// kernel with the recorder but no usable listener (Linux 5.17–6.5 as
    /// root: Debian 12's own kernel).
    public static let recordingWithPtrace: Result<SeccompFilter, BuildError> = {
        do throws(BuildError) { return .success(try SeccompFilter(table: PathSyscall.table, recorded: RecordedCall.table)) } catch {
            return .failure(error)
        }
    }()

    /// The recording filter with no ptrace stop at all: every path call the
    /// recorder does not take goes to the listener, for a trace whose
    /// recorder follows the sandbox's processes (`SyscallRecorder.follows`).
    public static let following: Result<SeccompFilter, BuildError> = {
        do throws(BuildError) {
            return .success(
                try SeccompFilter(table: PathSyscall.table, notifying: true, recorded: RecordedCall.followingTable, withoutPtrace: true))
        } catch {
            return .failure(error)
        }
    }()

    /// The key of a notified call in `notified`.
    static func notificationKey(arch: UInt32, nr: Int32) -> UInt64 {
        UInt64(arch) << 32 | UInt64(UInt32(bitPattern: nr))
    }

    /// `open` flags that may change a file: such an open stops for ptrace.
    static let changingOpenFlags: [UInt64] = [O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, dt_o_tmpfile_bit].map {
        UInt64($0)
    }

    init(table: [PathSyscall], notifying: Bool = false, recorded: [RecordedCall] = [], withoutPtrace: Bool = false) throws(BuildError) {
        guard let context = seccomp_init(dt_seccomp_ret_allow /* SCMP_ACT_ALLOW */) else { throw .libseccomp("create a filter", -1) }
        defer { seccomp_release(context) }

        func check(_ rc: Int32, _ step: @autoclosure () -> String) throws(BuildError) {
            if rc < 0 { throw .libseccomp(step(), rc) }
        }
        let x86 = dt_audit_arch_i386 // SCMP_ARCH_X86
        try check(seccomp_arch_add(context, x86), "add the i386 ABI")
        try check(seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, errnoAction(ENOSYS)), "set the action for foreign ABIs")
        for refusal in RefusedSyscall.table {
            let number = seccomp_syscall_resolve_name(refusal.name)
            if number == __NR_SCMP_ERROR { continue }
            // One rule per flag bit (the rules of a call are alternatives).
            let conditionSets: [[scmp_arg_cmp]] =
                refusal.flags.map { flags in
                    flags.bits.map { [scmp_arg_cmp(arg: UInt32(flags.argument), op: SCMP_CMP_MASKED_EQ, datum_a: $0, datum_b: $0)] }
                } ?? [[]]
            for conditions in conditionSets {
                let rc = conditions.withUnsafeBufferPointer {
                    seccomp_rule_add_array(context, errnoAction(refusal.errno), number, UInt32($0.count), $0.baseAddress)
                }
                if rc < 0 && rc != -EDOM && rc != -EINVAL && rc != -EOPNOTSUPP {
                    throw .libseccomp("add a refusal for \(refusal.name)", rc)
                }
            }
        }

        var notified: [UInt64: Int] = [:]
        for (index, call) in table.enumerated() {
            let action = withoutPtrace ? dt_seccomp_ret_user_notif : traceAction(UInt16(index))
            let notifies = notifying && (withoutPtrace || call.lookup != nil && call.operands.count == 1)
            for name in [call.name] + call.aliases {
                let number = seccomp_syscall_resolve_name(name)
                if number == __NR_SCMP_ERROR { continue }
                if notifies {
                    for arch in [dt_audit_arch_x86_64, dt_audit_arch_i386] {
                        let native = seccomp_syscall_resolve_name_arch(arch, name)
                        if native >= 0 { notified[Self.notificationKey(arch: arch, nr: native)] = index }
                    }
                }
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
                // (action, conditions) rules; alternatives whose conditions
                // exclude each other.
                var rules: [(UInt32, [scmp_arg_cmp])] = [(action, conditions)]
                if notifies && !withoutPtrace {
                    if case .open(let flags) = call.lookup {
                        // Notify when no changing flag is set; one ptrace rule per flag.
                        let mask = Self.changingOpenFlags.reduce(0, |)
                        rules = [(dt_seccomp_ret_user_notif, conditions + [masked(flags, mask, 0)])]
                        for bit in Self.changingOpenFlags {
                            rules.append((action, conditions + [masked(flags, bit, bit)]))
                        }
                    } else {
                        rules = [(dt_seccomp_ret_user_notif, conditions)]
                    }
                }
                for (ruleAction, ruleConditions) in rules {
                    let rc = ruleConditions.withUnsafeBufferPointer {
                        seccomp_rule_add_array(context, ruleAction, number, UInt32($0.count), $0.baseAddress)
                    }
                    // A call that one ABI lacks is not an error.
                    if rc < 0 && rc != -EDOM && rc != -EINVAL && rc != -EOPNOTSUPP {
                        throw .libseccomp("add a rule for \(name)", rc)
                    }
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
        self.program = Self.unknownNumberGuard() + Self.allowing(recorded) + bytes
        self.notified = notified
    }

    /// AUDIT_ARCH_X86_64 and AUDIT_ARCH_I386 with libseccomp's highest
    /// known number for each.
    static let knownRanges: [(arch: UInt32, highest: UInt32)] = [dt_audit_arch_x86_64, dt_audit_arch_i386].map { (arch: UInt32) in
        var highest: UInt32 = 0
        for number in 0..<1024 {
            if let name = seccomp_syscall_resolve_num_arch(arch, Int32(number)) {
                free(name)
                highest = UInt32(number)
            }
        }
        return (arch, highest)
    }

    /// BPF instructions put before libseccomp's program: a call whose number
    /// is above the highest libseccomp knows for its ABI (x32's have bit 30
    /// set, so they are too) fails with ENOSYS. Other ABIs go on to
    /// libseccomp's bad-architecture action (ENOSYS too).
    static func unknownNumberGuard() -> [UInt8] {
        // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }; jumps are
        // relative to the next instruction.
        func instruction(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) -> [UInt8] {
            withUnsafeBytes(of: code.littleEndian) { Array($0) } + [jt, jf] + withUnsafeBytes(of: k.littleEndian) { Array($0) }
        }
        let load = dt_bpf_load_word
        let equal = dt_bpf_jump_equal
        let greater = dt_bpf_jump_greater
        let ret = dt_bpf_return
        let (x86_64, i386) = (knownRanges[0], knownRanges[1])
        return instruction(load, 0, 0, 4) // 0: A = arch
            + instruction(equal, 0, 2, x86_64.arch) // 1: x86_64? 2 : 4
            + instruction(load, 0, 0, 0) // 2: A = nr
            + instruction(greater, 3, 4, x86_64.highest) // 3: unknown? 7 : 8
            + instruction(equal, 0, 3, i386.arch) // 4: i386? 5 : 8
            + instruction(load, 0, 0, 0) // 5: A = nr
            + instruction(greater, 0, 1, i386.highest) // 6: unknown? 7 : 8
            + instruction(ret, 0, 0, errnoAction(ENOSYS)) // 7: refuse
        // 8: libseccomp's program, which loads what it needs itself.
    }
}

extension SeccompFilter {
    /// BPF instructions put after `unknownNumberGuard`: an x86_64 call of
    /// `recorded` whose conditions hold is let through (the recorder takes
    /// it); anything else goes on to libseccomp's program. Empty when
    /// nothing is recorded.
    static func allowing(_ recorded: [RecordedCall]) -> [UInt8] {
        guard !recorded.isEmpty else { return [] }
        func instruction(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) -> [UInt8] {
            withUnsafeBytes(of: code.littleEndian) { Array($0) } + [jt, jf] + withUnsafeBytes(of: k.littleEndian) { Array($0) }
        }
        // struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8i (the
        // low word first on a little-endian machine).
        var blocks: [[UInt8]] = []
        for call in recorded {
            // Each block: A = nr; not this call? next block; each condition:
            // A = low word, A &= mask, unequal? next block; allow.
            let conditions = call.conditions.count
            let length = 2 + 3 * conditions + 1
            var block = instruction(dt_bpf_load_word, 0, 0, 0)
            block += instruction(dt_bpf_jump_equal, 0, UInt8(length - 2), call.number)
            for (i, condition) in call.conditions.enumerated() {
                let remaining = 3 * (conditions - i - 1) + 1
                block += instruction(dt_bpf_load_word, 0, 0, UInt32(16 + 8 * condition.argument))
                block += instruction(dt_bpf_and, 0, 0, condition.mask)
                block += instruction(dt_bpf_jump_equal, 0, UInt8(remaining), condition.value)
            }
            block += instruction(dt_bpf_return, 0, 0, dt_seccomp_ret_allow)
            blocks.append(block)
        }
        let body = blocks.joined()
        // A = arch; x86_64? the blocks : past them.
        return instruction(dt_bpf_load_word, 0, 0, 4) + instruction(dt_bpf_jump_equal, 1, 0, dt_audit_arch_x86_64)
            + instruction(dt_bpf_jump_always, 0, 0, UInt32(body.count / 8)) + body
    }
}

/// `(argument & mask) == value`.
private func masked(_ argument: Int, _ mask: UInt64, _ value: UInt64) -> scmp_arg_cmp {
    scmp_arg_cmp(arg: UInt32(argument), op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value)
}

/// `SCMP_ACT_ERRNO(error)`, a C macro.
private func errnoAction(_ error: Int32) -> UInt32 {
    dt_seccomp_ret_errno | (UInt32(truncatingIfNeeded: error) & dt_seccomp_ret_data)
}

/// `SCMP_ACT_TRACE(data)`, a C macro.
private func traceAction(_ data: UInt16) -> UInt32 {
    dt_seccomp_ret_trace | UInt32(data)
}
