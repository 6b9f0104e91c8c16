/// The result of `develtrace check`, as written in JSON (`schemaVersion` 1).
/// Every array is sorted, so equal runs give byte-identical JSON.
public struct CheckResult: Sendable, Codable {
    public static let schemaVersion = 1

    public struct Inputs: Sendable, Codable {
        public var buildTree: String
        public var sourceTree: String?
        public var kernelRelease: String
        public var candidates: [String]
        public var packages: [PackageInfo]
        public var kbuildDir: String
        public var layout: String
        /// Candidate directory → tree-relative prefix ("" for the top).
        public var roots: [[String]]
        public var command: [String]
        /// First line of `gcc --version` on the machine that ran the check.
        public var compiler: String?
    }

    /// How one sample went.
    public struct SampleResult: Sendable, Codable {
        public var name: String
        public var kind: String
        public var directory: String
        /// `succeeded`, `failed (exit N)`, `skipped: …`, `broken dkms.conf: …`, `timed out`.
        public var reference: String
        public var candidate: String
        public var rounds: Int
        /// Module comparisons of the last successful candidate round.
        public var modules: [String: ModuleComparison]
        /// The tail of the failing build's log, when a build failed.
        public var log: String?
        /// Every file of the full tree the reference build used (sorted,
        /// tree-relative): what a devel package must hold for this sample.
        public var treeFilesUsed: [String]
    }

    public var schemaVersion = CheckResult.schemaVersion
    public var develtraceVersion = DeveltraceVersion.current
    public var inputs: Inputs
    public var warnings: [String]
    public var samples: [SampleResult]
    public var findings: [Finding]
    /// Finding counts by class.
    public var summary: [String: Int]
    /// Candidate files no sample used (listed as `unused` findings only with
    /// `--list-unused`).
    public var unusedFiles: Int
    public var exitStatus: Int32
}

extension SampleBuildResult.Status {
    var summary: String {
        switch self {
        case .succeeded: return "succeeded"
        case .failed(let status): return "failed (exit \(status))"
        case .skipped(let reason): return "skipped: \(reason)"
        case .brokenConfiguration(let reason): return "broken dkms.conf: \(reason)"
        case .timedOut: return "timed out"
        }
    }

    var isSuccess: Bool { self == .succeeded }
}
