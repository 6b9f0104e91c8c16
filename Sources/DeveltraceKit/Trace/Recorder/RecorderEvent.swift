/// One record of the recorder's ring buffer, as the programs write it
/// (`RecorderPrograms`): a recorded call at its exit, or an exec's path
/// and argument vector at its entry.
struct RecorderEvent: Equatable {
    enum Kind: UInt32, Equatable {
        /// A call at its exit: its result and its path, read then.
        case call = 0
        /// An `execve` at its entry: its path and argument vector
        /// (`arguments`), read before the kernel replaces the caller's memory.
        case execArguments = 1
        /// A successful `execve` at its exit: no path (the caller's memory
        /// is the new program's); it is the last `execArguments` of the task.
        case execResult = 2
        /// A call the seccomp listener saw, at its exit: its result alone
        /// (the listener read its paths while it waited).
        case result = 3
        /// A task of the sandbox forked (`RecorderPrograms.Process`):
        /// `args[0]` the child's pid, `args[1]` its thread group's.
        case fork = 4
        /// A task executed a new program: `args[0]` the pid it had before.
        case exec = 5
        /// A task ended: `args[0]` its wait status.
        case exit = 6
    }

    /// tid (4), row (4), result (8), arguments (48), path length (4), kind
    /// (4), thread group id (4), 4 unused.
    static let headerSize = 80
    /// Where the thread group id is.
    static let groupOffset = 72
    /// Linux's PATH_MAX, with the NUL.
    static let maximumPath = 4096
    /// The `sys_exit` program's scratch value (and its largest record).
    static let size = headerSize + maximumPath
    /// The argument vector's bytes an exec record holds at most (each
    /// argument with its NUL). Kbuild's longest command lines (a compiler
    /// with every `-I` and `-D`) are a few kilobytes.
    static let argumentBytes = 64 << 10
    /// The `sys_enter` program's scratch value for an exec record: header,
    /// path, then room for `argumentBytes` and one more argument of up to
    /// that size (the verifier wants every read inside the value).
    static let execSize = headerSize + maximumPath + 2 * argumentBytes

    var kind: Kind
    var tid: Int32
    /// The task's thread group (its process's pid).
    var group: Int32 = 0
    var tableIndex: Int
    /// The system call's return value.
    var result: Int64
    /// The call's arguments; in an exec record: how many arguments were
    /// read, their bytes, and an `ExecArguments.Status`.
    var args: [UInt64]
    /// Nil when the caller's memory could not be read (or, for
    /// `execResult`, was not read).
    var path: [UInt8]?
    /// An exec record's argument vector as read; nil in other records and
    /// when it was cut or unreadable.
    var arguments: [[UInt8]]? = nil

    /// Parses one record; nil when it is too short to be one or of a kind
    /// this version does not write.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.headerSize,
            let kind = Kind(rawValue: bytes.loadUnaligned(fromByteOffset: 68, as: UInt32.self))
        else { return nil }
        self.kind = kind
        tid = bytes.loadUnaligned(fromByteOffset: 0, as: Int32.self)
        group = bytes.loadUnaligned(fromByteOffset: Self.groupOffset, as: Int32.self)
        tableIndex = Int(bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        result = bytes.loadUnaligned(fromByteOffset: 8, as: Int64.self)
        args = (0..<6).map { bytes.loadUnaligned(fromByteOffset: 16 + 8 * $0, as: UInt64.self) }
        let length = Int(bytes.loadUnaligned(fromByteOffset: 64, as: Int32.self))
        if length <= 0 {
            path = nil
        } else {
            // The length counts the NUL; a path cut at the limit has none.
            let end = min(Self.headerSize + length, bytes.count, Self.headerSize + Self.maximumPath)
            var text = Array(bytes[Self.headerSize..<end])
            if text.last == 0 { text.removeLast() }
            path = text
        }
        if kind == .execArguments {
            arguments = Self.arguments(bytes, count: Int(clamping: args[0]), length: Int(clamping: args[1]), status: args[2])
        }
    }

    /// The NUL-terminated arguments after the path slot; nil unless the
    /// program read the whole vector and it parses to `count` arguments.
    private static func arguments(_ bytes: UnsafeRawBufferPointer, count: Int, length: Int, status: UInt64) -> [[UInt8]]? {
        guard status == ExecArguments.Status.whole.rawValue else { return nil }
        let start = headerSize + maximumPath
        guard length >= 0, start + length <= bytes.count else { return nil }
        var arguments: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in bytes[start..<start + length] {
            if byte == 0 {
                arguments.append(current)
                current = []
            } else {
                current.append(byte)
            }
        }
        guard current.isEmpty, arguments.count == count else { return nil }
        return arguments
    }

    init(
        kind: Kind = .call, tid: Int32, group: Int32 = 0, tableIndex: Int, result: Int64, args: [UInt64], path: [UInt8]?,
        arguments: [[UInt8]]? = nil
    ) {
        self.kind = kind
        self.tid = tid
        self.group = group
        self.tableIndex = tableIndex
        self.result = result
        self.args = args
        self.path = path
        self.arguments = arguments
    }
}

/// What the recorder saw of a task's last `execve` at its entry: the path
/// as given and resolved, and the argument vector.
struct ExecArguments: Equatable {
    /// How far the `sys_enter` program read the argument vector.
    enum Status: UInt64 {
        case whole = 0
        /// Longer than `RecorderEvent.argumentBytes` or
        /// `RecorderPrograms.maximumArguments`.
        case cut = 1
        /// The caller's memory could not be read (a page not present).
        case unreadable = 2
    }

    /// Nil when the path could not be read.
    var raw: RawPath? = nil
    var absolute: RawPath? = nil
    /// Nil when it was cut or unreadable: the new program's
    /// `/proc/PID/cmdline` is read instead.
    var argv: [RawPath]? = nil
}
