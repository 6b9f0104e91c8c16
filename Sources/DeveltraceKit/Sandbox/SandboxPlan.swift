import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One mount-namespace set-up step, as `dt_op` will carry it out in the
/// sandbox's init.
struct MountStep: Sendable {
    enum Kind: Int32 {
        case mount = 1, mkdir, readOnlyTree, pivotRoot, hostname, loopbackUp
    }
    var kind: Kind
    var source: RawPath? = nil
    var target: RawPath? = nil
    var fileSystem: String? = nil
    var flags: UInt = 0
    var data: String? = nil

    /// For error messages: what this step does.
    var summary: String {
        switch kind {
        case .mount:
            if fileSystem == "overlay" { return "overlay on \(target.map(\.description) ?? "")" }
            if flags & UInt(MS_BIND) != 0 { return "bind \(source.map(\.description) ?? "") on \(target.map(\.description) ?? "")" }
            return "mount \(fileSystem ?? source?.description ?? "") on \(target.map(\.description) ?? "")"
        case .mkdir: return "mkdir \(target.map(\.description) ?? "")"
        case .readOnlyTree: return "read-only remount of \(target.map(\.description) ?? "")"
        case .pivotRoot: return "pivot_root into \(target.map(\.description) ?? "")"
        case .hostname: return "sethostname"
        case .loopbackUp: return "bringing up the loopback interface"
        }
    }
}

/// The sandbox for one run: the scratch layout, the set-up steps for the
/// init, and, after the run, the writes the overlays caught.
struct SandboxPlan {
    /// Where an overlay's upper layer shows up inside the sandbox.
    private struct Layer {
        var upper: RawPath
        var lowers: [RawPath]
        var target: RawPath
    }

    private(set) var steps: [MountStep] = []
    /// Where the sandbox's root is assembled before `pivot_root`.
    private var root = RawPath("/")
    private var layers: [Layer] = []
    /// Mount points made in an upper layer before the run, not writes.
    private var premade: Set<RawPath> = []

    /// The namespaces: mount, PID, network, IPC, UTS.
    static let cloneFlags: Int32 = 0x0002_0000 | 0x2000_0000 | 0x4000_0000 | 0x0800_0000 | 0x0400_0000

    init(configuration: SandboxConfiguration, scratch: RawPath, hostMounts: [RawPath]) throws(SandboxError) {
        let slash = RawPath("/")
        let root = scratch.appending(RawPath("root"))
        self.root = root
        let rootUpper = scratch.appending(RawPath("root-upper"))
        let rootWork = scratch.appending(RawPath("root-work"))
        for directory in [root, rootUpper, rootWork] { try Self.makeDirectory(directory) }
        layers.append(Layer(upper: rootUpper, lowers: [slash], target: slash))

        func inside(_ path: RawPath) -> RawPath { root.appending(RawPath(bytes: Array(path.bytes.dropFirst()))) }
        let special = ["/proc", "/sys", "/dev", "/tmp"].map(RawPath.init)
        let submounts = hostMounts.filter { mount in
            mount != slash && !special.contains { mount.isSame(or: $0) } && !mount.isSame(or: scratch)
                && !scratch.isSame(or: mount)
        }

        steps.append(MountStep(kind: .mount, target: slash, flags: UInt(MS_REC | MS_PRIVATE)))
        try Self.checkLayerPath(rootUpper)
        steps.append(
            MountStep(
                kind: .mount, source: RawPath("overlay"), target: root, fileSystem: "overlay",
                data: "lowerdir=/,upperdir=\(rootUpper),workdir=\(rootWork)"))
        for mount in submounts.sorted(by: { $0.bytes.count < $1.bytes.count }) {
            steps.append(MountStep(kind: .mount, source: mount, target: inside(mount), flags: UInt(MS_BIND | MS_REC)))
            steps.append(MountStep(kind: .readOnlyTree, target: inside(mount)))
        }
        steps.append(MountStep(kind: .mount, source: RawPath("/dev"), target: inside(RawPath("/dev")), flags: UInt(MS_BIND | MS_REC)))
        steps.append(
            MountStep(
                kind: .mount, source: RawPath("tmpfs"), target: inside(RawPath("/dev/shm")), fileSystem: "tmpfs",
                flags: UInt(MS_NOSUID | MS_NODEV), data: "mode=1777"))
        steps.append(MountStep(kind: .mount, source: RawPath("/sys"), target: inside(RawPath("/sys")), flags: UInt(MS_BIND | MS_REC)))
        steps.append(MountStep(kind: .readOnlyTree, target: inside(RawPath("/sys"))))
        steps.append(
            MountStep(
                kind: .mount, source: RawPath("proc"), target: inside(RawPath("/proc")), fileSystem: "proc",
                flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC)))

        // Writable scratch file systems, /tmp first.
        let tmpfsTargets = [RawPath("/tmp")] + configuration.tmpfs
        for target in tmpfsTargets {
            try Self.checkAbsolute(target)
            if target != RawPath("/tmp") {
                _ = try makeMountPoint(
                    target, directory: true, rootUpper: rootUpper, submounts: submounts, mounted: tmpfsTargets, tmpfs: tmpfsTargets)
            }
            steps.append(
                MountStep(
                    kind: .mount, source: RawPath("tmpfs"), target: inside(target), fileSystem: "tmpfs",
                    flags: UInt(MS_NOSUID | MS_NODEV), data: "mode=1777"))
        }

        var mounted = tmpfsTargets
        for (index, overlay) in configuration.overlays.enumerated() {
            try Self.checkAbsolute(overlay.target)
            for lower in overlay.lowers { try Self.checkSource(lower) }
            let upper = scratch.appending(RawPath("overlay-\(index)-upper"))
            let work = scratch.appending(RawPath("overlay-\(index)-work"))
            try Self.makeDirectory(upper)
            try Self.makeDirectory(work)
            for path in overlay.lowers + [upper] { try Self.checkLayerPath(path) }
            let target = try makeMountPoint(
                overlay.target, directory: true, rootUpper: rootUpper, submounts: submounts, mounted: mounted, tmpfs: tmpfsTargets)
            steps.append(
                MountStep(
                    kind: .mount, source: RawPath("overlay"), target: inside(target), fileSystem: "overlay",
                    data: "lowerdir=\(overlay.lowers.map(\.description).joined(separator: ":")),upperdir=\(upper),workdir=\(work)"))
            layers.append(Layer(upper: upper, lowers: overlay.lowers, target: overlay.target))
            mounted.append(overlay.target)
        }

        for bind in configuration.binds {
            try Self.checkAbsolute(bind.target)
            let isDirectory = try Self.checkSource(bind.source)
            let target = try makeMountPoint(
                bind.target, directory: isDirectory, rootUpper: rootUpper, submounts: submounts, mounted: mounted, tmpfs: tmpfsTargets)
            steps.append(MountStep(kind: .mount, source: bind.source, target: inside(target), flags: UInt(MS_BIND | MS_REC)))
            if bind.readOnly { steps.append(MountStep(kind: .readOnlyTree, target: inside(target))) }
            mounted.append(bind.target)
        }

        for hidden in configuration.hidden {
            try Self.checkAbsolute(hidden)
            if let mount = (submounts + mounted).first(where: { hidden.isSame(or: $0) }) {
                throw .nested(path: hidden, under: mount)
            }
            try makeWhiteout(hidden, rootUpper: rootUpper)
        }

        steps.append(MountStep(kind: .hostname, data: configuration.hostname))
        steps.append(MountStep(kind: .loopbackUp))
        steps.append(MountStep(kind: .pivotRoot, target: root))
    }

    // MARK: Preparing the scratch layers

    private static func makeDirectory(_ path: RawPath) throws(SandboxError) {
        do throws(Errno) { try FileSystem.makeDirectory(path) } catch { throw .preparation(path, error) }
    }

    private static func makeDirectories(_ path: RawPath, below base: RawPath) throws(SandboxError) {
        let target = path.isEmpty ? base : base.appending(path)
        do throws(Errno) { try FileSystem.makeDirectories(target) } catch { throw .preparation(target, error) }
    }

    private static func checkAbsolute(_ path: RawPath) throws(SandboxError) {
        if !path.isAbsolute { throw .targetNotAbsolute(path) }
    }

    /// The source must exist; returns whether it is a directory.
    @discardableResult
    private static func checkSource(_ path: RawPath) throws(SandboxError) -> Bool {
        var status = stat()
        guard path.withCString({ stat($0, &status) }) == 0 else { throw .sourceMissing(path, Errno(rawValue: errno)) }
        return (status.st_mode & S_IFMT) == S_IFDIR
    }

    private static func checkLayerPath(_ path: RawPath) throws(SandboxError) {
        if path.bytes.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "\\") }) {
            throw .unsupportedCharacter(path)
        }
    }

    /// `path` with its deepest existing ancestor replaced by the host's real
    /// path: a mount point made in the upper layer must never shadow a
    /// symlink of the host (`/lib` → `usr/lib` on merged-/usr systems).
    static func resolvingExistingPrefix(_ path: RawPath) -> RawPath {
        var existing = path
        var rest: [RawPath] = []
        while existing.bytes.count > 1 {
            var status = stat()
            if existing.withCString({ lstat($0, &status) }) == 0 { break }
            rest.insert(existing.lastComponent, at: 0)
            existing = existing.parent
        }
        guard let real = existing.withCString({ realpath($0, nil) }) else { return path }
        defer { free(real) }
        var result = RawPath(bytes: Array(UnsafeBufferPointer(start: real, count: strlen(real))).map { UInt8(bitPattern: $0) })
        for component in rest { result = result.appending(component) }
        return result
    }

    /// Makes sure `target` exists inside the sandbox, creating it in the root
    /// overlay's upper layer (never on the host) when it does not. Returns
    /// the path to mount on (symlinks of the host resolved).
    @discardableResult
    private mutating func makeMountPoint(
        _ requested: RawPath, directory: Bool, rootUpper: RawPath, submounts: [RawPath], mounted: [RawPath],
        tmpfs: [RawPath]
    ) throws(SandboxError) -> RawPath {
        let target = mounted.contains(where: { requested.isSame(or: $0) }) ? requested : Self.resolvingExistingPrefix(requested)
        if let outer = mounted.last(where: { target != $0 && target.isSame(or: $0) }) {
            // Inside a tmpfs the init creates it; inside a bind it must exist.
            if tmpfs.contains(outer) {
                var current = RawPath("/")
                for component in target.bytes.split(separator: 47) {
                    current = current.appending(RawPath(bytes: Array(component)))
                    if current.isSame(or: outer) && current != outer {
                        steps.append(MountStep(kind: .mkdir, target: root.appending(RawPath(bytes: Array(current.bytes.dropFirst())))))
                    }
                }
                return target
            }
            var status = stat()
            if target.withCString({ lstat($0, &status) }) != 0 { throw .nested(path: target, under: outer) }
            return target
        }
        var status = stat()
        if target.withCString({ stat($0, &status) }) == 0 { return target }
        if let mount = submounts.first(where: { target.isSame(or: $0) }) {
            throw .insideHostMount(path: target, mount: mount)
        }
        let relative = RawPath(bytes: Array(target.bytes.dropFirst()))
        let parent = relative.parent
        try Self.makeDirectories(parent, below: rootUpper)
        markPremade(relative)
        let inUpper = rootUpper.appending(relative)
        if directory {
            try Self.makeDirectory(inUpper)
        } else {
            let fd = inUpper.withCString { open($0, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644) }
            if fd < 0 { throw .preparation(inUpper, Errno(rawValue: errno)) }
            close(fd)
        }
        return target
    }

    /// Records `/relative` and every directory above it as made before the
    /// run, so the write report leaves them out.
    private mutating func markPremade(_ relative: RawPath) {
        var walked = RawPath("/")
        for component in relative.bytes.split(separator: 47) {
            walked = walked.appending(RawPath(bytes: Array(component)))
            premade.insert(walked)
        }
    }

    /// An overlay whiteout (character device 0:0) in the root's upper layer.
    private mutating func makeWhiteout(_ hidden: RawPath, rootUpper: RawPath) throws(SandboxError) {
        let relative = RawPath(bytes: Array(hidden.bytes.dropFirst()))
        try Self.makeDirectories(relative.parent, below: rootUpper)
        markPremade(relative)
        let inUpper = rootUpper.appending(relative)
        if inUpper.withCString({ mknod($0, S_IFCHR | 0o000, 0) }) != 0 && errno != EEXIST {
            throw .preparation(inUpper, Errno(rawValue: errno))
        }
    }

    // MARK: After the run

    /// What the command changed, from the overlays' upper layers.
    func capturedWrites() -> [CapturedWrite] {
        var writes: [CapturedWrite] = []
        for layer in layers {
            try? DirectoryWalk.walk(layer.upper) { entry in
                let inside = layer.target.appending(entry.relativePath)
                if layer.target == RawPath("/") && premade.contains(inside) { return true }
                let existed = layer.lowers.contains { lower in
                    var status = stat()
                    return lower.appending(entry.relativePath).withCString { lstat($0, &status) } == 0
                }
                if entry.isWhiteout {
                    writes.append(CapturedWrite(path: inside, kind: .deleted, isDirectory: false))
                } else if entry.isDirectory {
                    if !existed { writes.append(CapturedWrite(path: inside, kind: .created, isDirectory: true)) }
                } else {
                    writes.append(CapturedWrite(path: inside, kind: existed ? .modified : .created, isDirectory: false))
                }
                return true
            }
        }
        return writes.sorted()
    }

    /// The host's mount points, from `/proc/self/mountinfo`.
    static func hostMountPoints() -> [RawPath] {
        guard let text = try? FileReading.bytes(of: RawPath("/proc/self/mountinfo")) else { return [] }
        var points: [RawPath] = []
        for line in text.split(separator: 10) {
            let fields = line.split(separator: 32)
            guard fields.count > 4 else { continue }
            points.append(RawPath(bytes: unescapeOctal(Array(fields[4]))))
        }
        return points
    }

    /// mountinfo escapes space, tab, newline and backslash as `\NNN`.
    private static func unescapeOctal(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == 92, i + 4 <= bytes.count,
                let value = UInt8(String(decoding: bytes[(i + 1)..<min(i + 4, bytes.count)], as: UTF8.self), radix: 8)
            {
                out.append(value)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }
}

extension RawPath {
    /// True if `self` is `other` or lies below it (component-wise).
    func isSame(or other: RawPath) -> Bool {
        if other.bytes == [47] { return isAbsolute }
        guard bytes.count >= other.bytes.count, bytes.starts(with: other.bytes) else { return false }
        return bytes.count == other.bytes.count || bytes[other.bytes.count] == 47
    }

    /// The path without its last component (`"."` for a single relative one).
    var parent: RawPath {
        guard let slash = bytes.lastIndex(of: 47) else { return RawPath(bytes: []) }
        if slash == 0 { return RawPath("/") }
        return RawPath(bytes: Array(bytes[..<slash]))
    }
}
