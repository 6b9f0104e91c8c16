/// Which finding made a round fail or differ, by experiment.
///
/// Closure adds every file a round lacked at once, so the round's outcome
/// (failed, modules different) is shared by all of them, although one may
/// be the cause and the others harmless. When a round's outcome is shared
/// by several files closure added, each is tested alone: the last round is
/// built again without that one file, and what changes against the last
/// round's own build says what the file does (leave one out). Comparing
/// with the last round rather than with the reference keeps a cause that
/// closure cannot restore (a file the candidate has and the tree has not)
/// out of the verdict.
enum SeverityExperiment {
    /// Rebuilds per sample at most; beyond, findings keep their round's
    /// severity (the result says how many were tested).
    static let limit = 8

    /// The `missing` findings to test: those closure added (`added`, tree
    /// paths) whose round's severity they share with another finding of
    /// the same round. In order of round, then path; at most `limit`.
    static func contested(_ findings: [Finding], added: Set<String>, limit: Int = limit) -> [Finding] {
        var byRound: [Int: [Finding]] = [:]
        for finding in findings where finding.severity != .benign { byRound[finding.round, default: []].append(finding) }
        let shared = byRound.values.filter { $0.count > 1 }.joined()
        let candidates = shared.filter { $0.class == .missing && added.contains($0.path) }
        return Array(candidates.sorted { ($0.round, $0.path) < ($1.round, $1.path) }.prefix(limit))
    }

    /// What a file does, from the last round built without it: the build
    /// fails (fatal), its modules differ from the last round's (divergent),
    /// or nothing changes (benign).
    static func verdict(withoutFile succeeded: Bool, modulesDiffer: Bool) -> Severity {
        if !succeeded { return .fatal }
        return modulesDiffer ? .divergent : .benign
    }
}
