import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// The processes of a trace that the recorder follows, from its fork,
    /// exec and exit records in the ring's order (`ProcessLedger`).
    @Suite struct ProcessLedgerTests {
        @Test("the command is met without a fork; children inherit its program, then run their own; statuses as a shell has them")
        func commandAndChildren() {
            var ledger = ProcessLedger()
            let command = ledger.process(ofTask: 100, group: 100)
            #expect(ledger.commandID == command && ledger.processes[command]?.parent == 0)
            ledger.setProgram(ofTask: 100, group: 100, argv: [RawPath("make")], executable: RawPath("/usr/bin/make"))
            ledger.forked(tid: 100, group: 100, child: 101, childGroup: 101)
            #expect(ledger.processes[101]?.parent == command)
            #expect(ledger.processes[101]?.argv == [RawPath("make")], "a child runs its parent's program until it executes")
            ledger.setProgram(ofTask: 101, group: 101, argv: [RawPath("cc"), RawPath("-c")], executable: RawPath("/usr/bin/cc"))
            #expect(ledger.processes[101]?.executable == RawPath("/usr/bin/cc"))
            #expect(ledger.processes[command]?.executable == RawPath("/usr/bin/make"))
            #expect(ledger.exited(tid: 101, group: 101, status: 3 << 8) == 101)
            #expect(ledger.exited(tid: 100, group: 100, status: 9) == command)
            #expect(ledger.processes[101]?.exitStatus == 3)
            #expect(ledger.processes[command]?.exitStatus == Int32(137), "killed by SIGKILL")
            #expect(ledger.commandID == command, "only the first process met is the command")
            _ = ledger.process(ofTask: 300, group: 300)
            #expect(ledger.commandID == command)
        }

        @Test("a thread is its process's, which ends with its last task; an exec from a thread takes the leader's pid")
        func threads() {
            var ledger = ProcessLedger()
            let process = ledger.process(ofTask: 200, group: 200)
            ledger.forked(tid: 200, group: 200, child: 201, childGroup: 200)
            #expect(ledger.taskProcess[201] == process && ledger.processes.count == 1, "a thread, not a process")
            // The thread executes: the leader ends first, then the thread has its pid.
            #expect(ledger.exited(tid: 200, group: 200, status: 0) == nil, "the thread still runs")
            ledger.executed(tid: 200, group: 200, former: 201)
            #expect(ledger.taskProcess[201] == nil && ledger.taskProcess[200] == process)
            ledger.setProgram(ofTask: 200, group: 200, argv: [RawPath("cat")], executable: RawPath("/bin/cat"))
            #expect(ledger.processes[process]?.argv == [RawPath("cat")])
            #expect(ledger.exited(tid: 200, group: 200, status: 0) == process)
            #expect(ledger.processes[process]?.exitStatus == 0)
        }

        @Test("a pid used again names a new process with a fresh id and its own parent")
        func pidUsedAgain() {
            var ledger = ProcessLedger()
            let command = ledger.process(ofTask: 10, group: 10)
            ledger.forked(tid: 10, group: 10, child: 11, childGroup: 11)
            ledger.exited(tid: 11, group: 11, status: 0)
            ledger.forked(tid: 10, group: 10, child: 12, childGroup: 12)
            ledger.forked(tid: 12, group: 12, child: 11, childGroup: 11)
            let again = ledger.taskProcess[11]
            #expect(again != nil && again != 11, "a fresh id")
            #expect(ledger.processes[again!]?.pid == 11 && ledger.processes[again!]?.parent == 12)
            #expect(ledger.processes[11]?.parent == command && ledger.processes[11]?.exitStatus == 0, "the first one kept")
        }

        @Test("wait statuses: exit codes and signals")
        func statuses() {
            #expect(ProcessLedger.exitStatus(waitStatus: 0) == 0)
            #expect(ProcessLedger.exitStatus(waitStatus: 127 << 8) == 127)
            #expect(ProcessLedger.exitStatus(waitStatus: 15) == 143)
            #expect(ProcessLedger.exitStatus(waitStatus: 0x80 | 11) == 139, "a core dump: the signal")
        }

        @Test("paths with .. taken lexically, for the working directories a removal or rename changes")
        func lexical() {
            #expect(SyscallRecorder.lexical(RawPath("/a/d/../d")) == RawPath("/a/d"))
            #expect(SyscallRecorder.lexical(RawPath("/a/./b/../../c")) == RawPath("/c"))
            #expect(SyscallRecorder.lexical(RawPath("/..")) == RawPath("/"))
            #expect(SyscallRecorder.lexical(RawPath("/a/b")) == RawPath("/a/b"))
        }
    }

    /// The kernel's task offsets, from BTF (`KernelTypes`).
    @Suite struct KernelTypesTests {
        /// A blob with `int`, a declaration of `task_struct`, an anonymous
        /// union holding `pid`, and `task_struct` itself (bit offsets).
        static func blob(bitfields: Bool = false, withTgid: Bool = true) -> [UInt8] {
            var strings: [UInt8] = [0]
            func name(_ text: String) -> UInt32 {
                let offset = UInt32(strings.count)
                strings += Array(text.utf8) + [0]
                return offset
            }
            var types: [UInt32] = []
            types += [name("int"), 1 << 24, 4, 32] // 1: int
            types += [name("task_struct"), 7 << 24, 0] // 2: a declaration (FWD)
            types += [0, 5 << 24 | 1, 4, name("pid"), 1, 0] // 3: union { int pid; }
            let members: [(String, UInt32, UInt32)] =
                [("exit_code", 1, 64), ("", 3, 128)] + (withTgid ? [("tgid", 1, 160)] : [])
            types += [name("task_struct"), (bitfields ? 1 << 31 : 0) | 4 << 24 | UInt32(members.count), 64]
            for (member, type, offset) in members { types += [name(member), type, offset] }
            let typeBytes = types.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
            var header: [UInt8] = [0x9F, 0xEB, 1, 0]
            for field in [UInt32(24), 0, UInt32(typeBytes.count), UInt32(typeBytes.count), UInt32(strings.count)] {
                header += withUnsafeBytes(of: field.littleEndian, Array.init)
            }
            return header + typeBytes + strings
        }

        @Test("offsets of task_struct's members, one in an anonymous union, with and without bitfield offsets")
        func synthetic() throws {
            #expect(try KernelTypes(btf: Self.blob()) == KernelTypes(taskPid: 16, taskThreadGroup: 20, taskExitCode: 8))
            #expect(try KernelTypes(btf: Self.blob(bitfields: true)) == KernelTypes(taskPid: 16, taskThreadGroup: 20, taskExitCode: 8))
            #expect(throws: KernelTypes.ParseError.missing("task_struct.tgid")) { try KernelTypes(btf: Self.blob(withTgid: false)) }
            #expect(throws: KernelTypes.ParseError.notBTF) {
                try KernelTypes(btf: Array("not btf at all, no".utf8) + [UInt8](repeating: 0, count: 8))
            }
            #expect(throws: KernelTypes.ParseError.truncated) { try KernelTypes(btf: Array(Self.blob().dropLast(30))) }
        }

        @Test("the running kernel's: pid and tgid side by side", .enabled(if: FileManager.default.fileExists(atPath: KernelTypes.vmlinux)))
        func running() throws {
            let types = try #require(KernelTypes.running)
            #expect(types.taskThreadGroup == types.taskPid + 4, "pid_t pid; pid_t tgid;")
            #expect(types.taskExitCode > 0 && types.taskPid < 16384)
        }
    }
}
