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
        /// The version of the `dkms` that built the DKMS samples (absent
        /// when there were none).
        public var dkms: String? = nil
        /// What the samples were built for with `--arch` (absent: this
        /// machine): `arm64 (CROSS_COMPILE=aarch64-linux-gnu-)`.
        public var architecture: String? = nil
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
        /// Tree paths the candidate builds (all rounds) used successfully:
        /// what this sample took from the package.
        public var candidateFilesUsed: [String]?
        /// Rebuilds of the last round, each without one file closure added,
        /// that told apart files sharing a round's failure or difference
        /// (absent when none was needed).
        public var severityRebuilds: Int? = nil
        /// Rebuilds of the last round with undeclared system packages'
        /// files hidden, that gave `dependency` findings their severity
        /// (absent when none was needed).
        public var dependencyRebuilds: Int? = nil
        /// When the reference build reused in this run was recorded (ISO
        /// 8601), or nil when it ran in this run.
        public var referenceRecorded: String? = nil
        /// A DKMS sample's `PACKAGE_NAME` and `PACKAGE_VERSION`, as its
        /// `dkms.conf` gave them in the sandbox (absent for other kinds).
        public var packageName: String? = nil
        public var packageVersion: String? = nil
        /// The builds' states, typed: what exit statuses and reports decide
        /// on (absent in results written before they were recorded; then
        /// read back from the summaries above).
        public var referenceStatus: SampleBuildResult.State? = nil
        public var candidateStatus: SampleBuildResult.State? = nil
    }

    /// A file of the candidate: where the sandbox (an installed system)
    /// shows it, symlinks resolved, and, for a candidate given as a
    /// directory or installed root, the file on this host (absent for
    /// packages, unpacked into the run's scratch directory).
    public struct CandidateFile: Codable, Equatable, Sendable {
        public var path: String
        public var hostPath: String?
    }

    public var schemaVersion = CheckResult.schemaVersion
    public var develtraceVersion = DeveltraceVersion.current
    public var inputs: Inputs
    public var warnings: [String]
    public var samples: [SampleResult]
    public var findings: [Finding]
    /// Host files the candidate builds used that no installed package owns
    /// (sorted; absent when system dependencies were not judged).
    public var hostFilesNotOwned: [String]? = nil
    /// Where the candidate holds each tree path a sample's candidate builds
    /// used (`candidateFilesUsed`): every file under the layout's roots
    /// that has it, each place once (sorted).
    public var candidateFiles: [String: [CandidateFile]]? = nil
    /// Finding counts by class.
    public var summary: [String: Int]
    /// Candidate files no sample used (listed as `unused` findings only with
    /// `--list-unused`).
    public var unusedFiles: Int
    public var exitStatus: Int32
    /// The gate's rules (`--fail-on`), e.g. `missing`, `extra:fatal`.
    public var gate: [String]?
    /// How the findings compare with `--baseline`, when one was given.
    public var baseline: BaselineOutcome?
    /// Set in the result of one shard (`--shard K/N`); `develtrace merge`
    /// combines all of them and drops it.
    public var shard: ShardPart?

    /// What the comparison with a baseline found.
    public struct BaselineOutcome: Sendable, Codable, Equatable {
        /// The baseline file, as given.
        public var source: String
        /// Baseline entries no finding matches any more.
        public var fixed: [Baseline.Entry]
    }

    /// What one shard adds to a merge besides its samples and findings.
    public struct ShardPart: Sendable, Codable, Equatable {
        /// 1-based.
        public var index: Int
        public var count: Int
        /// Candidate files (tree-relative) this shard's samples did not use:
        /// a file is unused in the whole run when every shard lists it.
        public var unusedPaths: [String]
    }

    /// Marks findings known or new against `baseline`, lists what it fixed,
    /// and sets the exit status (`ExitStatus.check`).
    public mutating func evaluate(gate: Gate, baseline: Baseline?) {
        self.gate = gate.rules.map(\.description)
        if let baseline {
            for index in findings.indices {
                findings[index].baseline = baseline.knows(findings[index]) ? .known : .new
            }
            self.baseline = BaselineOutcome(source: baseline.source, fixed: baseline.fixed(by: findings))
        }
        exitStatus = ExitStatus.check(samples: samples, failsGate: gate.fails(findings.filter { $0.baseline != .known }))
    }

    /// The gate recorded in the result (the standard gate when absent).
    public var recordedGate: Gate {
        guard let gate else { return .standard }
        return Gate(rules: gate.compactMap(Gate.Rule.init))
    }

    /// Whether `finding` fails the recorded gate (known findings never do).
    public func failsGate(_ finding: Finding) -> Bool {
        finding.baseline != .known && recordedGate.fails([finding])
    }
}

extension CheckResult.SampleResult {
    /// What became of the reference build (read back from `reference` only
    /// for a result written before the state was recorded).
    public var referenceState: SampleBuildResult.State { referenceStatus ?? SampleBuildResult.State(summary: reference) }
    /// What became of the last candidate build; nil when none ran.
    public var candidateState: SampleBuildResult.State? {
        candidateStatus ?? (candidate == "not built" ? nil : SampleBuildResult.State(summary: candidate))
    }
}

extension SampleBuildResult {
    /// A build's status without its details: what decides exit statuses.
    public enum State: String, Sendable, Hashable, CaseIterable, Codable {
        case succeeded, failed, skipped, brokenConfiguration, timedOut

        /// Reads the state back from `Status.summary` (the JSON keeps the
        /// summary, so a saved or merged result gives the same status).
        public init(summary: String) {
            if summary == "succeeded" {
                self = .succeeded
            } else if summary.hasPrefix("skipped") {
                self = .skipped
            } else if summary.hasPrefix("broken dkms.conf") {
                self = .brokenConfiguration
            } else if summary == "timed out" {
                self = .timedOut
            } else {
                self = .failed
            }
        }

        /// The sample itself is broken: its reference build did not give a
        /// result (a skipped sample is no failure: DKMS excludes it).
        public var isBroken: Bool { self != .succeeded && self != .skipped }
    }
}

extension SampleBuildResult.Status {
    /// The state without its details.
    public var state: SampleBuildResult.State {
        switch self {
        case .succeeded: return .succeeded
        case .failed: return .failed
        case .skipped: return .skipped
        case .brokenConfiguration: return .brokenConfiguration
        case .timedOut: return .timedOut
        }
    }

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
