/// The kinds of defect develtrace reports (ARCHITECTURE.md, "Findings").
public enum FindingClass: String, Sendable, Codable, CaseIterable, Comparable {
    /// Needed (read by the reference build or probed by a candidate build),
    /// present in the full tree, absent from the candidate.
    case missing
    /// Absent at its tree path, but the candidate build used a file with the
    /// same content elsewhere.
    case relocated
    /// Present in both and read, but the content differs.
    case different
    /// The candidate build created or changed a file inside the candidate.
    case treeWrite = "tree-write"
    /// A host program in the candidate failed to execute.
    case unrunnable
    /// The candidate build read a file the full tree does not have there.
    case extra
    /// The candidate build reached into the full tree or its sources.
    case outside
    /// A system package the candidate builds used that the candidate's
    /// packages do not declare, or a program they looked for that the host
    /// lacks (`path` is the package, or the program's name).
    case dependency
    /// A candidate file no sample touched (informational).
    case unused

    public static func < (a: FindingClass, b: FindingClass) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// How much a finding mattered to the builds that hit it.
public enum Severity: String, Sendable, Codable, Comparable, CaseIterable {
    /// The build succeeded and its modules are identical to the reference's.
    case benign
    /// The build succeeded but its modules differ from the reference's.
    case divergent
    /// The candidate build failed.
    case fatal

    public static func < (a: Severity, b: Severity) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One observation behind a finding: which build, which process, which call.
public struct Evidence: Sendable, Hashable, Codable {
    public var sample: String
    /// `reference`, or `candidate`.
    public var build: String
    /// Closure round of the candidate build (1 = the candidate as given).
    public var round: Int
    public var pid: Int32
    public var argv: [String]
    public var syscall: String
    /// `ok` or the errno name.
    public var errno: String
    /// The absolute path as the build named it.
    public var path: String
}

/// A file the candidate gets wrong, with the evidence.
public struct Finding: Sendable, Hashable, Codable {
    /// Tree-relative path.
    public var path: String
    public var `class`: FindingClass
    /// The worst severity among the samples that hit it.
    public var severity: Severity
    public var samples: [String]
    /// Each sample's own severity, when the samples disagree (nil when they
    /// agree): a finding fatal to a `make scripts` hook may be benign to
    /// every plain build.
    public var severities: [String: Severity]? = nil
    /// The first closure round that found it.
    public var round: Int
    /// For `relocated`: the tree path the candidate used instead; for
    /// `different`/`unrunnable`/`tree-write`: what was seen.
    public var detail: String?
    public var evidence: [Evidence]
    /// Against `--baseline`: already known, or new (nil without a baseline).
    public var baseline: BaselineStatus? = nil
}

extension Finding {
    /// The severity each sample gave it.
    public var severityBySample: [String: Severity] {
        // A result read back may name a sample twice: not a reason to trap.
        var result = Dictionary(samples.map { ($0, severity) }, uniquingKeysWith: { first, _ in first })
        for (sample, severity) in severities ?? [:] { result[sample] = severity }
        return result
    }

    /// The samples, worst severity first, for a report line:
    /// `fatal, round 2, make-scripts; benign: syncconfig, tracepoint`.
    public var severityAndSamples: String {
        let bySample = severityBySample
        var text = "\(severity.rawValue), round \(round)"
        for level in Severity.allCases.reversed() {
            let names = samples.filter { bySample[$0] == level }
            guard !names.isEmpty else { continue }
            text += level == severity ? ", " : "; \(level.rawValue): "
            text += names.joined(separator: ", ")
        }
        return text
    }
}

/// A finding compared with a baseline.
public enum BaselineStatus: String, Sendable, Codable, Hashable {
    case new
    case known
}
