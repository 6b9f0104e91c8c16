/// What the sandbox around a traced command looks like.
///
/// The sandbox's root is assembled in a scratch directory: the host's `/usr`
/// and `/etc` (and top-level directories such as `/lib64` that are not
/// symlinks into `/usr`) through overlays whose writes are caught, its own
/// `/dev`, `/proc` (a new PID namespace), `/tmp` and `/var/tmp`, `/sys`
/// read-only, and no network but loopback. Nothing else of the host is
/// there unless configured: read-only binds, capturing overlays, hidden
/// paths, extra tmpfs. Everything runs as root of a user namespace that maps
/// it to an unprivileged host identity (`SandboxIdentity`).
public struct SandboxConfiguration: Sendable, Hashable {
    /// A host directory or file mounted at a path inside the sandbox.
    public struct Bind: Sendable, Hashable {
        public var source: RawPath
        public var target: RawPath
        public var readOnly: Bool
        public init(source: RawPath, target: RawPath, readOnly: Bool = true) {
            self.source = source
            self.target = target
            self.readOnly = readOnly
        }
    }

    /// A host directory mounted at a path through an overlay: the command may
    /// write, its writes land in a scratch upper layer and are reported, and
    /// the host directory stays untouched.
    public struct Overlay: Sendable, Hashable {
        /// Read-only layers, the top one first.
        public var lowers: [RawPath]
        public var target: RawPath
        public init(lower: RawPath, target: RawPath) {
            self.lowers = [lower]
            self.target = target
        }
        public init(lowers: [RawPath], target: RawPath) {
            self.lowers = lowers
            self.target = target
        }
    }

    public var binds: [Bind]
    public var overlays: [Overlay]
    /// Paths that do not exist inside (an overlay whiteout hides them).
    public var hidden: [RawPath]
    /// Extra empty writable directories (a private `/tmp` is always there).
    public var tmpfs: [RawPath]
    public var hostname: String

    public init(
        binds: [Bind] = [], overlays: [Overlay] = [], hidden: [RawPath] = [], tmpfs: [RawPath] = [],
        hostname: String = "develtrace"
    ) {
        self.binds = binds
        self.overlays = overlays
        self.hidden = hidden
        self.tmpfs = tmpfs
        self.hostname = hostname
    }
}

extension SandboxConfiguration {
    /// True if the host's `path` is visible inside: under the host
    /// directories every sandbox shows, or under a configured bind or overlay
    /// (not a tmpfs: the private `/tmp` hides the host's).
    func shows(_ path: RawPath) -> Bool {
        let targets = SandboxPlan.baseDirectories + overlays.map(\.target) + binds.map(\.target)
        return targets.contains { path.isSame(or: $0) }
    }
}
