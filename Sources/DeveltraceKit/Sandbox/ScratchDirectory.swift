import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A private temporary directory that is removed, with everything in it,
/// when its owner goes away — also when a run fails or is interrupted.
struct ScratchDirectory: ~Copyable {
    let path: RawPath
    private var keep = false

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
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw Errno(rawValue: errno) }
        path = RawPath(bytes: template.dropLast().map { UInt8(bitPattern: $0) })
        // For debugging develtrace itself: DEVELTRACE_KEEP_SCRATCH=1 keeps it.
        keep = getenv("DEVELTRACE_KEEP_SCRATCH") != nil && prefix != "develtrace"
    }

    private static func isTmpfs(_ path: String) -> Bool {
        dt_is_tmpfs(path) == 1
    }

    /// `path/relative`.
    func appending(_ relative: String) -> RawPath { path.appending(RawPath(relative)) }

    /// Leaves the directory in place (for debugging a run).
    mutating func keepAfterRun() { keep = true }

    /// Marks the end of the owner's use; the directory goes right after.
    func endOfUse() {}

    deinit {
        if !keep { DirectoryWalk.removeTree(path) }
    }
}
