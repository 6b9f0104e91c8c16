import Foundation

/// The severity experiments of a check: the last round built again with
/// files or system packages held out (`SeverityExperiment`), several at once.
extension CheckRunner {
    /// Tells apart the files that share a round's failure or difference
    /// (`SeverityExperiment`): the last round built again without groups of
    /// them, bisected until each file has its own verdict. A file is held
    /// out by hiding it where closure placed it, so that several rebuilds
    /// can run at once, each without its own group (`experiment`).
    func leaveOneOut(
        _ check: SampleCheck, findings: inout [Finding], state: inout ClosureState, last: SampleBuildResult, tree: BuildTree,
        staging: StagingTask, queue: BuildQueue, cpu: Int
    ) throws {
        let candidate = try staging.value().candidate
        let closure = check.scratch.appending(RawPath("closure"))
        // Where the sandbox shows each file closure added.
        var shownAt: [String: RawPath] = [:]
        for (path, place) in state.closurePlaces {
            guard place.isSame(or: closure), place != closure else { continue }
            let components = place.relative(to: closure).bytes.split(separator: 47, maxSplits: 1)
            guard let index = Int(String(decoding: components[0], as: UTF8.self)), candidate.mounts.indices.contains(index)
            else { continue }
            let target = candidate.mounts[index].target
            shownAt[path.description] = components.count == 1 ? target : target.appending(RawPath(bytes: Array(components[1])))
        }
        let groups = SeverityExperiment.contested(findings, added: Set(shownAt.keys))
        var bisection = SeverityExperiment.Bisection(groups: groups.map { $0.map(\.path) }, limit: options.maxRebuilds)
        var rebuilds = state.rebuilds
        let places = shownAt
        try experiment(
            &bisection, check, rebuilds: &rebuilds, labelled: "without", last: last, tree: tree, staging: staging, queue: queue, cpu: cpu
        ) {
            group in
            (group.compactMap { places[$0] }, "\(group.count) file\(group.count == 1 ? "" : "s")")
        }
        state.rebuilds = rebuilds
        for index in findings.indices where findings[index].class == .missing {
            if let severity = bisection.verdicts[findings[index].path] { findings[index].severity = severity }
        }
    }

    /// What each undeclared package does, by experiment: the last round
    /// built again with the package's host files hidden (bisected like
    /// `leaveOneOut`): it fails (fatal), its modules differ (divergent), or
    /// nothing changes (benign). A program the host lacks needs no
    /// experiment: every round ran without it.
    func holdOutPackages(
        _ used: [String], _ check: SampleCheck, findings: inout [Finding], state: inout ClosureState, last: SampleBuildResult,
        tree: BuildTree, staging: StagingTask, queue: BuildQueue, cpu: Int
    ) throws {
        let classifier = try staging.value()
        guard !used.isEmpty else { return }
        // All held out at once first: most often nothing changes, and one
        // rebuild settles them. Otherwise one at a time when few (a
        // candidate that declares no compiler has most of them fatal, where
        // bisection would cost more rebuilds than there are packages), else
        // bisected.
        var bisection = SeverityExperiment.Bisection(
            groups: [used], limit: options.maxRebuilds, split: used.count <= 8 ? .singles : .halves)
        var rebuilds = state.dependencyRebuilds
        try experiment(
            &bisection, check, rebuilds: &rebuilds, labelled: "without-packages", last: last, tree: tree, staging: staging, queue: queue,
            cpu: cpu
        ) { group in
            let hidden = classifier.hostFiles(of: Set(group))
            return (hidden, "\(group.joined(separator: ", ")) (\(hidden.count) files)")
        }
        state.dependencyRebuilds = rebuilds
        for index in findings.indices {
            if let severity = bisection.verdicts[findings[index].path] { findings[index].severity = severity }
        }
    }

    /// Runs a bisection's rebuilds: the last round built again with each
    /// group's paths hidden (`hiding` gives them and a description), as
    /// many at once as the queue has idle workers, until the bisection is
    /// done or out of rebuilds. Nil from a rebuild (the sample was stopped)
    /// ends it.
    private func experiment(
        _ bisection: inout SeverityExperiment.Bisection, _ check: SampleCheck, rebuilds: inout Int, labelled prefix: String,
        last: SampleBuildResult, tree: BuildTree, staging: StagingTask, queue: BuildQueue, cpu: Int,
        hiding: @escaping @Sendable ([String]) -> (paths: [RawPath], description: String)
    ) throws {
        while true {
            let batch = bisection.batch(upTo: 1 + queue.idleWorkers)
            if batch.isEmpty { return }
            let first = rebuilds + 1
            rebuilds += batch.count
            let builds = queue.fanOut(batch.count, cpu: cpu) { [self] index, cpu -> Result<SampleBuildResult?, any Error> in
                let (hidden, description) = hiding(batch[index])
                let result = Result {
                    // Not a closure round (round 0: the layers exist already).
                    try candidateRound(
                        check, round: 0, label: "\(prefix)-\(first + index)", hiding: hidden, tree: tree, staging: staging, queue: queue,
                        cpu: cpu)
                }
                if case .success(let build?) = result {
                    let differ = Self.modulesDiffer(last, build)
                    progress(
                        "\(check.sample.name): held out \(description): \(build.status.isSuccess ? (differ ? "modules differ" : "no change") : "failed")"
                    )
                }
                return result
            }
            var outcomes: [(paths: [String], severity: Severity)] = []
            for (group, result) in zip(batch, builds) {
                guard let build = try result.get() else { return }
                outcomes.append(
                    (group, SeverityExperiment.verdict(withoutFile: build.status.isSuccess, modulesDiffer: Self.modulesDiffer(last, build)))
                )
            }
            bisection.record(outcomes)
        }
    }

    /// Whether `build`'s modules differ from `last`'s (one missing counts).
    static func modulesDiffer(_ last: SampleBuildResult, _ build: SampleBuildResult) -> Bool {
        last.modules.contains { name, module in
            guard let other = build.modules[name],
                let comparison = ModuleComparison.compare(reference: module, candidate: other, ignoringVermagic: false)
            else { return true }
            return !comparison.isIdentical
        }
    }
}
