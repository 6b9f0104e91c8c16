import CDeveltrace
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The sandbox for one run, as data: what to prepare in the scratch
/// directory (`preparation`, carried out by `SandboxPreparer`, the only
/// writer), the set-up steps for the init (`steps`), and the overlays whose
/// upper layers `OverlayDiff` reads after the run. Making a plan reads the
/// host only through a `HostView` and writes nothing.
///
/// The root is assembled, not the host's: an empty skeleton (the host's
/// top-level symlinks such as `/bin -> usr/bin`, and mount points), `/usr`
/// and `/etc` of the host through overlays, its own `/dev`, `/proc`, `/tmp`
/// and `/var/tmp`, `/sys` read-only, and what the configuration mounts. No
/// host `/run`, `/home`, `/root` or `/var`: no host socket is reachable.
struct SandboxPlan {
    private(set) var preparation: [PreparationStep] = []
    private(set) var steps: [MountStep] = []
    /// The overlays, the root's first.
    private(set) var layers: [OverlayDiff.Layer] = []
    /// Mount points made in an upper layer before the run, not writes.
    private(set) var premade: Set<RawPath> = []
    let identity: SandboxIdentity
    /// Where the sandbox's root is assembled before `pivot_root`.
    private let root: RawPath
    private let host: any HostView
    /// What the preparation will have made (the scratch directory is new).
    private var planned: Set<RawPath> = []
    /// Upper layers of overlays whose lowers are idmapped to the sandbox's
    /// root (configured overlays, as root).
    private var mappedUppers: Set<RawPath> = []

    /// Directories of the host shown through overlays (writes are caught).
    static let baseDirectories = ["/usr", "/etc"].map(RawPath.init)
    /// Top-level names copied from the host: a symlink stays a symlink
    /// (merged `/usr`), a directory becomes a base overlay.
    static let topLevelNames = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]
    /// Device nodes bound from the host into the sandbox's own `/dev`.
    static let devices = ["null", "zero", "full", "random", "urandom", "tty"]
    /// `/proc` entries made read-only.
    static let readOnlyProc = ["sys", "sysrq-trigger", "irq", "bus"]
    /// tmpfs mounts every sandbox has, on mount points of the skeleton.
    private static let builtInTmpfs = ["/tmp", "/var/tmp"].map(RawPath.init)

    /// The namespaces: mount, PID, network, IPC, UTS (and, rootless, user).
    var cloneFlags: Int32 {
        if case .rootless = identity { return dt_clone_sandbox_namespaces | dt_clone_newuser }
        return dt_clone_sandbox_namespaces
    }

    init(
        configuration: SandboxConfiguration, scratch: RawPath, identity: SandboxIdentity, host: any HostView = LiveHostView()
    ) throws(SandboxError) {
        self.identity = identity
        self.host = host
        let slash = RawPath("/")
        let root = scratch.appending(RawPath("root"))
        self.root = root
        let skeleton = scratch.appending(RawPath("root-lower"))
        let rootUpper = scratch.appending(RawPath("root-upper"))
        let rootWork = scratch.appending(RawPath("root-work"))
        for directory in [root, skeleton, rootUpper, rootWork] { makeDirectory(directory) }
        ownUpper(rootUpper)
        layers.append(OverlayDiff.Layer(upper: rootUpper, lowers: [skeleton], target: slash))

        func inside(_ path: RawPath) -> RawPath { root.appending(RawPath(bytes: Array(path.bytes.dropFirst()))) }

        // The skeleton: mount points and the host's top-level symlinks.
        var bases = Self.baseDirectories
        for name in Self.topLevelNames {
            let path = RawPath("/" + name)
            switch host.kind(of: path) {
            case .symlink:
                if let target = host.linkTarget(of: path) { makeSymlink(skeleton.appending(RawPath(name)), target: target) }
            case .directory:
                bases.append(path)
            default:
                break
            }
        }
        for name in ["proc", "sys", "dev", "tmp", "usr", "etc", "var", "var/tmp", "run"] {
            makeDirectory(skeleton.appending(RawPath(name)))
        }

        let special = ["/proc", "/sys", "/dev", "/tmp"].map(RawPath.init)
        let submounts = host.mountPoints.filter { mount in
            bases.contains { mount != $0 && mount.isSame(or: $0) } && !special.contains { mount.isSame(or: $0) }
                && !mount.isSame(or: scratch) && !scratch.isSame(or: mount)
        }

        steps.append(MountStep(kind: .mount, target: slash, flags: UInt(MS_REC | MS_PRIVATE)))
        try Self.checkLayerPath(rootUpper)
        try Self.checkLayerPath(skeleton)
        steps.append(
            MountStep(
                kind: .mount, source: RawPath("overlay"), target: root, fileSystem: "overlay",
                data: overlayOptions(lowers: [skeleton], upper: rootUpper, work: rootWork)))
        for (index, base) in bases.enumerated() {
            let upper = scratch.appending(RawPath("base-\(index)-upper"))
            let work = scratch.appending(RawPath("base-\(index)-work"))
            makeDirectory(upper)
            makeDirectory(work)
            try Self.checkLayerPath(base)
            try Self.checkLayerPath(upper)
            steps.append(
                MountStep(
                    kind: .mount, source: RawPath("overlay"), target: inside(base), fileSystem: "overlay",
                    data: overlayOptions(lowers: [base], upper: upper, work: work)))
            layers.append(OverlayDiff.Layer(upper: upper, lowers: [base], target: base))
        }
        for mount in submounts.sorted(by: { $0.bytes.count < $1.bytes.count }) {
            steps.append(MountStep(kind: .mount, source: mount, target: inside(mount), flags: UInt(MS_BIND | MS_REC)))
            steps.append(MountStep(kind: .readOnlyTree, target: inside(mount)))
        }

        // Its own /dev: a tmpfs with the harmless device nodes bound in.
        let dev = inside(RawPath("/dev"))
        steps.append(
            MountStep(
                kind: .mount, source: RawPath("tmpfs"), target: dev, fileSystem: "tmpfs", flags: UInt(MS_NOSUID | MS_NOEXEC),
                data: "mode=0755"))
        for device in Self.devices {
            steps.append(MountStep(kind: .makeFile, target: dev.appending(RawPath(device))))
            steps.append(
                MountStep(kind: .mount, source: RawPath("/dev/\(device)"), target: dev.appending(RawPath(device)), flags: UInt(MS_BIND)))
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"),
        ] {
            steps.append(MountStep(kind: .symlink, source: RawPath(target), target: dev.appending(RawPath(name))))
        }
        for name in ["pts", "shm"] { steps.append(MountStep(kind: .mkdir, target: dev.appending(RawPath(name)))) }
        steps.append(
            MountStep(
                kind: .mount, source: RawPath("devpts"), target: dev.appending(RawPath("pts")), fileSystem: "devpts",
                flags: UInt(MS_NOSUID | MS_NOEXEC), data: "newinstance,ptmxmode=0666,mode=620"))
        steps.append(
            MountStep(
                kind: .mount, source: RawPath("tmpfs"), target: dev.appending(RawPath("shm")), fileSystem: "tmpfs",
                flags: UInt(MS_NOSUID | MS_NODEV), data: "mode=1777"))
        steps.append(MountStep(kind: .mount, source: RawPath("/sys"), target: inside(RawPath("/sys")), flags: UInt(MS_BIND | MS_REC)))
        steps.append(MountStep(kind: .readOnlyTree, target: inside(RawPath("/sys"))))
        // The PID namespace's own /proc; the kernel's knobs in it read-only.
        steps.append(
            MountStep(
                kind: .mount, source: RawPath("proc"), target: inside(RawPath("/proc")), fileSystem: "proc",
                flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC)))
        for name in Self.readOnlyProc where host.kind(of: RawPath("/proc/\(name)")) != nil {
            let path = inside(RawPath("/proc/\(name)"))
            steps.append(MountStep(kind: .mount, source: path, target: path, flags: UInt(MS_BIND | MS_REC)))
            steps.append(MountStep(kind: .readOnlyTree, target: path))
        }

        // Writable scratch file systems, /tmp first.
        let tmpfsTargets = Self.builtInTmpfs + configuration.tmpfs
        for target in tmpfsTargets {
            try Self.checkAbsolute(target)
            var placed = target
            if !Self.builtInTmpfs.contains(target) {
                placed = try makeMountPoint(target, directory: true, submounts: submounts, mounted: tmpfsTargets, tmpfs: tmpfsTargets)
            }
            steps.append(
                MountStep(
                    kind: .mount, source: RawPath("tmpfs"), target: inside(placed), fileSystem: "tmpfs",
                    flags: UInt(MS_NOSUID | MS_NODEV), data: "mode=1777"))
        }

        var mounted = tmpfsTargets
        for (index, overlay) in configuration.overlays.enumerated() {
            try Self.checkAbsolute(overlay.target)
            for lower in overlay.lowers { try checkSource(lower) }
            let upper = scratch.appending(RawPath("overlay-\(index)-upper"))
            let work = scratch.appending(RawPath("overlay-\(index)-work"))
            makeDirectory(upper)
            makeDirectory(work)
            ownUpper(upper)
            for path in overlay.lowers + [upper] { try Self.checkLayerPath(path) }
            let target = try makeMountPoint(overlay.target, directory: true, submounts: submounts, mounted: mounted, tmpfs: tmpfsTargets)
            var lowers = overlay.lowers
            if case .rootMapped = identity {
                // Through idmapped binds, root's files show as the sandbox
                // root's: a build may write there as a root build could (into
                // the upper layer, never the lower).
                lowers = []
                mappedUppers.insert(upper)
                for (layerIndex, lower) in overlay.lowers.enumerated() {
                    let mapped = scratch.appending(RawPath("overlay-\(index)-lower-\(layerIndex)"))
                    makeDirectory(mapped)
                    // First of all, before the sandbox's own mounts appear
                    // below a lower that holds the scratch directory.
                    steps.insert(
                        MountStep(kind: .idmappedBind, source: lower, target: mapped, flags: 1, idmapOwner: host.owner(of: lower)), at: 1)
                    lowers.append(mapped)
                }
            }
            steps.append(
                MountStep(
                    kind: .mount, source: RawPath("overlay"), target: inside(target), fileSystem: "overlay",
                    data: overlayOptions(lowers: lowers, upper: upper, work: work)))
            layers.append(OverlayDiff.Layer(upper: upper, lowers: overlay.lowers, target: overlay.target))
            mounted.append(overlay.target)
        }

        for bind in configuration.binds {
            try Self.checkAbsolute(bind.target)
            let isDirectory = try checkSource(bind.source)
            let target = try makeMountPoint(
                bind.target, directory: isDirectory, submounts: submounts, mounted: mounted, tmpfs: tmpfsTargets)
            if !bind.readOnly, case .rootMapped = identity {
                steps.append(
                    MountStep(kind: .idmappedBind, source: bind.source, target: inside(target), idmapOwner: host.owner(of: bind.source)))
            } else {
                steps.append(MountStep(kind: .mount, source: bind.source, target: inside(target), flags: UInt(MS_BIND | MS_REC)))
            }
            if bind.readOnly { steps.append(MountStep(kind: .readOnlyTree, target: inside(target))) }
            mounted.append(bind.target)
        }

        for hidden in configuration.hidden {
            try Self.checkAbsolute(hidden)
            // Hidden by a whiteout in the deepest overlay above it, unless a
            // bind or tmpfs lies between (it would show through that).
            let holder = layer(holding: hidden)
            let mounts = submounts + configuration.binds.map(\.target) + tmpfsTargets
            if let mount = mounts.filter({ hidden.isSame(or: $0) }).max(by: { $0.bytes.count < $1.bytes.count }),
                mount.isSame(or: holder.target)
            {
                // A fresh tmpfs holds nothing of the host: absent already.
                if tmpfsTargets.contains(mount) { continue }
                throw .nested(path: hidden, under: mount)
            }
            try makeWhiteout(hidden)
        }

        steps.append(MountStep(kind: .hostname, data: configuration.hostname))
        steps.append(MountStep(kind: .loopbackUp))
        steps.append(MountStep(kind: .pivotRoot, target: root))
    }

    /// What the command changed, from the overlays' upper layers.
    func capturedWrites() -> [CapturedWrite] {
        OverlayDiff.capturedWrites(layers: layers, premade: premade)
    }

    /// The plan as text, one step a line: the preparation, then the init's
    /// steps (golden-tested).
    /// The maps the parent writes for the init's user namespace.
    var identityMaps: IdentityMaps { IdentityMaps(identity) }

    var text: String {
        var lines = preparation.map { "prepare: \($0)" }
        lines += identityMaps.textBefore
        for step in steps {
            lines.append(
                "init: \(step.summary)" + (step.data.map { " [\($0)]" } ?? "")
                    + (step.kind == .mount && step.flags != 0 ? " flags=0x\(String(step.flags, radix: 16))" : ""))
        }
        lines += identityMaps.textAfter
        return lines.joined(separator: "\n") + "\n"
    }

    /// `lowerdir=…,upperdir=…,workdir=…`; rootless overlays keep their
    /// metadata in `user.` extended attributes (`trusted.` needs host root).
    private func overlayOptions(lowers: [RawPath], upper: RawPath, work: RawPath) -> String {
        var options = "lowerdir=\(lowers.map(\.description).joined(separator: ":")),upperdir=\(upper),workdir=\(work)"
        if case .rootless = identity { options += ",userxattr" }
        return options
    }

    // MARK: Planning the scratch layers

    private mutating func makeDirectory(_ path: RawPath) {
        guard planned.insert(path).inserted else { return }
        preparation.append(.directory(path))
    }

    private mutating func makeDirectories(_ path: RawPath, below base: RawPath) {
        var current = base
        for component in path.bytes.split(separator: 47) {
            current = current.appending(RawPath(bytes: Array(component)))
            if !planned.contains(current) && host.kind(of: current) == nil { makeDirectory(current) }
        }
    }

    /// Directories made in `holder`'s upper layer on the way to `path`.
    /// A configured overlay's lower layers show as the sandbox root's
    /// (idmapped), so its upper directories are made the sandbox root's
    /// too: otherwise a directory on the way to a whiteout would show as
    /// nobody's, and a build could no longer write into it.
    private mutating func makeUpperDirectories(_ path: RawPath, in holder: OverlayDiff.Layer) {
        let before = preparation.count
        makeDirectories(path, below: holder.upper)
        guard case .rootMapped(let id) = identity, mappedUppers.contains(holder.upper) else { return }
        for step in preparation[before...] {
            if case .directory(let made) = step { preparation.append(.chown(made, uid: id, gid: id)) }
        }
    }

    private mutating func makeSymlink(_ path: RawPath, target: RawPath) {
        guard planned.insert(path).inserted else { return }
        preparation.append(.symlink(path, target: target))
    }

    /// An upper layer's top directory is the merged directory's: owned by
    /// the sandbox's root, so a build can create files in it.
    private mutating func ownUpper(_ upper: RawPath) {
        guard case .rootMapped(let id) = identity else { return }
        preparation.append(.chown(upper, uid: id, gid: id))
    }

    private func exists(_ path: RawPath) -> Bool {
        planned.contains(path) || host.kind(of: path) != nil
    }

    private static func checkAbsolute(_ path: RawPath) throws(SandboxError) {
        if !path.isAbsolute { throw .targetNotAbsolute(path) }
    }

    /// The source must exist; returns whether it is a directory.
    @discardableResult
    private func checkSource(_ path: RawPath) throws(SandboxError) -> Bool {
        guard let kind = host.followedKind(of: path) else { throw .sourceMissing(path, .noSuchFileOrDirectory) }
        return kind == .directory
    }

    private static func checkLayerPath(_ path: RawPath) throws(SandboxError) {
        if path.bytes.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "\\") }) {
            throw .unsupportedCharacter(path)
        }
    }

    /// `path` with its deepest existing ancestor replaced by the host's real
    /// path (see `HostView.resolvingExistingPrefix`).
    static func resolvingExistingPrefix(_ path: RawPath) -> RawPath {
        LiveHostView().resolvingExistingPrefix(path)
    }

    /// The layer whose upper directory holds `path` inside the sandbox: the
    /// deepest overlay (configured or base) above it, else the skeleton's.
    private func layer(holding path: RawPath) -> OverlayDiff.Layer {
        layers.filter { path.isSame(or: $0.target) }.max { $0.target.bytes.count < $1.target.bytes.count } ?? layers[0]
    }

    /// Makes sure `target` exists inside the sandbox, creating it in the
    /// upper layer of the overlay that holds it (never on the host) when it
    /// does not. Returns the path to mount on (symlinks of the host resolved).
    @discardableResult
    private mutating func makeMountPoint(
        _ requested: RawPath, directory: Bool, submounts: [RawPath], mounted: [RawPath], tmpfs: [RawPath]
    ) throws(SandboxError) -> RawPath {
        let target = mounted.contains(where: { requested.isSame(or: $0) }) ? requested : host.resolvingExistingPrefix(requested)
        let holder = layer(holding: target)
        // A bind or tmpfs closer than any overlay above the target.
        if let outer = mounted.last(where: { target != $0 && target.isSame(or: $0) }),
            !layers.contains(where: { $0.target == outer }), outer.isSame(or: holder.target)
        {
            // Inside a tmpfs the init creates it.
            if tmpfs.contains(outer) {
                var current = RawPath("/")
                for component in target.bytes.split(separator: 47) {
                    current = current.appending(RawPath(bytes: Array(component)))
                    if current.isSame(or: outer) && current != outer {
                        let kind: MountStep.Kind = directory || current != target ? .mkdir : .makeFile
                        steps.append(MountStep(kind: kind, target: root.appending(RawPath(bytes: Array(current.bytes.dropFirst())))))
                    }
                }
                return target
            }
            // Inside a bind it must exist on the host.
            if host.kind(of: target) == nil { throw .nested(path: target, under: outer) }
            return target
        }
        // What the holding overlay's lower layers have exists inside.
        if target == holder.target { return target }
        let relative = RawPath(bytes: Array(target.bytes.dropFirst(holder.target.bytes.count == 1 ? 1 : holder.target.bytes.count + 1)))
        if holder.lowers.contains(where: { exists($0.appending(relative)) }) { return target }
        if let mount = submounts.first(where: { target.isSame(or: $0) }) {
            throw .insideHostMount(path: target, mount: mount)
        }
        makeUpperDirectories(relative.parent, in: holder)
        markPremade(target)
        let inUpper = holder.upper.appending(relative)
        if directory {
            makeDirectory(inUpper)
        } else if planned.insert(inUpper).inserted {
            preparation.append(.emptyFile(inUpper))
        }
        return target
    }

    /// Records `path` and every directory above it as made before the run,
    /// so the write report leaves them out.
    private mutating func markPremade(_ path: RawPath) {
        var walked = RawPath("/")
        for component in path.bytes.split(separator: 47) {
            walked = walked.appending(RawPath(bytes: Array(component)))
            premade.insert(walked)
        }
    }

    /// An overlay whiteout in the upper layer of the overlay that holds
    /// `hidden`.
    private mutating func makeWhiteout(_ hidden: RawPath) throws(SandboxError) {
        let holder = layer(holding: hidden)
        guard hidden != holder.target else { throw .nested(path: hidden, under: holder.target) }
        let relative = RawPath(bytes: Array(hidden.bytes.dropFirst(holder.target.bytes.count == 1 ? 1 : holder.target.bytes.count + 1)))
        makeUpperDirectories(relative.parent, in: holder)
        markPremade(hidden)
        let inUpper = holder.upper.appending(relative)
        if planned.insert(inUpper).inserted { preparation.append(.whiteout(inUpper)) }
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
