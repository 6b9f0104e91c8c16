import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One entry found by `DirectoryWalk`.
struct DirectoryEntry {
    /// Path relative to the walk's root.
    var relativePath: RawPath
    var status: stat
    var isDirectory: Bool { (status.st_mode & S_IFMT) == S_IFDIR }
    var isRegularFile: Bool { (status.st_mode & S_IFMT) == S_IFREG }
    var isSymlink: Bool { (status.st_mode & S_IFMT) == S_IFLNK }
    /// An overlayfs whiteout: a character device 0:0.
    var isWhiteout: Bool { (status.st_mode & S_IFMT) == S_IFCHR && status.st_rdev == 0 }
}

/// Byte-exact recursive directory walks (no String conversion of names),
/// never following symlinks.
enum DirectoryWalk {
    private static let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!

    /// Calls `visit` for every entry below `root`, parents before children.
    /// `visit` returns false to skip a directory's contents.
    static func walk(_ root: RawPath, _ visit: (DirectoryEntry) -> Bool) throws(Errno) {
        let fd = try valueOrErrno { root.withCString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) } }
        try walk(directory: fd, prefix: RawPath(bytes: []), visit)
    }

    /// The names in `directory` (not `.` and `..`), sorted, without a
    /// `stat` of each: for a directory of many entries where only a few
    /// names matter (`/tmp`).
    static func names(in directory: RawPath) throws(Errno) -> [[UInt8]] {
        let fd = try valueOrErrno { directory.withCString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) } }
        guard let stream = fdopendir(fd) else {
            // errno first: close may change it.
            let error = Errno(rawValue: errno)
            close(fd)
            throw error
        }
        defer { closedir(stream) }
        return names(of: stream)
    }

    private static func names(of stream: OpaquePointer) -> [[UInt8]] {
        var names: [[UInt8]] = []
        while let entry = readdir(stream) {
            // The name in place: a record is only d_reclen bytes long, so
            // copying the whole `dirent` (`entry.pointee`) reads past the end
            // of readdir's buffer when the record is its last (it crashed on
            // a 6.12 build tree).
            let start = UnsafeRawPointer(entry).advanced(by: Self.nameOffset).assumingMemoryBound(to: CChar.self)
            let name = Array(UnsafeRawBufferPointer(start: start, count: strlen(start)))
            if name == [46] || name == [46, 46] { continue }
            names.append(name)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        return names
    }

    private static func walk(directory fd: Int32, prefix: RawPath, _ visit: (DirectoryEntry) -> Bool) throws(Errno) {
        guard let stream = fdopendir(fd) else {
            // errno first: close may change it.
            let error = Errno(rawValue: errno)
            close(fd)
            throw error
        }
        defer { closedir(stream) }
        let names = names(of: stream)
        for name in names {
            var status = stat()
            let rc = name.withUnsafeBufferPointer { buffer -> Int32 in
                var terminated = Array(buffer).map { CChar(bitPattern: $0) }
                terminated.append(0)
                return fstatat(dirfd(stream), terminated, &status, AT_SYMLINK_NOFOLLOW)
            }
            if rc != 0 { continue }
            let relative = prefix.isEmpty ? RawPath(bytes: name) : RawPath(bytes: prefix.bytes + [47] + name)
            let entry = DirectoryEntry(relativePath: relative, status: status)
            if visit(entry), entry.isDirectory {
                var terminated = name.map { CChar(bitPattern: $0) }
                terminated.append(0)
                let child = openat(dirfd(stream), terminated, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
                if child >= 0 { try? walk(directory: child, prefix: relative, visit) }
            }
        }
    }

    /// Removes `root` and everything below it (like `rm -rf`), byte-exact.
    static func removeTree(_ root: RawPath) {
        guard let kind = FileSystem.kind(of: root, following: false) else { return }
        if kind == .directory {
            // Overlayfs leaves work directories with mode 000.
            _ = root.withCString { chmod($0, 0o700) }
            var children: [RawPath] = []
            try? walk(root) { entry in
                children.append(root.appending(entry.relativePath))
                if entry.isDirectory { _ = root.appending(entry.relativePath).withCString { chmod($0, 0o700) } }
                return true
            }
            for child in children.reversed() {
                _ = child.withCString { unlinkat(AT_FDCWD, $0, 0) == 0 ? 0 : rmdir($0) }
            }
            _ = root.withCString { rmdir($0) }
        } else {
            _ = root.withCString { unlink($0) }
        }
    }
}
