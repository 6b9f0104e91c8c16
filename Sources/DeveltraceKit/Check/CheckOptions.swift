import Foundation

/// What `develtrace check` was asked to do.
public struct CheckOptions: Sendable {
    public var buildTree: String
    public var sourceTree: String?
    public var candidates: [String]
    public var kbuildDir: String?
    /// Sample directories; empty: the built-in corpus.
    public var modules: [String]
    /// `modules` byte for byte (the command line's bytes need not be UTF-8).
    public var modulePaths: [RawPath]
    public var corpus: String
    public var maps: [String]
    public var jobs: Int
    public var maxRounds: Int
    public var timeout: Duration?
    public var command: [String]
    /// List every candidate file no sample used as an `unused` finding
    /// (otherwise only their number is reported).
    public var listUnused = false
    /// What fails the check (exit 1).
    public var gate = Gate.standard
    /// Findings already known: reported, but they do not fail the gate.
    public var baseline: Baseline?
    /// Build only this shard's share of the samples.
    public var shard: Shard?
    /// Rebuilds a sample may spend telling severities apart, for files
    /// (`SeverityExperiment`) and again for system packages; 0 keeps each
    /// finding's round severity (`--max-rebuilds`).
    public var maxRebuilds = SeverityExperiment.limit
    /// The machine samples are built for, when not this one (`--arch`).
    public var architecture: TargetArchitecture?
    /// Judge the system packages the candidate builds use (`dependency`
    /// findings); off with `--no-system-dependencies`.
    public var systemDependencies = true
    /// Where reference builds are recorded and reused across runs (nil:
    /// every reference build runs, nothing is recorded).
    public var referenceCache: (directory: RawPath, sizeLimit: Int64)?
    /// Where to write each sample's `ClassificationRecord` (`SAMPLE.json`),
    /// for tests that classify again without building; nil: none.
    public var recordClassification: RawPath? = nil
    /// Read-only path calls go to a seccomp listener where the kernel allows
    /// it; false (`--ptrace-only`): every call stops for ptrace.
    public var usesListener = true
    /// With the listener, the in-kernel recorder takes what it can (root);
    /// false (`--no-recorder`): the listener answers every read-only call.
    public var usesRecorder = true
    /// The recorder follows the builds' processes too where it can (root,
    /// sandbox): no ptrace stop; false (`--follow-with-ptrace`): ptrace does.
    public var followsInKernel = true

    /// `$XDG_CACHE_HOME/develtrace/references`, or under `~/.cache`.
    public static var defaultReferenceCacheDirectory: RawPath? { ReferenceCache.defaultDirectory }

    public init(
        buildTree: String, sourceTree: String? = nil, candidates: [String], kbuildDir: String? = nil, modules: [String] = [],
        corpus: String, maps: [String] = [], jobs: Int = 1, maxRounds: Int = 16, timeout: Duration? = nil, command: [String] = []
    ) {
        self.buildTree = buildTree
        self.sourceTree = sourceTree
        self.candidates = candidates
        self.kbuildDir = kbuildDir
        self.modules = modules
        self.modulePaths = modules.map(RawPath.init)
        self.corpus = corpus
        self.maps = maps
        self.jobs = jobs
        self.maxRounds = maxRounds
        self.timeout = timeout
        self.command = command
    }
}
