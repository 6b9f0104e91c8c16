import Foundation

/// The check's result, assembled from the classified samples: findings
/// merged over samples, the unused files, each sample's line, the inputs
/// and warnings, where the candidate held each file used.
extension CheckRunner {
    func assemble(
        ordered: [SampleOutcome], samples: [Sample], inputs: [CandidateInput], tree: BuildTree, classifier: Classifier,
        dkms: String?, compiler: String?
    ) -> CheckResult {
        let candidate = classifier.candidate
        let layout = classifier.layout
        var findings = FindingMerge.merge(ordered.map(\.findings), sampleOrder: samples.map(\.name))
        // Candidate files no sample used (informational).
        let used = ordered.reduce(into: Set<RawPath>()) { $0.formUnion($1.candidateUsed) }
        let unusedFindings = Classifier.unusedFindings(candidateFiles: classifier.candidateFiles(), used: used)
        if options.listUnused {
            findings += unusedFindings
            findings.sort { ($0.class, $0.path) < ($1.class, $1.path) }
        }

        let sampleResults = ordered.map { outcome -> CheckResult.SampleResult in
            let observation = outcome.observation
            let last = observation.rounds.last
            let lastGood = observation.comparisons.last ?? [:]
            var log: String? = nil
            if !observation.reference.status.isSuccess, case .skipped = observation.reference.status {
            } else if !observation.reference.status.isSuccess {
                log = String(observation.reference.log.suffix(4000))
            } else if let last, !last.status.isSuccess {
                log = String(last.log.suffix(4000))
            }
            return CheckResult.SampleResult(
                name: observation.sample.name, kind: observation.sample.kind.rawValue, directory: observation.sample.directory,
                reference: observation.reference.status.summary, candidate: last?.status.summary ?? "not built",
                rounds: observation.rounds.count, modules: lastGood, log: log, treeFilesUsed: outcome.treeFilesUsed,
                candidateFilesUsed: outcome.candidateUsed.map(\.description).sorted(),
                severityRebuilds: outcome.rebuilds > 0 ? outcome.rebuilds : nil,
                dependencyRebuilds: outcome.dependencyRebuilds > 0 ? outcome.dependencyRebuilds : nil,
                referenceRecorded: observation.reference.reused.map(Self.timestamp), packageName: observation.sample.packageName,
                packageVersion: observation.sample.packageVersion, referenceStatus: observation.reference.status.state,
                candidateStatus: last?.status.state)
        }
        var result = CheckResult(
            inputs: CheckResult.Inputs(
                buildTree: tree.path.description, sourceTree: tree.sourceTree?.description, kernelRelease: tree.release,
                candidates: inputs.map(\.description), packages: candidate.packages.sorted { $0.name < $1.name },
                kbuildDir: layout.kbuildDir.description, layout: layout.kind,
                roots: layout.roots.map { [$0.candidate.description, $0.tree.description] }, command: options.command,
                compiler: compiler, dkms: dkms,
                architecture: options.architecture.map { "\($0.kernel) (CROSS_COMPILE=\($0.crossCompile))" }),
            warnings: candidate.warnings + Self.releaseWarning(tree: tree.release, candidate: layout.kernelRelease)
                + (classifier.dependencies?.warnings ?? []) + ordered.flatMap(\.warnings), samples: sampleResults, findings: findings,
            summary: FindingMerge.summary(findings),
            unusedFiles: unusedFindings.count, exitStatus: 0)
        if let shard = options.shard {
            result.shard = CheckResult.ShardPart(
                index: shard.index, count: shard.count, unusedPaths: unusedFindings.map(\.path).sorted())
        }
        // Each sample's, found when it was classified: a path's places are the same whichever sample used it.
        result.candidateFiles = ordered.reduce(into: [:]) { $0.merge($1.candidateFiles) { first, _ in first } }
        let unowned = ordered.reduce(into: Set<RawPath>()) { $0.formUnion($1.unownedHostFiles) }
        if classifier.dependencies != nil { result.hostFilesNotOwned = unowned.map(\.description).sorted() }
        return result
    }

    /// Where the candidate holds each of the tree paths `used`
    /// (`CheckResult.candidateFiles`); a file closure added is in none.
    static func candidateFiles(of used: Set<RawPath>, classifier: Classifier, scratch: RawPath) -> [String: [CheckResult.CandidateFile]] {
        var files: [String: [CheckResult.CandidateFile]] = [:]
        for path in used {
            let places = classifier.candidatePlaces(of: path).map { place in
                // Unpacked packages live in the scratch directory, gone after the run.
                let host = classifier.candidateContentFile(place).flatMap { $0.isSame(or: scratch) ? nil : $0 }
                return CheckResult.CandidateFile(path: place.description, hostPath: host?.description)
            }
            if !places.isEmpty { files[path.description] = places }
        }
        return files
    }

    /// A time as the report writes it (ISO 8601, UTC).
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// The first line of `gcc --version`, for the report's environment.
    static func compilerVersion() -> String? {
        guard let result = try? HostCommand.run(["gcc", "--version"]), result.status == 0 else { return nil }
        return String(decoding: result.output, as: UTF8.self).split(separator: "\n").first.map(String.init)
    }

    /// A reference tree of another release than the candidate's is checked
    /// all the same (what the packaging misses rarely depends on it), but
    /// the user should know, and vermagic is not compared.
    static func releaseWarning(tree: String, candidate: String?) -> [String] {
        guard let candidate, candidate != tree else { return [] }
        return [
            "the reference tree is release \(tree) and the candidate \(candidate): each is built for its own, and vermagic is left out of the module comparison"
        ]
    }
}
