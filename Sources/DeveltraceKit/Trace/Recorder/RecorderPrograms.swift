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
enum RecorderPrograms {
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
    static func enter(_ calls: [RecordedCall], tasks: Int32, pending: Int32) -> [UInt8] {
        var a = BPFAssembler()
        let registers: Int16 = -176 // r10 - 176 … r10 - 9
        let value: Int16 = -240 // the pending value, 64 bytes
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
        a.callMap(dt_bpf_func_map_lookup_elem, tasks, key: -4)
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
            a.jump(to: "matched")
        }
        a.label("matched")
        for (i, offset) in argumentRegisters.enumerated() {
            a.load(.double, 1, 10, registers + offset)
            a.store(.double, 10, value + Int16(8 * i), register: 1)
        }
        a.store(.word, 10, value + 56, register: 9)
        a.store(.word, 10, value + 60, 0)
        a.move(3, register: 10)
        a.add(3, Int32(value))
        a.move(4, 0)
        a.callMap(dt_bpf_func_map_update_elem, pending, key: -4)
        a.label("out")
        a.move(0, 0)
        a.exit()
        return a.assembled()
    }

    /// The `sys_exit` program. A record the ring buffer has no room for
    /// counts in `counters[0]`.
    static func exit(pending: Int32, scratch: Int32, ring: Int32, counters: Int32) -> [UInt8] {
        var a = BPFAssembler()
        let path = Int32(RecorderEvent.headerSize)
        taskPrologue(&a)
        a.callMap(dt_bpf_func_map_lookup_elem, pending, key: -4)
        a.jump(.equal, 0, 0, to: "out")
        a.move(8, register: 0)
        a.store(.word, 10, -8, 0)
        a.callMap(dt_bpf_func_map_lookup_elem, scratch, key: -8)
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
        a.callMap(dt_bpf_func_map_delete_elem, pending, key: -4)
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
        a.loadMap(1, ring)
        a.move(2, register: 9)
        a.move(4, Int32(truncatingIfNeeded: dt_bpf_rb_no_wakeup))
        a.call(dt_bpf_func_ringbuf_output)
        a.jump(.equal, 0, 0, to: "out")
        a.store(.word, 10, -8, 0)
        a.callMap(dt_bpf_func_map_lookup_elem, counters, key: -8)
        a.jump(.equal, 0, 0, to: "out")
        a.move(1, 1)
        a.atomicAdd(0, 0, register: 1)
        a.jump(to: "out")
        a.label("forget")
        a.callMap(dt_bpf_func_map_delete_elem, pending, key: -4)
        a.label("out")
        a.move(0, 0)
        a.exit()
        return a.assembled()
    }
}

/// One recorded call as the `sys_exit` program writes it.
struct RecorderEvent: Equatable {
    /// tid (4), row (4), result (8), arguments (48), path length (4), padding (4).
    static let headerSize = 72
    /// Linux's PATH_MAX, with the NUL.
    static let maximumPath = 4096
    /// The scratch value (and the largest record).
    static let size = headerSize + maximumPath

    var tid: Int32
    var tableIndex: Int
    /// The system call's return value.
    var result: Int64
    var args: [UInt64]
    /// Nil when the caller's memory could not be read.
    var path: [UInt8]?

    /// Parses one record; nil when it is too short to be one.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.headerSize else { return nil }
        tid = bytes.loadUnaligned(fromByteOffset: 0, as: Int32.self)
        tableIndex = Int(bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        result = bytes.loadUnaligned(fromByteOffset: 8, as: Int64.self)
        args = (0..<6).map { bytes.loadUnaligned(fromByteOffset: 16 + 8 * $0, as: UInt64.self) }
        let length = Int(bytes.loadUnaligned(fromByteOffset: 64, as: Int32.self))
        if length <= 0 {
            path = nil
        } else {
            // The length counts the NUL; a path cut at the limit has none.
            let end = min(Self.headerSize + length, bytes.count)
            var text = Array(bytes[Self.headerSize..<end])
            if text.last == 0 { text.removeLast() }
            path = text
        }
    }

    init(tid: Int32, tableIndex: Int, result: Int64, args: [UInt64], path: [UInt8]?) {
        self.tid = tid
        self.tableIndex = tableIndex
        self.result = result
        self.args = args
        self.path = path
    }
}
