/// Combines the findings of several samples (or of several shards) into one
/// list with one finding per (class, path).
///
/// The combination does not depend on how samples were grouped: samples
/// are unioned; the earliest round, the worst severity and the least detail
/// win, and each sample keeps its own severity (`Finding.severities`); the
/// evidence kept is each sample's first `evidencePerSample` pieces (in the
/// order the classifier gave), samples in the run's order. That is what
/// makes `develtrace merge` of shards equal to an unsharded run.
enum FindingMerge {
    /// Pieces of evidence kept per sample (every sample keeps some: a JUnit
    /// suite per sample shows its own).
    static let evidencePerSample = 3

    /// `lists` in any grouping; `sampleOrder`: every sample's name, in the
    /// run's order.
    static func merge(_ lists: [[Finding]], sampleOrder: [String]) -> [Finding] {
        let rank = Dictionary(sampleOrder.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var merged: [String: Finding] = [:]
        for finding in lists.joined() {
            let key = "\(finding.class.rawValue)\u{0}\(finding.path)"
            guard var existing = merged[key] else {
                merged[key] = finding
                continue
            }
            // Samples usually agree on the detail; when not, the least one
            // (an order that does not depend on grouping).
            if let detail = finding.detail, existing.detail.map({ detail < $0 }) ?? true { existing.detail = detail }
            var severities = existing.severityBySample
            severities.merge(finding.severityBySample, uniquingKeysWith: max)
            existing.samples = Array(Set(existing.samples + finding.samples)).sorted()
            existing.round = min(existing.round, finding.round)
            existing.severity = max(existing.severity, finding.severity)
            existing.severities = Set(severities.values).count > 1 ? severities : nil
            existing.evidence = existing.evidence + finding.evidence
            merged[key] = existing
        }
        return merged.values.map { finding in
            var finding = finding
            // A stable sort keeps each sample's own order.
            let ranked = finding.evidence.enumerated().sorted { a, b in
                let (ra, rb) = (rank[a.element.sample] ?? Int.max, rank[b.element.sample] ?? Int.max)
                return ra != rb ? ra < rb : a.offset < b.offset
            }
            var perSample: [String: Int] = [:]
            finding.evidence = ranked.map(\.element).filter { evidence in
                perSample[evidence.sample, default: 0] += 1
                return perSample[evidence.sample]! <= evidencePerSample
            }
            return finding
        }.sorted { ($0.class, $0.path) < ($1.class, $1.path) }
    }

    /// Counts by class, as `CheckResult.summary` holds them.
    static func summary(_ findings: [Finding]) -> [String: Int] {
        var summary: [String: Int] = [:]
        for finding in findings { summary[finding.class.rawValue, default: 0] += 1 }
        return summary
    }
}
