import CDeveltrace
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A private temporary directory that is removed, with everything in it,
/// when its owner goes away — also when a run fails or is interrupted.
///
/// A run killed by SIGKILL cannot remove anything, so each directory holds
/// an `flock` on its `.owner` file for as long as it lives. The kernel drops
/// that lock with the process, and the next run that makes a scratch
/// directory in the same place removes every directory whose lock it can
/// take.
struct ScratchDirectory: ~Copyable {
    let path: RawPath
    private var keep = false
    /// The open `.owner` file whose lock marks the directory as in use.
    private let owner: Int32

    static let ownerFile = ".owner"
    /// The places already swept for abandoned directories by this process
    /// (once each: a check makes a scratch directory for every build).
    private static let swept = Mutex<Set<String>>([])

    /// Creates `$TMPDIR/develtrace.XXXXXX` (mode 0700). With `preferMemory`
    /// and no `$TMPDIR`, uses `/dev/shm` when it is a tmpfs: unpacked
    /// packages are tens of thousands of small files, which a disk writes
    /// back and deletes slowly.
    init(prefix: String = "develtrace", preferMemory: Bool = false) throws(Errno) {
        var base = "/tmp"
        if let tmp = getenv("TMPDIR"), let s = String(validatingCString: tmp), s.hasPrefix("/") {
            base = s
        } else if preferMemory, Self.isTmpfs("/dev/shm") {
            base = "/dev/shm"
        }
        if Self.swept.withLock({ $0.insert("\(base)/\(prefix)").inserted }) {
            Self.removeAbandoned(in: RawPath(base), prefix: prefix)
        }
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw Errno(rawValue: errno) }
        let path = RawPath(bytes: template.dropLast().map { UInt8(bitPattern: $0) })
        do {
            owner = try Self.takeOwnership(of: path)
        } catch {
            DirectoryWalk.removeTree(path)
            throw error
        }
        self.path = path
        // For debugging develtrace itself: DEVELTRACE_KEEP_SCRATCH=1 keeps it.
        keep = getenv("DEVELTRACE_KEEP_SCRATCH") != nil && prefix != "develtrace"
    }

    private static func isTmpfs(_ path: String) -> Bool {
        dt_is_tmpfs(path) == 1
    }

    /// Locks a new `.owner` file in `directory`. It is locked under another
    /// name and then renamed, so that no other run ever sees an `.owner`
    /// that is not locked yet.
    private static func takeOwnership(of directory: RawPath) throws(Errno) -> Int32 {
        let staging = directory.appending(RawPath(ownerFile + ".new"))
        let fd = try valueOrErrno { staging.withCString { open($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) } }
        do {
            try nothingOrErrno { flock(fd, LOCK_EX | LOCK_NB) }
            let final = directory.appending(RawPath(ownerFile))
            try nothingOrErrno { staging.withCString { from in final.withCString { to in rename(from, to) } } }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Removes the `prefix.XXXXXX` directories in `base` left by runs that
    /// were killed: those with an `.owner` nobody holds a lock on any more.
    /// Directories without `.owner` (another program's, or kept for
    /// debugging) are left alone.
    /// Only the matching names are looked at: `/tmp` may hold thousands of
    /// other entries, and a `stat` of each cost every run 90 ms on a
    /// machine whose `/tmp` had 1,150.
    static func removeAbandoned(in base: RawPath, prefix: String) {
        let start = Array((prefix + ".").utf8)
        var abandoned: [RawPath] = []
        for name in (try? DirectoryWalk.names(in: base)) ?? [] where name.count == start.count + 6 && name.starts(with: start) {
            let directory = base.appending(RawPath(bytes: name))
            // A directory itself, never through a symlink of that name.
            guard
                let fd = try? valueOrErrno({
                    directory.withCString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) }
                })
            else { continue }
            let lock = openat(fd, ownerFile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            close(fd)
            guard lock >= 0 else { continue }
            if (try? nothingOrErrno({ flock(lock, LOCK_EX | LOCK_NB) })) != nil { abandoned.append(directory) }
            close(lock)
        }
        for directory in abandoned { DirectoryWalk.removeTree(directory) }
    }

    /// `path/relative`.
    func appending(_ relative: String) -> RawPath { path.appending(RawPath(relative)) }

    /// Leaves the directory in place (for debugging a run).
    mutating func keepAfterRun() { keep = true }

    /// Marks the end of the owner's use; the directory goes right after.
    func endOfUse() {}

    deinit {
        if keep {
            // Not abandoned: kept on purpose, so a later run leaves it.
            _ = appending(Self.ownerFile).withCString { unlink($0) }
        } else {
            // On every CPU: a check's scratch (an unpacked candidate, every
            // sample's builds) goes when the check is over.
            DirectoryWalk.removeTree(path, threads: max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        }
        close(owner)
    }
}
