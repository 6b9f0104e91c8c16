/// What the sandbox around a traced command looks like.
///
/// The sandbox's root is an overlay of the host's `/` whose upper layer lives
/// in a scratch directory: nothing the command does reaches the host's files,
/// and every write it makes outside a bind is captured and reported. On top:
/// read-only binds, capturing overlays, hidden paths, a private `/tmp`, a
/// fresh `/proc` for a new PID namespace, and no network but loopback.
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
