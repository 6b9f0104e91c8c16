import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Byte-exact file-system helpers shared by the sandbox, the staging and the
/// tracer (each maps the `Errno` to its own error).
enum FileSystem {
    /// `mkdir(path, 0755)`; an existing directory is fine.
    static func makeDirectory(_ path: RawPath) throws(Errno) {
        do {
            try nothingOrErrno { path.withCString { mkdir($0, 0o755) } }
        } catch {
            if error != .fileExists { throw error }
        }
    }

    /// `mkdir -p`.
    static func makeDirectories(_ path: RawPath) throws(Errno) {
        var current = RawPath(path.isAbsolute ? "/" : ".")
        for component in path.bytes.split(separator: 47) {
            current = current.appending(RawPath(bytes: Array(component)))
            try makeDirectory(current)
        }
    }

    /// The target of a symlink (`readlinkat`), or nil.
    static func readLink(_ path: RawPath, relativeTo directory: Int32 = AT_FDCWD) -> RawPath? {
        var buffer = [CChar](repeating: 0, count: 4097)
        guard let n = try? valueOrErrno({ path.withCString { readlinkat(directory, $0, &buffer, 4096) } }), n > 0 else {
            return nil
        }
        return RawPath(bytes: buffer[0..<n].map { UInt8(bitPattern: $0) })
    }

    /// The whole contents of a file (`FileReading.bytes`), nil when it
    /// cannot be opened or read.
    static func contents(of path: RawPath, relativeTo directory: Int32 = AT_FDCWD) -> [UInt8]? {
        try? FileReading.bytes(of: path, relativeTo: directory)
    }

    /// `stat` (`following`) or `lstat` of `path`; the error read at once.
    static func status(of path: RawPath, following: Bool = true) throws(Errno) -> stat {
        var status = stat()
        try nothingOrErrno { path.withCString { following ? stat($0, &status) : lstat($0, &status) } }
        return status
    }

    /// `fstat` of an open descriptor.
    static func status(of descriptor: CInt) throws(Errno) -> stat {
        var status = stat()
        try nothingOrErrno { fstat(descriptor, &status) }
        return status
    }

    /// The kind of `path`, nil when it does not exist (or, `following`, when
    /// a symlink dangles).
    static func kind(of path: RawPath, following: Bool = true) -> FileKind? {
        (try? status(of: path, following: following)).map { FileKind(mode: $0.st_mode) }
    }
}

extension FileKind {
    /// The kind a `stat`'s `st_mode` names.
    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .file
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symlink
        default: self = .other
        }
    }
}
