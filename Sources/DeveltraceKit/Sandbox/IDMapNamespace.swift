import CDeveltrace
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The user namespace whose mapping idmapped binds use when develtrace runs
/// as root: host uid and gid 0 show as the sandbox's root (host `id`).
/// Made once per process and kept open; never passed to a command.
enum IDMapNamespace {
    private static let cache = Mutex<[UInt32: Int32]>([:])

    static func descriptor(for id: UInt32) throws(SandboxError) -> Int32 {
        let result: Result<Int32, Errno> = cache.withLock { cache in
            if let fd = cache[id] { return .success(fd) }
            let map = "0 \(id) 1\n"
            let fd = dt_make_user_namespace(map, map)
            if fd < 0 { return .failure(Errno(rawValue: errno)) }
            cache[id] = fd
            return .success(fd)
        }
        switch result {
        case .success(let fd): return fd
        case .failure(let error): throw .userNamespaces(.idmap(error))
        }
    }
}
