import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads, byte-exact.
enum FileReading {
    /// The whole contents of `path` (relative to `directory`), read into
    /// room for its size where `fstat` knows it (the kernel's types, 5 MB
    /// read 4 KB a call, grew and copied the array a dozen times). The
    /// error is read at once; an interrupted read is retried.
    static func bytes(of path: RawPath, relativeTo directory: CInt = AT_FDCWD) throws(Errno) -> [UInt8] {
        let file = try OwnedDescriptor.open(path, O_RDONLY, relativeTo: directory)
        var bytes: [UInt8] = []
        var status = stat()
        if fstat(file.raw, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0 {
            bytes.reserveCapacity(Int(status.st_size))
        }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = try valueOrErrno { buffer.withUnsafeMutableBytes { read(file.raw, $0.baseAddress, $0.count) } }
            if count == 0 { return bytes }
            bytes += buffer[0..<count]
        }
    }
}
