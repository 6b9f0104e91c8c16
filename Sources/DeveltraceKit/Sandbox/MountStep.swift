import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One mount-namespace set-up step, as `dt_op` will carry it out in the
/// sandbox's init.
struct MountStep: Sendable {
    enum Kind: Int32 {
        case mount = 1, mkdir, readOnlyTree, pivotRoot, hostname, loopbackUp, symlink, makeFile, idmappedBind
    }
    var kind: Kind
    var source: RawPath? = nil
    var target: RawPath? = nil
    var fileSystem: String? = nil
    var flags: UInt = 0
    var data: String? = nil
    /// `.idmappedBind`: whose files show as the sandbox root's.
    var idmapOwner: HostOwner? = nil

    /// For error messages and golden tests: what this step does.
    var summary: String {
        let source = source.map(\.description) ?? ""
        let target = target.map(\.description) ?? ""
        switch kind {
        case .mount:
            if fileSystem == "overlay" { return "overlay on \(target)" }
            if flags & UInt(MS_BIND) != 0 { return "bind \(source) on \(target)" }
            return "mount \(fileSystem ?? source) on \(target)"
        case .mkdir: return "mkdir \(target)"
        case .readOnlyTree: return "read-only remount of \(target)"
        case .pivotRoot: return "pivot_root into \(target)"
        case .hostname: return "sethostname"
        case .loopbackUp: return "bringing up the loopback interface"
        case .symlink: return "symlink \(target) -> \(source)"
        case .makeFile: return "mount point file \(target)"
        case .idmappedBind:
            return "idmapped bind \(source) on \(target)" + (idmapOwner.map { " (owner \($0.uid):\($0.gid))" } ?? "")
        }
    }
}
