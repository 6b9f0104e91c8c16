import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One thing the plan needs in the scratch directory before the sandbox
/// starts. The preparer is the only code that writes them.
enum PreparationStep: Sendable, Equatable, CustomStringConvertible {
    case directory(RawPath)
    /// A symlink at the first path pointing at the second.
    case symlink(RawPath, target: RawPath)
    /// An empty file (a mount point for a file).
    case emptyFile(RawPath)
    /// An overlay whiteout (character device 0:0): the path is absent inside.
    case whiteout(RawPath)
    case chown(RawPath, uid: UInt32, gid: UInt32)

    /// The path the step writes.
    var path: RawPath {
        switch self {
        case .directory(let path), .symlink(let path, _), .emptyFile(let path), .whiteout(let path), .chown(let path, _, _):
            return path
        }
    }

    var description: String {
        switch self {
        case .directory(let path): return "mkdir \(path)"
        case .symlink(let path, let target): return "symlink \(path) -> \(target)"
        case .emptyFile(let path): return "create \(path)"
        case .whiteout(let path): return "whiteout \(path)"
        case .chown(let path, let uid, let gid): return "chown \(uid):\(gid) \(path)"
        }
    }
}

/// Carries out a plan's preparation in its scratch directory.
enum SandboxPreparer {
    static func prepare(_ steps: [PreparationStep]) throws(SandboxError) {
        for step in steps {
            do throws(Errno) {
                switch step {
                case .directory(let path):
                    try existingOrErrno { path.withCString { mkdir($0, 0o755) } }
                case .symlink(let path, let target):
                    try existingOrErrno { path.withCString { p in target.withCString { symlink($0, p) } } }
                case .emptyFile(let path):
                    try OwnedDescriptor.open(path, O_CREAT | O_WRONLY, mode: 0o644).close()
                case .whiteout(let path):
                    try existingOrErrno { path.withCString { mknod($0, S_IFCHR | 0o000, 0) } }
                case .chown(let path, let uid, let gid):
                    try nothingOrErrno { path.withCString { chown($0, uid, gid) } }
                }
            } catch {
                throw .preparation(step.path, error)
            }
        }
    }

    /// Like `nothingOrErrno`, and what exists already counts as made.
    private static func existingOrErrno(_ body: () -> CInt) throws(Errno) {
        do throws(Errno) { try nothingOrErrno(body) } catch  where error == .fileExists {}
    }
}
