import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Who the processes in the sandbox are, seen from the host.
enum SandboxIdentity: Sendable, Equatable {
    /// develtrace runs as root: the init mounts as root, then everything in
    /// the sandbox runs as root of a user namespace that maps it to
    /// `hostID`, an unprivileged identity of develtrace's own.
    case rootMapped(hostID: UInt32)
    /// develtrace runs as an ordinary user: the sandbox's root is that user.
    case rootless(uid: UInt32, gid: UInt32)

    /// The host uid and gid of the sandbox's root (what its files are owned
    /// by, and whose permissions its lookups get).
    var hostIdentity: (uid: UInt32, gid: UInt32) {
        switch self {
        case .rootMapped(let id): return (id, id)
        case .rootless(let uid, let gid): return (uid, gid)
        }
    }

    /// The host identity the sandbox's root maps to when develtrace runs as
    /// root: one uid and gid, 1000000000 unless `DEVELTRACE_SANDBOX_ID` says
    /// otherwise. No account owns it, no host file belongs to it, and it is
    /// far from the ranges `useradd` hands out in `/etc/subuid`.
    static let defaultMappedID: UInt32 = 1_000_000_000

    /// The identity for this process: root's own id for the sandbox where
    /// this user namespace can map it (root of the host, or of a container
    /// whose map holds it), the rootless way otherwise.
    static var current: SandboxIdentity {
        if geteuid() == 0 {
            let configured = getenv("DEVELTRACE_SANDBOX_ID").flatMap { UInt32(String(cString: $0)) }
            let id = configured.flatMap { $0 > 0 ? $0 : nil } ?? defaultMappedID
            if let map = try? FileReading.bytes(of: RawPath("/proc/self/uid_map")),
                mapCovers(String(decoding: map, as: UTF8.self), id)
            {
                return .rootMapped(hostID: id)
            }
        }
        return .rootless(uid: geteuid(), gid: getegid())
    }

    /// True if a `uid_map`'s text maps `id` of this namespace.
    static func mapCovers(_ map: String, _ id: UInt32) -> Bool {
        map.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).compactMap { UInt64($0) }
            return fields.count == 3 && UInt64(id) >= fields[0] && UInt64(id) < fields[0] + fields[2]
        }
    }
}
