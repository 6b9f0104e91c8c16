/// The host files a reference build depended on, found in its own trace, and
/// the decision whether a recorded build still holds: pure functions.
///
/// A reference build reads the full tree, the host's `/usr` and `/etc` (the
/// compiler, `dkms`, its configuration) and the sample; everything else it
/// saw was the sandbox's own (its `/tmp`, DKMS's tree, the copy of the sample,
/// `/proc`). A recorded build still holds when every host file it read,
/// executed, looked at or probed is as it was, and every one it looked for
/// and did not find is still absent: then building again would trace the
/// same. (A file it never looked for cannot change what it did.)
enum ReferenceInputs {
    /// The sandbox's own directories, whose contents never come from the host.
    static let privateDirectories = ["/proc", "/sys", "/dev", "/run", "/tmp", "/var"].map(RawPath.init)

    /// The host paths `outcome` depends on, in the order first seen: the
    /// paths of its looking accesses (read, exec, stat, probe, chdir) that
    /// lie where the sandbox shows the host, minus what the build itself
    /// created, wrote or deleted (those lie in an overlay's upper layer).
    /// `hostPath` maps a sandbox path to the host path behind it, or nil
    /// when the sandbox's own; host paths under `scratch` (develtrace's
    /// files bound in: the driver, the modules directory) are its own too.
    static func paths(of outcome: TraceOutcome, hostPath: (RawPath) -> RawPath?, scratch: [RawPath] = []) -> [RawPath] {
        var touched = Set(outcome.writes.map(\.path))
        for access in outcome.accesses where [.write, .create, .delete].contains(access.intent) { touched.insert(access.path) }
        var seen = Set<RawPath>()
        var paths: [RawPath] = []
        for access in outcome.accesses where ![.write, .create, .delete].contains(access.intent) {
            guard !touched.contains(access.path), let host = hostPath(access.path), !scratch.contains(where: { host.isSame(or: $0) }),
                seen.insert(host).inserted
            else { continue }
            paths.append(host)
        }
        return paths
    }

    /// The first recorded path whose fingerprint differs from `current`'s,
    /// or nil when the recording still holds.
    static func firstChange(_ recorded: [(path: RawPath, fingerprint: FileFingerprint)], current: (RawPath) -> FileFingerprint)
        -> RawPath?
    {
        recorded.first { current($0.path) != $0.fingerprint }?.path
    }
}

extension SandboxConfiguration {
    /// The host path behind `path` inside this sandbox, or nil when what is
    /// there is the sandbox's own: a writable bind (develtrace's scratch), a
    /// tmpfs, a hidden path, a private directory. A read-only bind maps onto
    /// its source, an overlay onto its lowest layer (the host directory;
    /// closure layers above it are develtrace's).
    func hostPath(of path: RawPath) -> RawPath? {
        // The deepest mount over the path decides (the full tree's overlay
        // may lie inside the tmpfs on /usr/src).
        enum Mount {
            case own
            case host(target: RawPath, source: RawPath)
        }
        var mounts: [(target: RawPath, mount: Mount)] = (tmpfs + hidden + ReferenceInputs.privateDirectories).map { ($0, .own) }
        mounts += binds.map { ($0.target, $0.readOnly ? .host(target: $0.target, source: $0.source) : .own) }
        mounts += overlays.compactMap { overlay in overlay.lowers.last.map { (overlay.target, .host(target: overlay.target, source: $0)) } }
        guard let deepest = mounts.filter({ path.isSame(or: $0.target) }).max(by: { $0.target.bytes.count < $1.target.bytes.count })
        else { return path }
        guard case .host(let target, let source) = deepest.mount else { return nil }
        let relative = path.relative(to: target)
        return relative.isEmpty ? source : source.appending(relative)
    }
}
