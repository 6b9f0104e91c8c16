import SystemPackage

/// What a process wanted from a path.
public enum AccessIntent: String, Sendable, Codable, CaseIterable {
    /// Opened for reading, or a directory opened to list it.
    case read
    /// Opened for writing, truncated, or had its metadata changed.
    case write
    /// Created: `O_CREAT`, `mkdir`, `mknod`, `symlink`/`link`/`rename` targets.
    case create
    /// Removed: `unlink`, `rmdir`, a `rename` source.
    case delete
    /// Executed with `execve`/`execveat`.
    case exec
    /// Looked at: `stat` family, `readlink`, `statfs`, xattr reads, `O_PATH`.
    case stat
    /// Asked whether it may be used: `access`/`faccessat`.
    case probe
    /// Made the working directory (`chdir`, `chroot`).
    case chdir
}

/// How a path system call ended.
public enum AccessResult: Hashable, Sendable, CustomStringConvertible {
    case ok
    case failed(Errno)

    public var isOK: Bool { self == .ok }

    /// `ok`, or the errno's symbolic name (`ENOENT`).
    public var description: String {
        switch self {
        case .ok: return "ok"
        case .failed(let errno): return errno.symbolicName
        }
    }

    /// What a system call's return value says: `-errno` (-4095 … -1) is a
    /// failure, anything else success. Nil for the values a call
    /// interrupted by a signal returns on its way to being restarted
    /// (`ERESTARTSYS` … `ERESTART_RESTARTBLOCK`, -512 … -516): the call
    /// comes again and is recorded then.
    init?(returnValue value: Int64) {
        if (-516 ... -512).contains(value) { return nil }
        self = (-4095 ... -1).contains(value) ? .failed(Errno(rawValue: Int32(-value))) : .ok
    }

    /// Parses what `description` printed.
    public init?(name: String) {
        if name == "ok" {
            self = .ok
        } else if let value = ErrnoNames.byName[name] {
            self = .failed(Errno(rawValue: value))
        } else if name.hasPrefix("E"), let value = CInt(name.dropFirst()) {
            self = .failed(Errno(rawValue: value))
        } else {
            return nil
        }
    }
}

/// One path a traced process named in one system call, with the result.
public struct FileAccess: Hashable, Sendable {
    /// The thread that made the call (its process is `process`).
    public var pid: Int32
    /// The thread group (process) of `pid`.
    public var process: Int32
    /// The system call's name (`openat`, `newfstatat`, `execve`, …).
    public var syscall: String
    /// The absolute path, joined with the working directory or the directory
    /// file descriptor it was relative to (`.` removed, `..` kept).
    public var path: RawPath
    /// The path exactly as the process passed it.
    public var rawPath: RawPath
    public var intent: AccessIntent
    public var result: AccessResult
    /// Position in the trace (0-based), for a stable order.
    public var sequence: Int

    public init(
        pid: Int32, process: Int32, syscall: String, path: RawPath, rawPath: RawPath,
        intent: AccessIntent, result: AccessResult, sequence: Int
    ) {
        self.pid = pid
        self.process = process
        self.syscall = syscall
        self.path = path
        self.rawPath = rawPath
        self.intent = intent
        self.result = result
        self.sequence = sequence
    }
}

/// A process seen during a trace: the evidence behind its accesses.
public struct TracedProcess: Hashable, Sendable {
    /// What names it in the trace (`FileAccess.process`, a child's
    /// `parent`): its pid, unless another process of the trace had that pid
    /// before it (a long build wraps around `pid_max`); then a number no pid
    /// can be, counted down from `Int32.max`.
    public var id: Int32
    public var pid: Int32
    /// The `id` of the process that forked it, or 0 for the traced command
    /// itself.
    public var parent: Int32
    /// The argument vector of its last successful exec (the parent's, if it
    /// never executed anything of its own).
    public var argv: [RawPath]
    /// The program of its last successful exec.
    public var executable: RawPath?
    /// How it ended: exit code, or 128+N for signal N; nil if unknown.
    public var exitStatus: Int32?

    public init(id: Int32? = nil, pid: Int32, parent: Int32, argv: [RawPath], executable: RawPath?, exitStatus: Int32? = nil) {
        self.id = id ?? pid
        self.pid = pid
        self.parent = parent
        self.argv = argv
        self.executable = executable
        self.exitStatus = exitStatus
    }
}
