import CDeveltrace
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The in-kernel recorder's kernel side: its maps, its programs loaded and
/// attached, its ring buffer mapped. Loading them is most of a trace's
/// fixed cost (the verifier on the `sys_enter` program, a 16 MiB ring, a
/// preallocated call map: about 20 ms of CPU), which a check paid for every
/// build. So the objects that follow a sandbox's processes are kept for
/// the process's next trace (`following`, `release`), cleared: the gate
/// shut (no namespace passes it), no call pending, the lost-call count
/// zero, the ring read to its end. Nothing of a trace is left to the next:
/// every task of the sandbox is dead once its init is reaped (the kernel
/// kills the rest of a PID namespace with its init and waits for them), so
/// nothing passes the gate between two traces. The descriptors are
/// close-on-exec (every `bpf()` descriptor is) and go with the process.
final class RecorderObjects: @unchecked Sendable {
    /// The ring buffer's size: at about 100 bytes a record, 160,000 calls
    /// between two reads.
    static let ringSize: UInt32 = 16 << 20

    /// Whether the programs follow the sandbox's processes (the gate is a
    /// namespace) or a task map the ptrace loop fills.
    let follows: Bool
    /// The kernel's task offsets the process programs were built with.
    let types: KernelTypes?
    /// The maps, by descriptor, as the programs were built with them.
    let maps: RecorderPrograms.Maps
    /// The gate's map: the task map, or the sandbox's namespace.
    var gateMap: Int32 {
        switch maps.gate {
        case .tasks(let map), .sandbox(let map): map
        }
    }
    let programs: [Int32]
    let links: [Int32]
    let ring: dt_ringbuf

    /// Objects kept by earlier traces for the next ones: one per trace
    /// that ran at once, at most.
    final class Pool: Sendable {
        private let kept = Mutex<[RecorderObjects]>([])
        /// The process's.
        static let shared = Pool()

        init() {}

        /// How many objects are kept now.
        var count: Int { kept.withLock { $0.count } }

        fileprivate func take(_ types: KernelTypes) -> RecorderObjects? {
            kept.withLock { kept in
                guard let index = kept.lastIndex(where: { $0.types == types }) else { return nil }
                return kept.remove(at: index)
            }
        }

        fileprivate func keep(_ objects: RecorderObjects) { kept.withLock { $0.append(objects) } }

        /// Loads objects for `types` until `count` are kept, ahead of the
        /// traces that will take them; stops at the first that does not
        /// load (the trace will say why).
        func prepare(_ count: Int, for types: KernelTypes) {
            let kept = self.kept.withLock { $0.filter { $0.types == types }.count }
            for _ in kept..<max(kept, count) {
                guard let objects = try? RecorderObjects(follow: types) else { return }
                keep(objects)
            }
        }
    }

    /// Objects that follow processes with `types`: kept ones from `pool`,
    /// else new.
    static func following(_ types: KernelTypes, from pool: Pool) throws(SyscallRecorder.LoadError) -> RecorderObjects {
        if let kept = pool.take(types) { return kept }
        return try RecorderObjects(follow: types)
    }

    /// Creates the maps, loads the programs and attaches them.
    init(follow types: KernelTypes?) throws(SyscallRecorder.LoadError) {
        #if arch(x86_64)
        var descriptors: [Int32] = []
        func make(_ step: String, _ body: () -> Int32, log: String = "") throws(SyscallRecorder.LoadError) -> Int32 {
            let fd = body()
            if fd < 0 {
                let error = Errno(rawValue: errno)
                for d in descriptors.reversed() { Glibc.close(d) }
                throw .step(step, error, log: log)
            }
            descriptors.append(fd)
            return fd
        }
        let gateMap: Int32
        if types != nil {
            gateMap = try make("create the recorder's sandbox map") { dt_bpf_map_create(dt_bpf_map_array, 4, 16, 1, 0, "dt_sandbox") }
        } else {
            gateMap = try make("create the recorder's task map") {
                // Filled as tasks come (a few thousand a build): preallocating
                // 65,536 elements cost every trace 2 ms.
                dt_bpf_map_create(dt_bpf_map_hash, 4, 4, 65536, dt_bpf_f_no_prealloc, "dt_tasks")
            }
        }
        let pending = try make("create the recorder's call map") {
            dt_bpf_map_create(dt_bpf_map_hash, 4, UInt32(RecorderPrograms.pendingSize), 65536, 0, "dt_pending")
        }
        let scratch = try make("create the recorder's scratch map") {
            dt_bpf_map_create(dt_bpf_map_percpu_array, 4, UInt32(RecorderEvent.size), 1, 0, "dt_scratch")
        }
        let execScratch = try make("create the recorder's exec scratch map") {
            dt_bpf_map_create(
                dt_bpf_map_array, 4, UInt32(RecorderEvent.execSize), UInt32(SyscallRecorder.possibleCPUs()), 0, "dt_exec_scratch")
        }
        let counters = try make("create the recorder's counters") { dt_bpf_map_create(dt_bpf_map_array, 4, 8, 1, 0, "dt_counters") }
        let ringMap = try make("create the recorder's ring buffer") {
            dt_bpf_map_create(dt_bpf_map_ringbuf, 0, 0, Self.ringSize, 0, "dt_ring")
        }
        var log = [CChar](repeating: 0, count: 1 << 16)
        func load(_ name: String, _ program: BPFProgram) throws(SyscallRecorder.LoadError) -> Int32 {
            // A program with a callback needs its functions named in BTF.
            var btf: Int32 = -1
            let records = BPFTypeInfo.functionRecords(program.starts)
            if program.functions.count > 1 {
                let blob = BPFTypeInfo.blob(functions: program.functions)
                btf = blob.withUnsafeBytes { dt_bpf_btf_load($0.baseAddress, UInt32($0.count), nil, 0) }
                if btf < 0 {
                    let error = Errno(rawValue: errno)
                    for d in descriptors.reversed() { Glibc.close(d) }
                    throw .step("load the recorder's \(name) program's types", error, log: "")
                }
            }
            // The program keeps the types it needs.
            defer { if btf >= 0 { Glibc.close(btf) } }
            func attempt(_ log: UnsafeMutableBufferPointer<CChar>?) -> Int32 {
                program.instructions.withUnsafeBytes { bytes in
                    records.withUnsafeBytes { info in
                        dt_bpf_prog_load_raw_tracepoint(
                            bytes.baseAddress, UInt32(bytes.count / 8), btf, info.baseAddress, UInt32(records.count / 2),
                            log?.baseAddress, UInt32(log?.count ?? 0))
                    }
                }
            }
            // Without a log first: a log costs the load time, and the log
            // of a long program may not fit (ENOSPC).
            var fd = attempt(nil)
            var text = ""
            if fd < 0 {
                let first = errno
                fd = log.withUnsafeMutableBufferPointer { attempt($0) }
                text = log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                if fd >= 0 {
                    Glibc.close(fd)
                    fd = -1
                }
                errno = first
            }
            return try make("load the recorder's \(name) program", { fd }, log: text)
        }
        let maps = RecorderPrograms.Maps(
            gate: types == nil ? .tasks(gateMap) : .sandbox(gateMap), pending: pending, scratch: scratch, execScratch: execScratch,
            ring: ringMap, counters: counters)
        let enter = try load(
            "sys_enter",
            types == nil
                ? RecorderPrograms.enter(RecordedCall.table, maps: maps)
                : RecorderPrograms.enter(RecordedCall.followingTable, resultCalls: RecordedCall.listenedNumbers, maps: maps))
        let exit = try load("sys_exit", RecorderPrograms.exit(maps: maps))
        var programs = [enter, exit]
        var links = [
            try make("attach to sys_enter") { dt_bpf_raw_tracepoint_open("sys_enter", enter) },
            try make("attach to sys_exit") { dt_bpf_raw_tracepoint_open("sys_exit", exit) },
        ]
        if let types {
            for process in [RecorderPrograms.Process.fork, .exec, .exit] {
                let program = try load(process.tracepoint, RecorderPrograms.process(process, types: types, maps: maps))
                programs.append(program)
                links.append(try make("attach to \(process.tracepoint)") { dt_bpf_raw_tracepoint_open(process.tracepoint, program) })
            }
        }
        var ring = dt_ringbuf()
        if dt_ringbuf_open(ringMap, Self.ringSize, &ring) != 0 {
            let error = Errno(rawValue: errno)
            for d in descriptors.reversed() { Glibc.close(d) }
            throw .step("map the recorder's ring buffer", error, log: "")
        }
        self.maps = maps
        self.follows = types != nil
        self.types = types
        self.programs = programs
        self.links = links
        self.ring = ring
        #else
        throw .unsupported
        #endif
    }

    /// After a trace: objects that follow processes are cleared and kept;
    /// the others (and any that cannot be cleared) detached and freed.
    func release(to pool: Pool) {
        if follows, clear() {
            pool.keep(self)
        } else {
            close()
        }
    }

    /// Shuts the gate, forgets pending calls and the lost-call count, and
    /// reads the ring to its end. False if a map refused.
    private func clear() -> Bool {
        var key: UInt32 = 0
        var shut: [UInt64] = [0, 0]
        guard dt_bpf_map_update(gateMap, &key, &shut) == 0 else { return false }
        var zero: UInt64 = 0
        guard dt_bpf_map_update(maps.counters, &key, &zero) == 0 else { return false }
        var tid: UInt32 = 0
        while dt_bpf_map_next_key(maps.pending, nil, &tid) == 0 {
            guard dt_bpf_map_delete(maps.pending, &tid) == 0 else { return false }
        }
        var ring = self.ring
        var length: UInt32 = 0
        while dt_ringbuf_next(&ring, &length) != nil { dt_ringbuf_advance(&ring, length) }
        return true
    }

    /// Detaches the programs and frees everything (the kernel frees the
    /// maps with their last descriptor).
    private func close() {
        var ring = self.ring
        dt_ringbuf_close(&ring)
        for fd in links + programs + [gateMap, maps.pending, maps.scratch, maps.execScratch, maps.counters, maps.ring] { Glibc.close(fd) }
    }
}
