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
        let n = path.withCString { readlinkat(directory, $0, &buffer, 4096) }
        guard n > 0 else { return nil }
        return RawPath(bytes: buffer[0..<n].map { UInt8(bitPattern: $0) })
    }
}
