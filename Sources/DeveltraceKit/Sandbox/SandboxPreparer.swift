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
            let failed: RawPath?
            switch step {
            case .directory(let path):
                failed = path.withCString({ mkdir($0, 0o755) }) != 0 && errno != EEXIST ? path : nil
            case .symlink(let path, let target):
                failed = path.withCString({ p in target.withCString { symlink($0, p) } }) != 0 && errno != EEXIST ? path : nil
            case .emptyFile(let path):
                let fd = path.withCString { open($0, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644) }
                if fd >= 0 { close(fd) }
                failed = fd < 0 ? path : nil
            case .whiteout(let path):
                failed = path.withCString({ mknod($0, S_IFCHR | 0o000, 0) }) != 0 && errno != EEXIST ? path : nil
            case .chown(let path, let uid, let gid):
                failed = path.withCString({ chown($0, uid, gid) }) != 0 ? path : nil
            }
            if let failed { throw .preparation(failed, Errno(rawValue: errno)) }
        }
    }
}
