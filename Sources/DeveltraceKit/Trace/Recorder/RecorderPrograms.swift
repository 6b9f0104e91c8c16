import CDeveltrace

/// The recorder's two eBPF programs, for the raw tracepoints `sys_enter` and
/// `sys_exit` (x86_64), made from `RecordedCall`s. Pure: the maps are given
/// as descriptors, the kernel's verifier checks the result when it loads.
///
/// At `sys_enter`, for a task in the `tasks` map making a recorded call on
/// the 64-bit ABI whose conditions hold (the seccomp filter let exactly
/// those through), the call's arguments go into `pending` under the
/// task's id. At `sys_exit`, a task with a pending call sends one
/// `RecorderEvent` into the ring buffer: its id, the call's row, its
/// result, its arguments and its path, read from the caller's memory now
/// that the kernel has read it too (the page is in memory: a read at entry
/// may find it paged out and must not fault).
///
/// `execve` is the exception: after a successful exec the caller's memory
/// is gone, so the `sys_enter` program reads the path and the argument
/// vector at once into an `ExecArguments` record, and the `sys_exit`
/// record of a successful one carries no path (`RecorderEvent.Kind`).
enum RecorderPrograms {
    /// The maps the programs use, by descriptor.
    struct Maps {
        var tasks: Int32
        var pending: Int32
        /// Per CPU: the `sys_exit` program's record.
        var scratch: Int32
        /// An array of one `RecorderEvent.execSize` value per possible CPU,
        /// indexed by the CPU's number: the `sys_enter` program's exec record.
        var execScratch: Int32
        var ring: Int32
        var counters: Int32
    }

    /// At most this many arguments of an exec are read in the kernel, and
    /// at most `RecorderEvent.argumentBytes` bytes of them (so at most
    /// that many arguments, each with its NUL); a longer vector is marked
    /// cut, and the ptrace loop reads the new program's `/proc/PID/cmdline`
    /// instead.
    static let maximumArguments = Int32(RecorderEvent.argumentBytes)

    /// `pending` values: the six arguments, the path's address, the row.
    static let pendingSize = 64
    /// `struct pt_regs` (x86_64): read whole at entry.
    static let registersSize: Int32 = 168
    /// Offsets in `struct pt_regs` of the system call's arguments (rdi,
    /// rsi, rdx, r10, r8, r9) and of `cs`.
    static let argumentRegisters: [Int16] = [112, 104, 96, 56, 72, 64]
    static let codeSegment: Int16 = 136
    /// `__USER_CS`: the task runs 64-bit code (a 32-bit task's calls are
    /// the listener's).
    static let userCodeSegment: Int32 = 0x33

    /// r6 = the context, r7 = the calling task's id, also at r10 - 4 (the
    /// key of the per-task maps).
    private static func taskPrologue(_ a: inout BPFAssembler) {
        a.move(6, register: 1)
        a.call(dt_bpf_func_get_current_pid_tgid)
        a.move32(7, register: 0)
        a.store(.word, 10, -4, register: 7)
    }

    /// The `sys_enter` program.
    static func enter(_ calls: [RecordedCall], maps: Maps) -> BPFProgram {
        var a = BPFAssembler()
        let registers: Int16 = -176 // r10 - 176 … r10 - 9
        let value: Int16 = -240 // the pending value, 64 bytes
        let cpuKey: Int16 = -248
        let argumentPointer: Int16 = -256
        // Every call of every task on the machine runs this program while
        // a trace is on: the call's number is tested first, a few
        // comparisons, before the task's lookup in a hash map.
        a.load(.double, 8, 1, 8) // the call's number
        for number in Set(calls.map(\.number)).sorted() {
            a.jump32(.equal, 8, Int32(bitPattern: number), to: "recorded")
        }
        a.jump(to: "out")
        a.label("recorded")
        taskPrologue(&a)
        a.callMap(dt_bpf_func_map_lookup_elem, maps.tasks, key: -4)
        a.jump(.equal, 0, 0, to: "out")
        // The number again: after the comparisons above the verifier knows
        // r8 exactly on each way to "recorded", and would check the rest
        // once per number (15 ms a load); read anew, r8 is dead there and
        // the ways merge.
        a.load(.double, 8, 6, 8)
        a.move(1, register: 10)
        a.add(1, Int32(registers))
        a.move(2, registersSize)
        a.load(.double, 3, 6, 0) // struct pt_regs *
        a.call(dt_bpf_func_probe_read_kernel)
        a.jump(.notEqual, 0, 0, to: "out")
        a.load(.double, 1, 10, registers + codeSegment)
        a.jump(.notEqual, 1, userCodeSegment, to: "out")
        for (k, call) in calls.enumerated() {
            let next = k + 1 < calls.count ? "call\(k + 1)" : "out"
            a.label("call\(k)")
            a.jump32(.notEqual, 8, Int32(bitPattern: call.number), to: next)
            for condition in call.conditions {
                a.load(.double, 1, 10, registers + argumentRegisters[condition.argument])
                a.and32(1, condition.mask)
                a.jump32(.notEqual, 1, Int32(bitPattern: condition.value), to: next)
            }
            a.move(9, Int32(call.tableIndex))
            a.load(.double, 1, 10, registers + argumentRegisters[call.pathArgument])
            a.store(.double, 10, value + 48, register: 1)
            // Whether the path was read at entry (an exec).
            a.store(.word, 10, value + 60, call.argumentVector == nil ? 0 : 1)
            a.jump(to: "matched")
        }
        a.label("matched")
        for (i, offset) in argumentRegisters.enumerated() {
            a.load(.double, 1, 10, registers + offset)
            a.store(.double, 10, value + Int16(8 * i), register: 1)
        }
        a.store(.word, 10, value + 56, register: 9)
        a.move(3, register: 10)
        a.add(3, Int32(value))
        a.move(4, 0)
        a.callMap(dt_bpf_func_map_update_elem, maps.pending, key: -4)
        let execs = calls.filter { $0.argumentVector != nil }
        if !execs.isEmpty {
            for (k, call) in execs.enumerated() {
                a.label("exec?\(k)")
                a.jump32(.notEqual, 8, Int32(bitPattern: call.number), to: k + 1 < execs.count ? "exec?\(k + 1)" : "out")
                a.load(.double, 8, 10, registers + argumentRegisters[call.pathArgument])
                a.store(.double, 10, argumentPointer, register: 8)
                a.load(.double, 8, 10, registers + argumentRegisters[call.argumentVector!])
                a.move(9, Int32(call.tableIndex))
                a.jump(to: "exec")
            }
            execArguments(&a, maps: maps, cpuKey: cpuKey, argumentPointer: argumentPointer)
        }
        a.label("out")
        a.move(0, 0)
        a.exit()
        if !execs.isEmpty { argumentCallback(&a, maps: maps) }
        return a.program(named: "dt_sys_enter")
    }

    /// The exec record: r7 = the task, r8 = the argument vector's address,
    /// r9 = the row, the path's address at r10 + `argumentPointer`. Ends
    /// at "out". The arguments are read by `bpf_loop` (Linux 5.17) with
    /// the callback `argumentCallback`, which the verifier checks once:
    /// an unrolled loop of 512 arguments made the `sys_enter` program take
    /// 24 ms to load, a fifth of a small build's tracing cost.
    private static func execArguments(_ a: inout BPFAssembler, maps: Maps, cpuKey: Int16, argumentPointer: Int16) {
        let pathAt = Int32(RecorderEvent.headerSize)
        let argumentsAt = Int32(RecorderEvent.headerSize + RecorderEvent.maximumPath)
        a.label("exec")
        a.call(dt_bpf_func_get_smp_processor_id)
        a.store(.word, 10, cpuKey, register: 0)
        a.callMap(dt_bpf_func_map_lookup_elem, maps.execScratch, key: cpuKey)
        a.jump(.equal, 0, 0, to: "out")
        a.move(6, register: 0) // the record; the context is no longer needed
        a.store(.word, 6, 0, register: 7) // tid
        a.store(.word, 6, 4, register: 9) // row
        a.store(.double, 6, 8, 0) // result
        a.store(.word, 6, 68, Int32(RecorderEvent.Kind.execArguments.rawValue))
        a.move(1, register: 6)
        a.add(1, pathAt)
        a.move(2, Int32(RecorderEvent.maximumPath))
        a.load(.double, 3, 10, argumentPointer)
        a.call(dt_bpf_func_probe_read_user_str)
        a.store(.word, 6, 64, register: 0) // the path's length with its NUL, or an error
        a.move(9, register: 6) // the record from here on
        // The loop's state on this stack (`LoopState`); cut unless the
        // callback finds the vector's end first.
        a.store(.double, 10, LoopState.cursor, register: 8)
        a.store(.double, 10, LoopState.bytes, 0)
        a.store(.double, 10, LoopState.count, 0)
        a.store(.double, 10, LoopState.status, Int32(ExecArguments.Status.cut.rawValue))
        a.move(1, maximumArguments)
        a.loadFunction(2, "argument")
        a.move(3, register: 10)
        a.add(3, Int32(LoopState.cursor))
        a.move(4, 0)
        a.call(dt_bpf_func_loop)
        a.load(.double, 1, 10, LoopState.status)
        a.store(.double, 9, 32, register: 1)
        a.load(.double, 1, 10, LoopState.count)
        a.store(.double, 9, 16, register: 1)
        a.load(.double, 3, 10, LoopState.bytes)
        a.store(.double, 9, 24, register: 3)
        // At most the limit and one argument more (the record then says cut).
        a.jump(.greater, 3, Int32(2 * RecorderEvent.argumentBytes), to: "out")
        a.add(3, argumentsAt)
        send(&a, maps: maps)
    }

    /// The exec loop's state, on the `sys_enter` program's stack: the next
    /// argument pointer's address, the bytes and arguments read so far, and
    /// an `ExecArguments.Status`.
    private enum LoopState {
        static let cursor: Int16 = -288
        static let bytes: Int16 = -280
        static let count: Int16 = -272
        static let status: Int16 = -264
    }

    /// The `bpf_loop` callback (r1 = the index, r2 = the `LoopState`):
    /// reads one argument into the exec record after those before it.
    /// Returns 0 for the next one, 1 at the end (the vector's, the byte
    /// limit's, or an unreadable page's).
    private static func argumentCallback(_ a: inout BPFAssembler, maps: Maps) {
        let limit = Int32(RecorderEvent.argumentBytes)
        let argumentsAt = Int32(RecorderEvent.headerSize + RecorderEvent.maximumPath)
        let state: Int16 = 0 // offsets from r6, as `LoopState` from r10 + cursor
        a.function("argument")
        a.move(6, register: 2)
        a.call(dt_bpf_func_get_smp_processor_id)
        a.store(.word, 10, -4, register: 0)
        a.callMap(dt_bpf_func_map_lookup_elem, maps.execScratch, key: -4)
        a.jump(.equal, 0, 0, to: "argument.unreadable")
        a.move(9, register: 0)
        a.load(.double, 7, 6, state + LoopState.bytes - LoopState.cursor)
        a.jump(.greater, 7, limit - 1, to: "argument.end") // cut
        a.move(1, register: 10)
        a.add(1, -16)
        a.move(2, 8)
        a.load(.double, 3, 6, state)
        a.call(dt_bpf_func_probe_read_user)
        a.jump(.notEqual, 0, 0, to: "argument.unreadable")
        a.load(.double, 3, 10, -16)
        a.jump(.equal, 3, 0, to: "argument.whole")
        a.move(1, register: 9)
        a.add(1, argumentsAt)
        a.add(1, register: 7)
        a.move(2, limit)
        a.call(dt_bpf_func_probe_read_user_str)
        a.jump(.signedLess, 0, 1, to: "argument.unreadable")
        a.jump(.greater, 0, limit, to: "argument.unreadable")
        a.add(7, register: 0)
        a.store(.double, 6, state + LoopState.bytes - LoopState.cursor, register: 7)
        a.load(.double, 1, 6, state + LoopState.count - LoopState.cursor)
        a.add(1, 1)
        a.store(.double, 6, state + LoopState.count - LoopState.cursor, register: 1)
        a.load(.double, 1, 6, state)
        a.add(1, 8)
        a.store(.double, 6, state, register: 1)
        // A vector that reaches the limit (its last argument perhaps cut
        // there) stays cut.
        a.jump(.greater, 7, limit - 1, to: "argument.end")
        a.move(0, 0)
        a.exit()
        a.label("argument.whole")
        a.store(.double, 6, state + LoopState.status - LoopState.cursor, Int32(ExecArguments.Status.whole.rawValue))
        a.jump(to: "argument.end")
        a.label("argument.unreadable")
        a.store(.double, 6, state + LoopState.status - LoopState.cursor, Int32(ExecArguments.Status.unreadable.rawValue))
        a.label("argument.end")
        a.move(0, 1)
        a.exit()
    }

    /// Sends the record at r9, r3 bytes, into the ring buffer (waking no
    /// reader), counting it lost when there is no room; then goes to "out".
    private static func send(_ a: inout BPFAssembler, maps: Maps) {
        a.loadMap(1, maps.ring)
        a.move(2, register: 9)
        a.move(4, Int32(truncatingIfNeeded: dt_bpf_rb_no_wakeup))
        a.call(dt_bpf_func_ringbuf_output)
        a.jump(.equal, 0, 0, to: "out")
        countLost(&a, counters: maps.counters)
        a.jump(to: "out")
    }

    /// counters[0] += 1 (a record the ring had no room for).
    private static func countLost(_ a: inout BPFAssembler, counters: Int32) {
        a.store(.word, 10, -8, 0)
        a.callMap(dt_bpf_func_map_lookup_elem, counters, key: -8)
        a.jump(.equal, 0, 0, to: "out")
        a.move(1, 1)
        a.atomicAdd(0, 0, register: 1)
    }

    /// The `sys_exit` program. A record the ring buffer has no room for
    /// counts in `counters[0]`.
    static func exit(maps: Maps) -> BPFProgram {
        var a = BPFAssembler()
        let path = Int32(RecorderEvent.headerSize)
        taskPrologue(&a)
        a.callMap(dt_bpf_func_map_lookup_elem, maps.pending, key: -4)
        a.jump(.equal, 0, 0, to: "out")
        a.move(8, register: 0)
        a.store(.word, 10, -8, 0)
        a.callMap(dt_bpf_func_map_lookup_elem, maps.scratch, key: -8)
        a.jump(.equal, 0, 0, to: "forget")
        a.move(9, register: 0)
        a.store(.word, 9, 0, register: 7) // tid
        a.load(.word, 1, 8, 56)
        a.store(.word, 9, 4, register: 1) // row
        a.load(.double, 1, 6, 8)
        a.store(.double, 9, 8, register: 1) // result
        for i in 0..<6 {
            a.load(.double, 1, 8, Int16(8 * i))
            a.store(.double, 9, Int16(16 + 8 * i), register: 1)
        }
        a.load(.double, 1, 8, 48)
        a.store(.double, 10, -16, register: 1) // the path's address
        a.load(.word, 1, 8, 60)
        a.store(.word, 10, -20, register: 1) // whether the path was read at entry
        a.callMap(dt_bpf_func_map_delete_elem, maps.pending, key: -4)
        a.store(.word, 9, 68, Int32(RecorderEvent.Kind.call.rawValue))
        a.load(.word, 1, 10, -20)
        a.jump(.equal, 1, 0, to: "read")
        a.load(.double, 1, 6, 8)
        a.jump(.notEqual, 1, 0, to: "read")
        // A successful exec: the caller's memory is the new program's now,
        // and the path was read at entry.
        a.store(.word, 9, 68, Int32(RecorderEvent.Kind.execResult.rawValue))
        a.store(.word, 9, 64, 0)
        a.move(3, 0)
        a.jump(to: "sized")
        a.label("read")
        a.move(1, register: 9)
        a.add(1, path)
        a.move(2, Int32(RecorderEvent.maximumPath))
        a.load(.double, 3, 10, -16)
        a.call(dt_bpf_func_probe_read_user_str)
        a.store(.word, 9, 64, register: 0) // the path's length with its NUL, or an error
        a.move(3, register: 0)
        a.jump(.signedLess, 3, 0, to: "empty")
        a.jump(.greater, 3, Int32(RecorderEvent.maximumPath), to: "full")
        a.jump(to: "sized")
        a.label("empty")
        a.move(3, 0)
        a.jump(to: "sized")
        a.label("full")
        a.move(3, Int32(RecorderEvent.maximumPath))
        a.label("sized")
        a.add(3, path)
        send(&a, maps: maps)
        a.label("forget")
        a.callMap(dt_bpf_func_map_delete_elem, maps.pending, key: -4)
        a.label("out")
        a.move(0, 0)
        a.exit()
        return a.program(named: "dt_sys_exit")
    }
}
