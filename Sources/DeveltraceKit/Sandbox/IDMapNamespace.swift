import CDeveltrace
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A host file's owner.
struct HostOwner: Sendable, Hashable {
    var uid: UInt32
    var gid: UInt32
}

/// The user namespaces whose mappings idmapped binds use when develtrace
/// runs as root: one per owner of a bound directory, mapping that owner's
/// uid and gid to the sandbox's root (host `sandboxID`), so the files of a
/// tree root owns, or a user owns, show as the sandbox root's. Made once
/// per process and owner and kept open (close-on-exec); the sandbox's init
/// closes them once its mounts are made.
enum IDMapNamespace {
    private static let cache = Mutex<[HostOwner: Int32]>([:])

    static func descriptor(owner: HostOwner, sandboxID id: UInt32) throws(SandboxError) -> Int32 {
        let result: Result<Int32, Errno> = cache.withLock { cache in
            if let fd = cache[owner] { return .success(fd) }
            let fd = dt_make_user_namespace("\(owner.uid) \(id) 1\n", "\(owner.gid) \(id) 1\n")
            if fd < 0 { return .failure(Errno(rawValue: errno)) }
            cache[owner] = fd
            return .success(fd)
        }
        switch result {
        case .success(let fd): return fd
        case .failure(let error): throw .userNamespaces(.idmap(error))
        }
    }
}
