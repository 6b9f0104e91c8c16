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
    /// Which tasks are recorded.
    enum Gate {
        /// Those in the `tasks` map (hash, tid → 1), which the ptrace loop
        /// fills as it meets them.
        case tasks(Int32)
        /// Those of the sandbox's PID namespace but its init: the map (an
        /// array of one `dev`, `ino` pair of 64-bit values, both 0 until
        /// the command may be recorded) names the namespace as
        /// `bpf_get_ns_current_pid_tgid` (Linux 5.7) takes it. No task is
        /// followed from outside: the process programs record forks, execs
        /// and exits.
        case sandbox(Int32)
    }

    /// The maps the programs use, by descriptor.
    struct Maps {
        var gate: Gate
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
    /// The same for an i386 call (ebx, ecx, edx, esi, edi, ebp).
    static let compatArgumentRegisters: [Int16] = [40, 88, 96, 104, 112, 32]
    static let codeSegment: Int16 = 136
    /// `__USER_CS`: the task runs 64-bit code (a 32-bit task's calls are
    /// the listener's).
    static let userCodeSegment: Int32 = 0x33

    /// The `row` of a pending call recorded for its result alone
    /// (`RecorderEvent.Kind.result`).
    static let resultOnly: Int32 = -1

    /// r6 = the context, r7 = the calling task's id, also at r10 - 4 (the
    /// key of the per-task maps); its thread group's id at `groupSlot`.
    private static func taskPrologue(_ a: inout BPFAssembler, groupSlot: Int16? = nil) {
        a.move(6, register: 1)
        a.call(dt_bpf_func_get_current_pid_tgid)
        a.move32(7, register: 0)
        a.store(.word, 10, -4, register: 7)
        if let groupSlot {
            a.shiftRight(0, 32)
            a.store(.word, 10, groupSlot, register: 0)
        }
    }

    /// Goes to "out" unless the calling task is one the gate records.
    /// Uses r10 - 16 … r10 - 5; keeps r6 to r9.
    private static func gate(_ a: inout BPFAssembler, _ gate: Gate) {
        switch gate {
        case .tasks(let tasks):
            a.callMap(dt_bpf_func_map_lookup_elem, tasks, key: -4)
            a.jump(.equal, 0, 0, to: "out")
        case .sandbox(let sandbox):
            a.store(.word, 10, -8, 0)
            a.callMap(dt_bpf_func_map_lookup_elem, sandbox, key: -8)
            a.jump(.equal, 0, 0, to: "out")
            a.load(.double, 1, 0, 0) // dev
            a.load(.double, 2, 0, 8) // ino
            a.jump(.equal, 2, 0, to: "out")
            a.move(3, register: 10)
            a.add(3, -16) // struct bpf_pidns_info { u32 pid, tgid; }
            a.move(4, 8)
            a.call(dt_bpf_func_get_ns_current_pid_tgid)
            a.jump(.notEqual, 0, 0, to: "out") // another namespace
            a.load(.word, 1, 10, -12)
            a.jump(.equal, 1, 1, to: "out") // the sandbox's init
        }
    }

    /// The `sys_enter` program. `resultCalls`: the x86_64 and i386 calls
    /// the seccomp listener sees, whose result alone is recorded
    /// (`RecorderEvent.Kind.result`) where no row of `calls` takes them,
    /// exactly when the filter sends them (with the sandbox gate; empty
    /// with the task map's).
    static func enter(
        _ calls: [RecordedCall], resultCalls: (x86_64: [RecordedCall.Listened], i386: [RecordedCall.Listened]) = ([], []), maps: Maps
    ) -> BPFProgram {
        var a = BPFAssembler()
        let registers: Int16 = -176 // r10 - 176 … r10 - 9
        let value: Int16 = -240 // the pending value, 64 bytes
        let cpuKey: Int16 = -248
        let argumentPointer: Int16 = -256
        // Every call of every task on the machine runs this program while
        // a trace is on: the call's number is tested first, a few
        // comparisons, before the task's lookup in a hash map.
        let following = !resultCalls.x86_64.isEmpty || !resultCalls.i386.isEmpty
        a.load(.double, 8, 1, 8) // the call's number
        for number in Set(calls.map(\.number) + resultCalls.x86_64.map(\.number) + resultCalls.i386.map(\.number)).sorted() {
            a.jump32(.equal, 8, Int32(bitPattern: number), to: "recorded")
        }
        a.jump(to: "out")
        a.label("recorded")
        taskPrologue(&a)
        gate(&a, maps.gate)
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
        a.jump(.notEqual, 1, userCodeSegment, to: following ? "compat" : "out")
        for (k, call) in calls.enumerated() {
            let next = k + 1 < calls.count ? "call\(k + 1)" : "unrecorded"
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
        a.label("unrecorded")
        if following {
            // The filter's conditions, so that a result comes for exactly
            // the calls the listener sees.
            for (abi, list, argumentRegisters) in [
                ("listened", resultCalls.x86_64, argumentRegisters), ("compat", resultCalls.i386, compatArgumentRegisters),
            ] {
                a.label(abi)
                for (k, call) in list.enumerated() {
                    let next = "\(abi)\(k + 1)"
                    if k > 0 { a.label("\(abi)\(k)") }
                    a.jump32(.notEqual, 8, Int32(bitPattern: call.number), to: next)
                    if let flags = call.emptyPathFlags {
                        a.load(.double, 1, 10, registers + argumentRegisters[flags])
                        a.and32(1, UInt32(dt_at_empty_path))
                        a.jump32(.notEqual, 1, 0, to: "out")
                    }
                    if let argument = call.nullArgument {
                        a.load(.double, 1, 10, registers + argumentRegisters[argument])
                        a.jump(.equal, 1, 0, to: "out")
                    }
                    a.jump(to: "resultOnly")
                }
                a.label("\(abi)\(list.count)")
                a.jump(to: "out")
            }
            a.label("resultOnly")
            a.move(9, resultOnly)
            a.store(.double, 10, value + 48, 0)
            // The call's number, where an exec's flag is otherwise.
            a.store(.word, 10, value + 60, register: 8)
        } else {
            a.jump(to: "out")
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
        // An i386 call's number may be a recorded exec's on x86_64.
        if following { a.jump32(.equal, 9, resultOnly, to: "out") }
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
        a.call(dt_bpf_func_get_current_pid_tgid)
        a.shiftRight(0, 32)
        a.store(.word, 6, Int16(RecorderEvent.groupOffset), register: 0)
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
        taskPrologue(&a, groupSlot: -24)
        a.callMap(dt_bpf_func_map_lookup_elem, maps.pending, key: -4)
        a.jump(.equal, 0, 0, to: "out")
        a.move(8, register: 0)
        a.store(.word, 10, -8, 0)
        a.callMap(dt_bpf_func_map_lookup_elem, maps.scratch, key: -8)
        a.jump(.equal, 0, 0, to: "forget")
        a.move(9, register: 0)
        a.store(.word, 9, 0, register: 7) // tid
        a.load(.word, 1, 10, -24)
        a.store(.word, 9, Int16(RecorderEvent.groupOffset), register: 1)
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
        a.load(.word, 1, 9, 4)
        a.jump32(.equal, 1, resultOnly, to: "result")
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
        a.label("result")
        a.load(.word, 1, 10, -20)
        a.store(.word, 9, 4, register: 1) // the call's number for the row
        a.store(.word, 9, 68, Int32(RecorderEvent.Kind.result.rawValue))
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

    /// The process programs, for a trace whose gate is the sandbox's PID
    /// namespace: each writes one record (`RecorderEvent.headerSize`
    /// bytes, built on its stack) into the ring for a task of the sandbox.
    /// The ring's order is the order the kernel did things in: a fork's
    /// record comes before anything the child does (the tracepoint runs
    /// in the parent before the child is first woken), an exec's before its
    /// `sys_exit` record, an exit's after the task's last call.
    enum Process {
        /// `sched_process_fork` (parent, child): `args[0]`, `args[1]`: the
        /// child's pid and thread group id, read at `types`' offsets.
        case fork
        /// `sched_process_exec` (task, old pid, …): `args[0]`: the pid the
        /// task had before (a thread other than the leader takes the
        /// leader's); its call waiting in `pending` moves to the new pid.
        case exec
        /// `sched_process_exit` (task): `args[0]`: `exit_code`, a wait
        /// status; `args[1]`: the time (`CLOCK_MONOTONIC`, ns); anything
        /// of the task still in `pending` goes.
        case exit

        var tracepoint: String {
            switch self {
            case .fork: "sched_process_fork"
            case .exec: "sched_process_exec"
            case .exit: "sched_process_exit"
            }
        }

        var kind: RecorderEvent.Kind {
            switch self {
            case .fork: .fork
            case .exec: .exec
            case .exit: .exit
            }
        }
    }

    /// One process program (`Process`).
    static func process(_ process: Process, types: KernelTypes, maps: Maps) -> BPFProgram {
        var a = BPFAssembler()
        let record: Int16 = -112 // RecorderEvent.headerSize bytes
        let group: Int16 = -24
        let scratch: Int16 = -32
        taskPrologue(&a, groupSlot: group)
        gate(&a, maps.gate)
        for offset in stride(from: 0, to: RecorderEvent.headerSize, by: 8) {
            a.store(.double, 10, record + Int16(offset), 0)
        }
        a.store(.word, 10, record, register: 7)
        a.load(.word, 1, 10, group)
        a.store(.word, 10, record + Int16(RecorderEvent.groupOffset), register: 1)
        a.store(.word, 10, record + 68, Int32(process.kind.rawValue))
        /// args[index] = the 32-bit value at `field` of the task at r8.
        func readTaskField(_ field: Int, into index: Int16) {
            a.move(1, register: 10)
            a.add(1, Int32(scratch))
            a.move(2, 4)
            a.move(3, register: 8)
            a.add(3, Int32(field))
            a.call(dt_bpf_func_probe_read_kernel)
            a.jump(.notEqual, 0, 0, to: "out")
            a.load(.word, 1, 10, scratch)
            a.store(.word, 10, record + 16 + 8 * index, register: 1)
        }
        switch process {
        case .fork:
            a.load(.double, 8, 6, 8) // the child's task_struct
            readTaskField(types.taskPid, into: 0)
            readTaskField(types.taskThreadGroup, into: 1)
        case .exec:
            a.load(.double, 8, 6, 8) // the old pid
            a.move32(8, register: 8)
            a.store(.word, 10, record + 16, register: 8)
            a.jump32(.equal, 8, register: 7, to: "send")
            a.store(.word, 10, scratch, register: 8)
            a.callMap(dt_bpf_func_map_lookup_elem, maps.pending, key: scratch)
            a.jump(.equal, 0, 0, to: "send")
            a.move(3, register: 0)
            a.move(4, 0)
            a.callMap(dt_bpf_func_map_update_elem, maps.pending, key: -4)
            a.callMap(dt_bpf_func_map_delete_elem, maps.pending, key: scratch)
        case .exit:
            a.callMap(dt_bpf_func_map_delete_elem, maps.pending, key: -4)
            a.call(dt_bpf_func_ktime_get_ns)
            a.store(.double, 10, record + 24, register: 0)
            a.call(dt_bpf_func_get_current_task)
            a.move(8, register: 0)
            readTaskField(types.taskExitCode, into: 0)
        }
        a.label("send")
        a.move(9, register: 10)
        a.add(9, Int32(record))
        a.move(3, Int32(RecorderEvent.headerSize))
        send(&a, maps: maps)
        a.label("out")
        a.move(0, 0)
        a.exit()
        return a.program(named: "dt_" + process.tracepoint)
    }
}
