import CDeveltrace
import CSeccomp

/// A read-only path call that the in-kernel recorder (`SyscallRecorder`)
/// records instead of the seccomp listener: the seccomp filter lets it
/// through untouched, and the recorder's programs take its path and result
/// at the system call's entry and exit.
///
/// Both sides are made from this one list, so the filter lets through
/// exactly the calls the programs record: every call of one path on the
/// x86_64 ABI whose path cannot be relative to a directory descriptor
/// (`AT_FDCWD`, or no descriptor argument), reads and changes alike, except
/// what the ptrace loop must see before it runs: `chdir` and `chroot` (the
/// working directory), `execveat` (relative to a descriptor, or to none),
/// `openat2` (its flags are in memory) and `utimensat` on a descriptor. A
/// call relative to another descriptor still goes to the listener or
/// ptrace, which read the descriptor's path from `/proc` while the call
/// waits; i386 calls too.
///
/// `execve` is recorded too: its path and argument vector are read at its
/// entry (after a successful exec the caller's memory is gone), and the
/// ptrace loop takes them at the exec event (`SyscallRecorder.exec`), so
/// an exec costs no seccomp stop and no exit stop.
///
/// With changes recorded here the ptrace loop no longer sees every change
/// before it runs, so the lookup cache is off while the recorder works
/// (`SharedLookupCache.disable`): the listener's few predictions look up
/// every time.
public struct RecordedCall: Sendable, Equatable {
    /// `(argument & mask) == value` on the argument's low 32 bits (every
    /// condition is about an `int`: flags or a descriptor).
    public struct Condition: Sendable, Equatable {
        public var argument: Int
        public var mask: UInt32
        public var value: UInt32
    }

    /// The x86_64 system call number.
    public var number: UInt32
    /// Its row in `PathSyscall.table`.
    public var tableIndex: Int
    public var pathArgument: Int
    /// All must hold.
    public var conditions: [Condition]
    /// The argument holding the argument vector the `sys_enter` program
    /// reads with the path (`execve`); nil for every other call.
    public var argumentVector: Int? = nil

    /// `AT_FDCWD` as the kernel reads an `int` argument.
    static let workingDirectory = UInt32(bitPattern: -100)

    /// The recorded calls of `table`; `number` gives a name's x86_64 number
    /// (nil when the ABI lacks it).
    static func rules(table: [PathSyscall], number: (String) -> UInt32?) -> [RecordedCall] {
        var rules: [RecordedCall] = []
        var seen = Set<UInt32>()
        for (index, call) in table.enumerated() {
            guard call.operands.count == 1, call.skipWhenNull == nil else { continue }
            let operand = call.operands[0]
            var argumentVector: Int? = nil
            switch operand.intent {
            case .fixed(.exec):
                guard call.name == "execve", operand.dirfdArgument == nil else { continue }
                argumentVector = operand.pathArgument + 1
            case .fixed(.chdir), .openHow: continue
            case .fixed, .openFlags: break
            }
            var conditions: [Condition] = []
            if call.filterSkipsEmptyPathFlag, let flags = call.atFlagsArgument {
                conditions.append(Condition(argument: flags, mask: UInt32(dt_at_empty_path), value: 0))
            }
            if let dirfd = operand.dirfdArgument {
                conditions.append(Condition(argument: dirfd, mask: UInt32.max, value: workingDirectory))
            }
            for name in [call.name] + call.aliases {
                guard let nr = number(name), seen.insert(nr).inserted else { continue }
                rules.append(
                    RecordedCall(
                        number: nr, tableIndex: index, pathArgument: operand.pathArgument, conditions: conditions,
                        argumentVector: argumentVector))
            }
        }
        return rules
    }

    /// A call the seccomp listener sees while the recorder follows the
    /// sandbox's processes, whose result the recorder brings.
    public struct Listened: Sendable, Equatable {
        public var number: UInt32
        /// The filter does not send it when this argument has
        /// `AT_EMPTY_PATH` (`fstat` as `newfstatat`): no record either.
        public var emptyPathFlags: Int?
        /// Nor when this argument is NULL (`utimensat(fd, NULL, …)`).
        public var nullArgument: Int?
    }

    /// Every call of `table` by number: the x86_64 ones, the i386 ones.
    static func listened(table: [PathSyscall], number: (UInt32, String) -> UInt32?) -> (x86_64: [Listened], i386: [Listened]) {
        var byArch: [[UInt32: Listened]] = [[:], [:]]
        for call in table {
            for name in [call.name] + call.aliases {
                for (index, arch) in [dt_audit_arch_x86_64, dt_audit_arch_i386].enumerated() {
                    guard let nr = number(arch, name), byArch[index][nr] == nil else { continue }
                    byArch[index][nr] = Listened(
                        number: nr, emptyPathFlags: call.filterSkipsEmptyPathFlag ? call.atFlagsArgument : nil,
                        nullArgument: call.skipWhenNull)
                }
            }
        }
        return (byArch[0].values.sorted { $0.number < $1.number }, byArch[1].values.sorted { $0.number < $1.number })
    }

    /// The listened calls of `PathSyscall.table`, by libseccomp's numbers.
    public static let listenedNumbers: (x86_64: [Listened], i386: [Listened]) = listened(table: PathSyscall.table) { arch, name in
        let nr = seccomp_syscall_resolve_name_arch(arch, name)
        return nr >= 0 ? UInt32(nr) : nil
    }

    /// The recorded calls of `PathSyscall.table`, by libseccomp's numbers.
    public static let table: [RecordedCall] = rules(table: PathSyscall.table) { name in
        let nr = seccomp_syscall_resolve_name_arch(dt_audit_arch_x86_64, name)
        return nr >= 0 ? UInt32(nr) : nil
    }

    /// The recorded calls when the recorder follows the processes: all but
    /// `execve`, which goes to the listener. It reads the path and the
    /// argument vector while the caller waits, whatever their length and
    /// wherever they are (the `sys_enter` program cannot read a page not yet
    /// in the caller's page tables, nor more than `RecorderEvent.argumentBytes`,
    /// and no ptrace stop reads them afterwards).
    public static let followingTable: [RecordedCall] = table.filter { $0.argumentVector == nil }
}
