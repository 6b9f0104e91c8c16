import CDeveltrace
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import DeveltraceKit

extension Unit {
    /// The calls the in-kernel recorder takes, and the seccomp filter's
    /// part: what it lets through must be exactly what the programs record.
    @Suite struct RecordedCalls {
        static let table = RecordedCall.table

        static func rule(_ name: String) -> RecordedCall? {
            table.first { PathSyscall.table[$0.tableIndex].name == name }
        }

        @Test("a return value: -errno fails, anything else succeeds, a restart is no result yet")
        func returnValues() {
            #expect(AccessResult(returnValue: 0) == .ok)
            #expect(AccessResult(returnValue: 3) == .ok)
            #expect(AccessResult(returnValue: -2) == .failed(.noSuchFileOrDirectory))
            #expect(AccessResult(returnValue: -4095) == .failed(Errno(rawValue: 4095)))
            #expect(AccessResult(returnValue: -4096) == .ok, "an address, not an errno")
            for restart: Int64 in -516 ... -512 { #expect(AccessResult(returnValue: restart) == nil) }
            #expect(AccessResult(returnValue: -511) == .failed(Errno(rawValue: 511)))
        }

        @Test("the recorded calls: one path, at most the working directory as base, nothing ptrace must see first")
        func rules() throws {
            #expect(!Self.table.isEmpty)
            for call in Self.table {
                let row = PathSyscall.table[call.tableIndex]
                #expect(row.operands.count == 1)
                #expect(row.operands[0].pathArgument == call.pathArgument)
                if let dirfd = row.operands[0].dirfdArgument {
                    #expect(call.conditions.contains(.init(argument: dirfd, mask: UInt32.max, value: UInt32(bitPattern: -100))))
                }
            }
            #expect(Set(Self.table.map(\.number)).count == Self.table.count, "one rule per number")
            let openat = try #require(Self.rule("openat"))
            #expect(openat.number == 257)
            #expect(openat.conditions == [.init(argument: 0, mask: UInt32.max, value: UInt32(bitPattern: -100))])
            #expect(try #require(Self.rule("stat")).conditions.isEmpty)
            #expect(try #require(Self.rule("newfstatat")).conditions.contains { $0.mask == UInt32(dt_at_empty_path) && $0.value == 0 })
            for name in ["mkdir", "unlink", "unlinkat", "creat", "chmod", "truncate"] {
                #expect(Self.rule(name) != nil, "\(name) is not recorded")
            }
            let execve = try #require(Self.rule("execve"))
            #expect(execve.conditions.isEmpty && execve.pathArgument == 0 && execve.argumentVector == 1)
            #expect(Self.table.filter { $0.argumentVector != nil }.count == 1, "only execve's vector is read in the kernel")
            for name in ["execveat", "rename", "chdir", "chroot", "fchdir", "openat2", "utimensat", "stat64", "fchmod"] {
                #expect(Self.rule(name) == nil, "\(name) is recorded")
            }
        }

        /// `struct seccomp_data` for `nr` with `args`.
        static func data(arch: UInt32 = dt_audit_arch_x86_64, nr: UInt32, _ args: [UInt64]) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes += withUnsafeBytes(of: nr.littleEndian, Array.init)
            bytes += withUnsafeBytes(of: arch.littleEndian, Array.init)
            bytes += [UInt8](repeating: 0, count: 8)
            for i in 0..<6 { bytes += withUnsafeBytes(of: (i < args.count ? args[i] : 0).littleEndian, Array.init) }
            return bytes
        }

        /// Runs classic BPF (the opcodes the prefix uses) over `data`: the
        /// returned action, or nil when it runs off its end (libseccomp's
        /// program would decide).
        static func run(_ program: [UInt8], _ data: [UInt8]) -> UInt32? {
            var pc = 0
            var a: UInt32 = 0
            func word(_ at: Int) -> UInt32 {
                UInt32(data[at]) | UInt32(data[at + 1]) << 8 | UInt32(data[at + 2]) << 16 | UInt32(data[at + 3]) << 24
            }
            while pc * 8 < program.count {
                let i = pc * 8
                let code = UInt16(program[i]) | UInt16(program[i + 1]) << 8
                let (jt, jf) = (Int(program[i + 2]), Int(program[i + 3]))
                let k = UInt32(program[i + 4]) | UInt32(program[i + 5]) << 8 | UInt32(program[i + 6]) << 16 | UInt32(program[i + 7]) << 24
                pc += 1
                switch code {
                case dt_bpf_load_word: a = word(Int(k))
                case dt_bpf_and: a &= k
                case dt_bpf_jump_equal: pc += a == k ? jt : jf
                case dt_bpf_jump_always: pc += Int(k)
                case dt_bpf_return: return k
                default: Issue.record("unexpected opcode \(code)"); return 0
                }
            }
            return nil
        }

        @Test("the filter's prefix lets through exactly the recorded calls whose conditions hold")
        func filterPrefix() {
            let prefix = SeccompFilter.allowing(Self.table)
            let allow = dt_seccomp_ret_allow
            let atFDCWD = UInt64(UInt32(bitPattern: -100))
            let signExtended = UInt64(bitPattern: -100)
            #expect(Self.run(prefix, Self.data(nr: 257, [atFDCWD, 0x1000, UInt64(O_RDONLY | O_CLOEXEC)])) == allow)
            #expect(Self.run(prefix, Self.data(nr: 257, [signExtended, 0x1000, UInt64(O_RDONLY)])) == allow)
            #expect(Self.run(prefix, Self.data(nr: 257, [atFDCWD, 0x1000, UInt64(O_WRONLY | O_CREAT)])) == allow)
            #expect(Self.run(prefix, Self.data(nr: 257, [5, 0x1000, UInt64(O_WRONLY | O_CREAT)])) == nil)
            #expect(Self.run(prefix, Self.data(nr: 257, [5, 0x1000, UInt64(O_RDONLY)])) == nil, "relative to a descriptor: the listener's")
            #expect(Self.run(prefix, Self.data(nr: 4, [0x1000, 0x2000])) == allow, "stat")
            #expect(Self.run(prefix, Self.data(nr: 262, [atFDCWD, 0x1000, 0x2000, 0])) == allow, "newfstatat")
            #expect(Self.run(prefix, Self.data(nr: 262, [3, 0x1000, 0x2000, UInt64(dt_at_empty_path)])) == nil, "fstat")
            #expect(Self.run(prefix, Self.data(nr: 83, [0x1000, 0o755])) == allow, "mkdir")
            #expect(Self.run(prefix, Self.data(nr: 80, [0x1000])) == nil, "chdir")
            #expect(Self.run(prefix, Self.data(nr: 59, [0x1000, 0x2000, 0x3000])) == allow, "execve")
            #expect(Self.run(prefix, Self.data(nr: 322, [atFDCWD, 0x1000, 0x2000, 0x3000, 0])) == nil, "execveat")
            #expect(Self.run(prefix, Self.data(arch: dt_audit_arch_i386, nr: 5, [0x1000, 0])) == nil, "i386 open")
            #expect(SeccompFilter.allowing([]).isEmpty)
        }

        @Test("a record of the sys_exit program reads back: result, arguments, a path with and without its NUL")
        func event() {
            func record(length: Int32, path: [UInt8]) -> [UInt8] {
                var bytes: [UInt8] = []
                bytes += withUnsafeBytes(of: Int32(4242).littleEndian, Array.init)
                bytes += withUnsafeBytes(of: UInt32(7).littleEndian, Array.init)
                bytes += withUnsafeBytes(of: Int64(-2).littleEndian, Array.init)
                for i in 0..<6 { bytes += withUnsafeBytes(of: UInt64(i * 10).littleEndian, Array.init) }
                bytes += withUnsafeBytes(of: length.littleEndian, Array.init)
                bytes += [0, 0, 0, 0]
                bytes += withUnsafeBytes(of: Int32(4240).littleEndian, Array.init) + [0, 0, 0, 0]
                return bytes + path
            }
            let name: [UInt8] = Array("/usr/include/\u{FF}x.h".utf8) + [0xFE]
            let parsed = record(length: Int32(name.count + 1), path: name + [0]).withUnsafeBytes { RecorderEvent($0) }
            #expect(parsed == RecorderEvent(tid: 4242, group: 4240, tableIndex: 7, result: -2, args: [0, 10, 20, 30, 40, 50], path: name))
            let unreadable = record(length: -14, path: []).withUnsafeBytes { RecorderEvent($0) }
            #expect(unreadable?.path == nil)
            #expect([UInt8](repeating: 0, count: 10).withUnsafeBytes { RecorderEvent($0) } == nil)
        }

        @Test("an exec record of the sys_enter program reads back: the path, the vector whole, cut or unreadable")
        func execRecord() {
            func record(count: Int, status: UInt64, path: [UInt8], arguments: [[UInt8]]) -> [UInt8] {
                var bytes: [UInt8] = []
                bytes += withUnsafeBytes(of: Int32(77).littleEndian, Array.init)
                bytes += withUnsafeBytes(of: UInt32(3).littleEndian, Array.init)
                bytes += withUnsafeBytes(of: Int64(0).littleEndian, Array.init)
                let blob: [UInt8] = arguments.flatMap { $0 + [UInt8(0)] }
                for value in [UInt64(count), UInt64(blob.count), status, 0, 0, 0] {
                    bytes += withUnsafeBytes(of: value.littleEndian, Array.init)
                }
                bytes += withUnsafeBytes(of: Int32(path.count + 1).littleEndian, Array.init)
                bytes += withUnsafeBytes(of: RecorderEvent.Kind.execArguments.rawValue.littleEndian, Array.init)
                bytes += [0, 0, 0, 0, 0, 0, 0, 0]
                var slot = path + [0]
                slot += [UInt8](repeating: 0xAA, count: RecorderEvent.maximumPath - slot.count)
                return bytes + slot + blob
            }
            let flag: [UInt8] = Array("-DX=".utf8) + [0xFF]
            let arguments: [[UInt8]] = [Array("gcc".utf8), [], flag, Array("a.c".utf8)]
            let whole = record(count: 4, status: 0, path: Array("/usr/bin/gcc".utf8), arguments: arguments)
            let parsed = whole.withUnsafeBytes { RecorderEvent($0) }
            #expect(parsed?.kind == .execArguments)
            #expect(parsed?.path == Array("/usr/bin/gcc".utf8))
            #expect(parsed?.arguments == arguments)
            let cut = record(count: 4, status: ExecArguments.Status.cut.rawValue, path: [47], arguments: arguments)
            #expect(cut.withUnsafeBytes { RecorderEvent($0) }?.arguments == nil)
            let unreadable = record(count: 2, status: ExecArguments.Status.unreadable.rawValue, path: [47], arguments: [])
            #expect(unreadable.withUnsafeBytes { RecorderEvent($0) }?.arguments == nil)
            let miscounted = record(count: 5, status: 0, path: [47], arguments: arguments)
            #expect(miscounted.withUnsafeBytes { RecorderEvent($0) }?.arguments == nil, "fewer arguments than the count")
            var unknown = whole
            unknown[68] = 9
            #expect(unknown.withUnsafeBytes { RecorderEvent($0) } == nil, "a kind this version does not write")
        }

        @Test("a command line and an auxiliary vector from /proc and the possible CPUs from /sys parse")
        func procTexts() {
            let line = TraceLoop.commandLine(in: Array("sh\0-c\0\0x\u{FF}\0".utf8))
            #expect(line == [RawPath("sh"), RawPath("-c"), RawPath(""), RawPath("x\u{FF}")])
            #expect(TraceLoop.commandLine(in: Array("a\0b".utf8)) == [RawPath("a"), RawPath("b")], "no last NUL")
            #expect(SyscallRecorder.possibleCPUs(in: Array("0-1\n".utf8)) == 2)
            #expect(SyscallRecorder.possibleCPUs(in: Array("0\n".utf8)) == 1)
            #expect(SyscallRecorder.possibleCPUs(in: Array("0-3,8-11\n".utf8)) == 12)
            #expect(SyscallRecorder.possibleCPUs(in: Array("x".utf8)) == nil)
            #expect(SyscallRecorder.possibleCPUs() >= 1)
            func pairs(_ values: [(UInt64, UInt64)]) -> [UInt8] {
                values.flatMap { withUnsafeBytes(of: $0.0.littleEndian, Array.init) + withUnsafeBytes(of: $0.1.littleEndian, Array.init) }
            }
            let auxv = pairs([(33, 0x7fff_0000), (31, 0x7ffd_1234_5678), (0, 0)])
            #expect(TraceLoop.auxiliaryValue(31, in: auxv) == 0x7ffd_1234_5678, "AT_EXECFN")
            #expect(TraceLoop.auxiliaryValue(31, in: pairs([(33, 1), (0, 0), (31, 2)])) == nil, "nothing after AT_NULL")
            #expect(TraceLoop.auxiliaryValue(31, in: Array(auxv.prefix(20))) == nil)
        }

        @Test("the programs assemble: every jump lands inside, the last instruction is an exit")
        func programs() {
            let maps = RecorderPrograms.Maps(gate: .tasks(3), pending: 4, scratch: 5, execScratch: 6, ring: 7, counters: 8)
            let enter = RecorderPrograms.enter(Self.table, maps: maps)
            let exit = RecorderPrograms.exit(maps: maps)
            #expect(enter.functions == ["dt_sys_enter", "argument"], "the exec loop's callback")
            #expect(exit.functions == ["dt_sys_exit"] && exit.starts == [0])
            // Following the sandbox's processes: its gate, the listened
            // calls' results, the three process programs.
            var following = maps
            following.gate = .sandbox(9)
            let types = KernelTypes(taskPid: 1264, taskThreadGroup: 1268, taskExitCode: 1164)
            let followingEnter = RecorderPrograms.enter(Self.table, resultCalls: RecordedCall.listenedNumbers, maps: following)
            #expect(followingEnter.instructions.count > enter.instructions.count)
            let processes = [RecorderPrograms.Process.fork, .exec, .exit].map {
                RecorderPrograms.process($0, types: types, maps: following)
            }
            #expect(processes.map { $0.functions } == [["dt_sched_process_fork"], ["dt_sched_process_exec"], ["dt_sched_process_exit"]])
            for assembled in [enter, exit, followingEnter] + processes {
                let program = assembled.instructions
                #expect(program.count % 8 == 0)
                let count = program.count / 8
                #expect(program[program.count - 8] == 0x95, "exit")
                // Every function ends with an exit right before the next one.
                for start in assembled.starts.dropFirst() { #expect(program[(start - 1) * 8] == 0x95) }
                // A jump stays inside its function.
                let ends = assembled.starts.dropFirst() + [count]
                let function = { (index: Int) in zip(assembled.starts, ends).first { ($0.0..<$0.1).contains(index) }! }
                for index in 0..<count {
                    let code = program[index * 8]
                    let offset = Int(Int16(bitPattern: UInt16(program[index * 8 + 2]) | UInt16(program[index * 8 + 3]) << 8))
                    // Jumps (JMP and JMP32 classes) other than call and exit.
                    if [0x05, 0x06].contains(code & 0x07), code != 0x85, code != 0x95 {
                        let (start, end) = function(index)
                        #expect((start..<end).contains(index + 1 + offset), "jump at \(index) lands at \(index + 1 + offset)")
                    }
                    // A function's address (BPF_PSEUDO_FUNC) names a function's first instruction.
                    if code == 0x18, program[index * 8 + 1] >> 4 == 4 {
                        let immediate = program[index * 8 + 4..<index * 8 + 8].reversed().reduce(0) { $0 << 8 | Int($1) }
                        #expect(assembled.starts.dropFirst().contains(index + 1 + Int(Int32(truncatingIfNeeded: immediate))))
                    }
                }
            }
        }

        @Test("the BTF blob names the functions: header, int, a prototype, one FUNC each, the strings")
        func typeInfo() {
            let blob = BPFTypeInfo.blob(functions: ["dt_sys_enter", "argument"])
            func word(_ at: Int) -> UInt32 { blob[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
            #expect(blob[0] == 0x9F && blob[1] == 0xEB && blob[2] == 1, "magic, version")
            #expect(word(4) == 24 && word(8) == 0, "header length, types at 0")
            let typesLength = Int(word(12))
            #expect(typesLength == 4 * (4 + 3 + 3 + 3), "int (4 words), prototype and two functions (3 each)")
            #expect(Int(word(16)) == typesLength && Int(word(20)) == blob.count - 24 - typesLength)
            let strings = Array(blob[(24 + typesLength)...])
            #expect(strings == Array("\0int\0dt_sys_enter\0argument\0".utf8))
            // The second function: name "argument", kind FUNC (12), static, of type 2.
            let second = 24 + 4 * (4 + 3 + 3)
            #expect(word(second) == 18 && word(second + 4) == 12 << 24 && word(second + 8) == 2)
            #expect(BPFTypeInfo.functionRecords([0, 40]) == [0, 3, 40, 4])
        }
    }
}
