/// Which finding made a round fail or differ, by experiment.
///
/// Closure adds every file a round lacked at once, so the round's outcome
/// (failed, modules different) is shared by all of them, although one may
/// be the cause and the others harmless. When a round's outcome is shared
/// by several files closure added, they are tested by holding them out of
/// the last round: the last round is built again without them, and what
/// changes against the last round's own build says what they do. Comparing
/// with the last round rather than with the reference keeps a cause that
/// closure cannot restore (a file the candidate has and the tree has not)
/// out of the verdict.
///
/// Held out one at a time, n files cost n rebuilds; a `make scripts` round
/// lacks twenty. So they are held out in groups (`Bisection`): a group
/// whose absence changes nothing is benign as a whole, one that changes
/// something is split in two, and a single file's verdict is its own. This
/// assumes that holding out more files never makes a build better (a
/// missing file does not repair another's absence); two files that stand in
/// for each other (either one suffices) come out benign each, as they would
/// held out one at a time.
enum SeverityExperiment {
    /// Rebuilds per sample at most; beyond, the findings not yet told apart
    /// keep their round's severity (the result says how many rebuilds ran).
    static let limit = 24

    /// The `missing` findings to test: those closure added (`added`, tree
    /// paths) whose round's severity they share with another finding of
    /// the same round, grouped by round, each group in path order; smaller
    /// groups first (then earlier rounds), so that a budget spent on a
    /// round of fifteen hundred Kconfig files, each fatal, leaves none of
    /// the smaller rounds untold.
    static func contested(_ findings: [Finding], added: Set<String>) -> [[Finding]] {
        var byRound: [Int: [Finding]] = [:]
        for finding in findings where finding.severity != .benign { byRound[finding.round, default: []].append(finding) }
        let groups = byRound.keys.sorted().compactMap { round -> (round: Int, tested: [Finding])? in
            let group = byRound[round]!
            guard group.count > 1 else { return nil }
            let tested = group.filter { $0.class == .missing && added.contains($0.path) }.sorted { $0.path < $1.path }
            return tested.isEmpty ? nil : (round, tested)
        }
        return groups.sorted { ($0.tested.count, $0.round) < ($1.tested.count, $1.round) }.map(\.tested)
    }

    /// What a file does, from the last round built without it: the build
    /// fails (fatal), its modules differ from the last round's (divergent),
    /// or nothing changes (benign).
    static func verdict(withoutFile succeeded: Bool, modulesDiffer: Bool) -> Severity {
        if !succeeded { return .fatal }
        return modulesDiffer ? .divergent : .benign
    }

    /// Adaptive group testing over the contested files: which group to hold
    /// out next, and the verdicts so far. Pure; the runner builds.
    ///
    /// A group whose absence changes something is split in two. When the
    /// first half then changes nothing, the cause is in the second half, so
    /// it is split at once instead of being held out whole (binary
    /// splitting: about k·log2(n) rebuilds for k causes among n files).
    struct Bisection: Equatable {
        struct Group: Equatable {
            var paths: [String]
            /// Known to hold a cause (its sibling changed nothing, their
            /// parent did): split without a rebuild of its own.
            var holdsACause = false
            /// The first of two halves (its sibling comes next).
            var isFirstHalf = false
        }

        /// Groups waiting to be held out, the next first.
        private(set) var pending: [Group]
        /// Each tested path's severity.
        private(set) var verdicts: [String: Severity] = [:]
        /// Rebuilds made.
        private(set) var rebuilds = 0
        let limit: Int
        let split: Split

        /// How a group whose absence changed something is told apart.
        enum Split: Equatable {
            /// In two, and each half again (few causes among many).
            case halves
            /// Each member alone (most members are causes: a cross or a
            /// missing compiler's packages), after one rebuild of the whole
            /// group, which settles the common case of none at once.
            case singles
        }

        /// With `.halves`, groups of at most two are tested one file at a
        /// time (a group test first would cost a third rebuild).
        init(groups: [[String]], limit: Int = SeverityExperiment.limit, split: Split = .halves) {
            pending = groups.flatMap { group in
                group.count == 1 || (split == .halves && group.count <= 2) ? group.map { Group(paths: [$0]) } : [Group(paths: group)]
            }
            self.limit = limit
            self.split = split
        }

        /// The files to hold out for the next rebuild, or nil when done or
        /// out of rebuilds.
        var next: [String]? { batch(upTo: 1).first }

        /// The groups to hold out next, at most `count`, built at the same
        /// time (each from the last round, none depending on another's
        /// verdict); empty when done or out of rebuilds.
        func batch(upTo count: Int) -> [[String]] {
            Array(pending.prefix(max(0, min(count, limit - rebuilds)))).map(\.paths)
        }

        /// Records what the rebuild without `next` gave.
        mutating func record(_ severity: Severity) {
            guard let group = next else { return }
            record([(group, severity)])
        }

        /// Records what the rebuilds of a `batch` gave, in the batch's order.
        /// A first half's sibling that was built in the same batch keeps its
        /// own verdict rather than the inference that it holds a cause.
        mutating func record(_ outcomes: [(paths: [String], severity: Severity)]) {
            let built = Set(outcomes.map(\.paths))
            for (paths, severity) in outcomes {
                guard rebuilds < limit, let index = pending.firstIndex(where: { $0.paths == paths }) else { continue }
                let group = pending.remove(at: index)
                rebuilds += 1
                if severity == .benign || group.paths.count == 1 {
                    for path in group.paths { verdicts[path] = severity }
                    // The first half changed nothing: the cause is in the second.
                    if severity == .benign, group.isFirstHalf, index < pending.count, !built.contains(pending[index].paths) {
                        pending[index].holdsACause = true
                    }
                } else if split == .singles {
                    pending.insert(contentsOf: group.paths.map { Group(paths: [$0]) }, at: index)
                } else {
                    pending.insert(contentsOf: Self.halves(group.paths), at: index)
                }
            }
            // A group known to hold a cause is split without its own rebuild.
            while let index = pending.firstIndex(where: { $0.holdsACause && $0.paths.count > 1 }) {
                let group = pending.remove(at: index)
                pending.insert(contentsOf: Self.halves(group.paths), at: index)
            }
        }

        private static func halves(_ paths: [String]) -> [Group] {
            let half = paths.count / 2
            return [Group(paths: Array(paths[..<half]), isFirstHalf: true), Group(paths: Array(paths[half...]))]
        }
    }
}
