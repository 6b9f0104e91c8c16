import Dispatch
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
    private static let typeOffset = MemoryLayout<dirent>.offset(of: \dirent.d_type)!

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
        entries(of: stream).map(\.name).sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Every entry of `stream` but `.` and `..`: its name and its `d_type`.
    private static func entries(of stream: OpaquePointer) -> [(name: [UInt8], type: UInt8)] {
        var entries: [(name: [UInt8], type: UInt8)] = []
        while let entry = readdir(stream) {
            // The name in place: a record is only d_reclen bytes long, so
            // copying the whole `dirent` (`entry.pointee`) reads past the end
            // of readdir's buffer when the record is its last (it crashed on
            // a 6.12 build tree).
            let start = UnsafeRawPointer(entry).advanced(by: Self.nameOffset).assumingMemoryBound(to: CChar.self)
            let name = Array(UnsafeRawBufferPointer(start: start, count: strlen(start)))
            if name == [46] || name == [46, 46] { continue }
            let type = UnsafeRawPointer(entry).load(fromByteOffset: Self.typeOffset, as: UInt8.self)
            entries.append((name, type))
        }
        return entries
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

    /// Removes `root` and everything below it (like `rm -rf`), byte-exact,
    /// never through a symlink: every entry is removed by name relative to
    /// its open directory. With `threads` over 1 the subtrees are shared
    /// among that many threads (an unpacked candidate is tens of thousands
    /// of files, removed at the end of a check when nothing else runs).
    static func removeTree(_ root: RawPath, threads: Int = 1) {
        guard let kind = FileSystem.kind(of: root, following: false) else { return }
        guard kind == .directory else {
            _ = root.withCString { unlink($0) }
            return
        }
        // Overlayfs leaves work directories with mode 000.
        _ = root.withCString { chmod($0, 0o700) }
        guard let fd = try? valueOrErrno({ root.withCString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) } })
        else { return }
        if threads > 1 {
            removeContents(of: fd, threads: threads)
        } else {
            removeContents(of: fd)
        }
        close(fd)
        _ = root.withCString { rmdir($0) }
    }

    /// A name in a directory, NUL-terminated, and whether it is a directory.
    private typealias Child = (name: [CChar], isDirectory: Bool)

    /// The entries of the open directory `fd` (not `.` and `..`); `fd`
    /// stays open.
    private static func children(of fd: Int32) -> [Child] {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { return [] }
        guard let stream = fdopendir(copy) else {
            close(copy)
            return []
        }
        defer { closedir(stream) }
        return entries(of: stream).map { entry in
            let name = entry.name.map { CChar(bitPattern: $0) } + [0]
            var isDirectory = entry.type == UInt8(DT_DIR)
            if entry.type == UInt8(DT_UNKNOWN) {
                var status = stat()
                isDirectory = fstatat(fd, name, &status, AT_SYMLINK_NOFOLLOW) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
            }
            return (name, isDirectory)
        }
    }

    /// Removes everything in the open directory `fd`.
    private static func removeContents(of fd: Int32) {
        for child in children(of: fd) {
            if child.isDirectory {
                removeDirectory(child.name, in: fd)
            } else {
                _ = unlinkat(fd, child.name, 0)
            }
        }
    }

    /// Removes the directory `name` of the open directory `parent` and
    /// everything in it.
    private static func removeDirectory(_ name: [CChar], in parent: Int32) {
        _ = fchmodat(parent, name, 0o700, 0)
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        if fd >= 0 {
            removeContents(of: fd)
            close(fd)
        }
        _ = unlinkat(parent, name, AT_REMOVEDIR)
    }

    /// `removeContents(of:)` on `threads` threads: the first levels are
    /// opened until there are enough subtrees to share (their files go at
    /// once), the subtrees are removed in parallel, then the opened levels
    /// deepest first.
    private static func removeContents(of fd: Int32, threads: Int) {
        var subtrees: [(parent: Int32, name: [CChar])] = []
        var opened: [(parent: Int32, name: [CChar], fd: Int32)] = []
        var level: [Int32] = [fd]
        for depth in 0... {
            var directories: [(parent: Int32, name: [CChar])] = []
            for directory in level {
                for child in children(of: directory) {
                    if child.isDirectory {
                        directories.append((directory, child.name))
                    } else {
                        _ = unlinkat(directory, child.name, 0)
                    }
                }
            }
            if directories.count >= 16 * threads || depth >= 5 {
                subtrees = directories
                break
            }
            level = []
            for directory in directories {
                _ = fchmodat(directory.parent, directory.name, 0o700, 0)
                let opening = openat(directory.parent, directory.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
                guard opening >= 0 else { continue }
                opened.append((directory.parent, directory.name, opening))
                level.append(opening)
            }
            if level.isEmpty { break }
        }
        let shared = subtrees
        DispatchQueue.concurrentPerform(iterations: shared.count) { index in
            removeDirectory(shared[index].name, in: shared[index].parent)
        }
        for directory in opened.reversed() {
            close(directory.fd)
            _ = unlinkat(directory.parent, directory.name, AT_REMOVEDIR)
        }
    }
}
