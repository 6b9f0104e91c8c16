#if canImport(Glibc)
import Glibc
#endif

/// What the sandbox plan needs to know about the host, and nothing else:
/// the plan is a pure function of these answers, so it can be tested with a
/// made-up host (`Tests/…/SandboxPlanTests.swift`) without root or mounts.
protocol HostView {
    /// What `path` is, not following a final symlink (`lstat`); nil if absent.
    func kind(of path: RawPath) -> HostFileKind?
    /// What `path` leads to, following symlinks (`stat`); nil if absent.
    func followedKind(of path: RawPath) -> HostFileKind?
    /// A symlink's target (`readlink`).
    func linkTarget(of path: RawPath) -> RawPath?
    /// `realpath(3)`.
    func realPath(of path: RawPath) -> RawPath?
    /// Who owns what `path` leads to (`stat`).
    func owner(of path: RawPath) -> HostOwner?
    /// The host's mount points (`/proc/self/mountinfo`).
    var mountPoints: [RawPath] { get }
}

enum HostFileKind: Sendable, Equatable {
    case directory, symlink, other

    /// What the plan tells apart of a `FileKind`: a regular file is other.
    init(_ kind: FileKind) {
        switch kind {
        case .directory: self = .directory
        case .symlink: self = .symlink
        case .file, .other: self = .other
        }
    }
}

extension HostView {
    /// `path` with its deepest existing ancestor replaced by the host's real
    /// path: a mount point made in an upper layer must never shadow a
    /// symlink of the host (`/lib` → `usr/lib` on merged-/usr systems).
    func resolvingExistingPrefix(_ path: RawPath) -> RawPath {
        var existing = path
        var rest: [RawPath] = []
        while existing.bytes.count > 1 {
            if kind(of: existing) != nil { break }
            rest.insert(existing.lastComponent, at: 0)
            existing = existing.parent
        }
        guard var result = realPath(of: existing) else { return path }
        for component in rest { result = result.appending(component) }
        return result
    }
}

/// The real host, through system calls.
struct LiveHostView: HostView {
    func kind(of path: RawPath) -> HostFileKind? { LiveFileFacts().kind(of: path, following: false).map(HostFileKind.init) }

    func followedKind(of path: RawPath) -> HostFileKind? {
        LiveFileFacts().kind(of: path, following: true).map(HostFileKind.init)
    }

    func linkTarget(of path: RawPath) -> RawPath? { FileSystem.readLink(path) }

    func owner(of path: RawPath) -> HostOwner? {
        guard let status = try? FileSystem.status(of: path) else { return nil }
        return HostOwner(uid: status.st_uid, gid: status.st_gid)
    }

    func realPath(of path: RawPath) -> RawPath? {
        guard let real = path.withCString({ realpath($0, nil) }) else { return nil }
        defer { free(real) }
        return RawPath(bytes: Array(UnsafeBufferPointer(start: real, count: strlen(real))).map { UInt8(bitPattern: $0) })
    }

    var mountPoints: [RawPath] { SandboxPlan.hostMountPoints() }
}
