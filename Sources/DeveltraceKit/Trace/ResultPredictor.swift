import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Learns the result of a read-only path system call at its entry stop by
/// making the same lookup from the tracer, so the tracee needs no second
/// stop at the syscall's exit (each stop costs two context switches).
///
/// The tracer thread shares the sandbox's mount namespace and root (see
/// `TraceSession`), relative paths are looked up from the tracee's own
/// working directory or directory descriptor (opened through
/// `/proc/PID/cwd` and `/proc/PID/fd/N`), and the lookups use `OpenFlags.path.rawValue`,
/// `fstatat`, `readlinkat`, `faccessat2` and `statfs`: nothing is opened for
/// reading, no device is touched, no atime changes. The tracer runs as the
/// same user as the tracee, so permission checks agree.
///
/// Not predicted (the loop takes the exit stop instead): anything that
/// creates, writes or deletes; `exec` (only the kernel knows); `openat2`;
/// paths under `/proc`, `/sys` and `/dev`, where the answer depends on who
/// asks (`/proc/self`, `/dev/tty`); processes after a `chroot`.
struct ResultPredictor {
    private let proc: FileDescriptor
    /// Working directories by task: an `OpenFlags.path.rawValue` descriptor and the path.
    private var workingDirectories: [pid_t: (fd: Int32, path: RawPath)] = [:]

    init(proc: FileDescriptor) {
        self.proc = proc
    }

    /// The directory a relative path of `pid` starts from, as a path.
    mutating func workingDirectory(of pid: pid_t) -> RawPath? {
        cachedWorkingDirectory(pid)?.path
    }

    private mutating func cachedWorkingDirectory(_ pid: pid_t) -> (fd: Int32, path: RawPath)? {
        if let cached = workingDirectories[pid] { return cached }
        guard let path = link(pid, "cwd") else { return nil }
        let fd = "\(pid)/cwd".withCString { openat(proc.rawValue, $0, OpenFlags.path.rawValue | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        workingDirectories[pid] = (fd, path)
        return (fd, path)
    }

    /// Forgets every working directory (after `chdir`/`fchdir`: threads may
    /// share theirs).
    mutating func invalidateWorkingDirectories() {
        for entry in workingDirectories.values { close(entry.fd) }
        workingDirectories.removeAll(keepingCapacity: true)
    }

    mutating func forget(_ pid: pid_t) {
        if let entry = workingDirectories.removeValue(forKey: pid) { close(entry.fd) }
    }

    /// The target of `/proc/PID/NAME` (a magic link: `cwd`, `fd/N`).
    func link(_ pid: pid_t, _ name: String) -> RawPath? {
        FileSystem.readLink(RawPath("\(pid)/\(name)"), relativeTo: proc.rawValue)
    }

    private static let unpredictableRoots = ["/proc", "/sys", "/dev"].map(RawPath.init)

    /// The result the call would have, or nil when only its exit can tell.
    mutating func predict(
        _ lookup: ResultLookup, pid: pid_t, raw: RawPath, absolute: RawPath, dirfd: Int32?, args: [UInt64]
    ) -> AccessResult? {
        if Self.unpredictableRoots.contains(where: { absolute.isSame(or: $0) }) { return nil }
        // The directory the lookup starts from, as the tracee would use it.
        var start = AT_FDCWD
        var opened: Int32 = -1
        if !raw.isAbsolute {
            if let dirfd, dirfd != AT_FDCWD {
                opened = "\(pid)/fd/\(dirfd)".withCString { openat(proc.rawValue, $0, OpenFlags.path.rawValue | O_CLOEXEC) }
                guard opened >= 0 else { return nil }
                start = opened
            } else {
                guard let cwd = cachedWorkingDirectory(pid) else { return nil }
                start = cwd.fd
            }
        }
        defer { if opened >= 0 { close(opened) } }

        let rc: Int32 = raw.withCString { path in
            switch lookup {
            case .open(let flagsArgument):
                let flags = Int32(truncatingIfNeeded: args[flagsArgument])
                let intent = OpenFlags(rawValue: flags).intent
                guard intent == .read || intent == .stat else { return Int32.min }
                let fd = openat(start, path, OpenFlags.path.rawValue | O_CLOEXEC | (flags & (O_NOFOLLOW | O_DIRECTORY)))
                if fd < 0 { return -1 }
                defer { close(fd) }
                if flags & O_NOFOLLOW != 0 && flags & OpenFlags.path.rawValue == 0 {
                    // OpenFlags.path.rawValue|O_NOFOLLOW opens a symlink itself; a real open fails.
                    var status = stat()
                    if fstat(fd, &status) == 0 && (status.st_mode & S_IFMT) == S_IFLNK {
                        errno = ELOOP
                        return -1
                    }
                }
                return 0
            case .stat(let flagsArgument, let followsSymlink):
                var flags: Int32 = followsSymlink ? 0 : AT_SYMLINK_NOFOLLOW
                if let flagsArgument {
                    flags = Int32(truncatingIfNeeded: args[flagsArgument]) & (AT_SYMLINK_NOFOLLOW | 0x800 /* AT_NO_AUTOMOUNT */)
                }
                var status = stat()
                return fstatat(start, path, &status, flags)
            case .readlink(let sizeArgument):
                guard Int64(bitPattern: args[sizeArgument]) > 0 else { return Int32.min }
                var buffer = [CChar](repeating: 0, count: 4096)
                return readlinkat(start, path, &buffer, 4096) < 0 ? -1 : 0
            case .access(let modeArgument, let flagsArgument):
                let mode = Int32(truncatingIfNeeded: args[modeArgument])
                let flags = flagsArgument.map { Int32(truncatingIfNeeded: args[$0]) } ?? 0
                return dt_faccessat2(start, path, mode, flags)
            case .statfs:
                // statfs fails only when the lookup does.
                let fd = openat(start, path, OpenFlags.path.rawValue | O_CLOEXEC)
                if fd < 0 { return -1 }
                close(fd)
                return 0
            }
        }
        if rc == Int32.min { return nil }
        return rc == 0 ? .ok : .failed(Errno(rawValue: errno))
    }
}
