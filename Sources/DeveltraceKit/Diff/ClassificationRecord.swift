import Foundation

/// One sample's classification as it ran in a real check, kept so that it
/// can be run again without the trees, the candidate or a build: the traces
/// (reduced to the accesses classification reads), what each round did,
/// every answer the file system gave the classifier (`RecordedFileFacts`),
/// and the findings it made. Tests replay records (`replay`) and compare;
/// `CheckOptions.recordClassification` writes them.
///
/// Host paths that depend on the machine (the tree, the candidate, the
/// scratch directory) are replaced by placeholders (`/@tree`, …) and pids
/// are numbered from 1 in order of appearance, so that a record made again
/// differs only where the classification's inputs did.
struct ClassificationRecord: Codable {
    static let format = 1

    struct Layout: Codable {
        var kbuildDir: RawPath
        var roots: [[RawPath]]
        var kind: String
        var kernelRelease: String?
    }

    struct Build: Codable {
        var status: String
        var accesses: [StoredReference.Access]
        var processes: [StoredReference.Process]
        var writes: [StoredReference.Write]
    }

    var format = ClassificationRecord.format
    var sample: Sample
    var tree: RawPath
    var sourceTree: RawPath?
    var release: String
    var layout: Layout
    /// The candidate's mounts: `[lower, target]`.
    var mounts: [[RawPath]]
    var reference: Build
    var rounds: [Build]
    var comparisons: [[String: ModuleComparison]]
    var failedRounds: [Int]
    var differingRounds: [Int]
    var files: [RawPath: RecordedFileFacts.File]
    /// The findings, before any severity experiment: `class path severity round`.
    var findings: [String]

    /// A finding as records list it.
    static func line(_ finding: Finding) -> String {
        "\(finding.class.rawValue) \(finding.path) \(finding.severity.rawValue) \(finding.round)"
    }

    /// The severity of a round, as the runner gives it before experiments.
    static func severity(failed: Set<Int>, differing: Set<Int>) -> (Int) -> Severity {
        { round in failed.contains(round) ? .fatal : differing.contains(round) ? .divergent : .benign }
    }
}

extension ClassificationRecord {
    /// Records `observation` as `classifier` classifies it now; the file
    /// answers are captured by classifying it once more.
    init(observation: SampleObservation, classifier: Classifier, failedRounds: Set<Int>, differingRounds: Set<Int>) {
        let recorder = RecordingFileFacts()
        var recording = classifier
        recording.facts = recorder
        let needs = recording.needs(of: observation)
        let findings = recording.findings(
            of: observation, needs: needs, severity: Self.severity(failed: failedRounds, differing: differingRounds))

        var pids: [Int32: Int32] = [0: 0]
        func pid(_ value: Int32) -> Int32 {
            if let known = pids[value] { return known }
            pids[value] = Int32(pids.count)
            return pids[value]!
        }
        let roots =
            [classifier.tree.path] + (classifier.tree.sourceTree.map { [$0] } ?? []) + classifier.layout.roots.map(\.candidate)
            + classifier.candidate.mounts.map(\.target)
        func kept(_ access: FileAccess) -> Bool {
            let path = access.path.resolvingDotDot()
            return access.intent == .exec || roots.contains { path.isSame(or: $0) }
        }
        func build(_ result: SampleBuildResult) -> Build {
            let outcome = result.outcome
            // Classification needs each access once (and evidence a few).
            var seen: [String: Int] = [:]
            let accesses = outcome.accesses.filter(kept).filter { access in
                let key = "\(access.path.description)\u{0}\(access.intent.rawValue)\u{0}\(access.result)"
                seen[key, default: 0] += 1
                return seen[key]! <= 3
            }
            let processIDs = Set(accesses.map(\.process))
            return Build(
                status: result.status.summary,
                accesses: accesses.map { StoredReference.Access($0, pid: pid) },
                processes: outcome.processes.values.filter { processIDs.contains($0.id) }.sorted { $0.id < $1.id }.map {
                    StoredReference.Process($0, pid: pid)
                },
                writes: outcome.writes.map(StoredReference.Write.init))
        }
        sample = observation.sample
        tree = classifier.tree.path
        sourceTree = classifier.tree.sourceTree
        release = classifier.tree.release
        layout = Layout(
            kbuildDir: classifier.layout.kbuildDir, roots: classifier.layout.roots.map { [$0.candidate, $0.tree] },
            kind: classifier.layout.kind, kernelRelease: classifier.layout.kernelRelease)
        mounts = classifier.candidate.mounts.map { [$0.lower, $0.target] }
        reference = build(observation.reference)
        rounds = observation.rounds.map(build)
        comparisons = observation.comparisons
        self.failedRounds = failedRounds.sorted()
        self.differingRounds = differingRounds.sorted()
        files = recorder.files
        self.findings = findings.map(Self.line).sorted()
    }

    /// The record as JSON, machine-dependent path prefixes replaced.
    func encoded(placeholders: [(RawPath, String)]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text = String(decoding: try encoder.encode(self), as: UTF8.self)
        // Longest first: the scratch directory may lie below another.
        for (prefix, placeholder) in placeholders.sorted(by: { $0.0.bytes.count > $1.0.bytes.count }) {
            guard let path = prefix.utf8String else { continue }
            text = text.replacingOccurrences(of: "\"\(path)/", with: "\"\(placeholder)/")
                .replacingOccurrences(of: "\"\(path)\"", with: "\"\(placeholder)\"")
        }
        return Data(text.utf8)
    }

    /// The classifier the record was made with, its files answered from the record.
    func classifier() throws -> Classifier {
        let candidate = StagedCandidate(describing: mounts.map { StagedCandidate.Mount(lower: $0[0], target: $0[1]) })
        let layout = CandidateLayout(
            kbuildDir: layout.kbuildDir, roots: layout.roots.map { CandidateLayout.Root(candidate: $0[0], tree: $0[1]) },
            kind: layout.kind, kernelRelease: layout.kernelRelease)
        var classifier = Classifier(
            tree: BuildTree(describing: tree, sourceTree: sourceTree, release: release), candidate: candidate, layout: layout)
        classifier.facts = RecordedFileFacts(files: files)
        return classifier
    }

    /// The observation again (module files are not kept: comparisons are).
    func observation() -> SampleObservation? {
        func result(_ build: Build) -> SampleBuildResult? {
            guard let status = StoredReference.decode(build.status), let accesses = StoredReference.decode(build.accesses) else {
                return nil
            }
            let outcome = TraceOutcome(
                accesses: accesses, processes: StoredReference.decode(build.processes), exitStatus: 0, termination: .completed,
                writes: build.writes.map(\.decoded), notes: [],
                launchFailure: nil, commandPid: 1,
                statistics: TraceStatistics(seccompStops: 0, syscallExitStops: 0, otherStops: 0, seconds: 0))
            return SampleBuildResult(
                status: status, outcome: outcome, moduleCopy: RawPath("/@module"), moduleInSandbox: RawPath("/@module"), log: "",
                modules: [:])
        }
        guard let reference = result(reference) else { return nil }
        var built: [SampleBuildResult] = []
        for round in rounds {
            guard let build = result(round) else { return nil }
            built.append(build)
        }
        return SampleObservation(sample: sample, reference: reference, rounds: built, comparisons: comparisons)
    }

    /// The findings the recorded classification makes now, as `findings` lists them.
    func replay() throws -> [String]? {
        guard let observation = observation() else { return nil }
        let classifier = try classifier()
        let needs = classifier.needs(of: observation)
        return classifier.findings(
            of: observation, needs: needs, severity: Self.severity(failed: Set(failedRounds), differing: Set(differingRounds))
        ).map(Self.line).sorted()
    }
}

/// The answers a recorded classification got, by host path.
struct RecordedFileFacts: FileFacts {
    /// What was asked of one path, and the answers.
    struct File: Codable, Sendable {
        var kind: FileKind?
        var followed: FileKind?
        var target: RawPath?
        var size: Int?
        /// A digest of the content (equal contents, equal digests).
        var digest: String?
        var machine: UInt16?
        /// What is below it (a directory's files, relative).
        var children: [RawPath]?
    }

    var files: [RawPath: File]

    func kind(of path: RawPath, following: Bool) -> FileKind? { following ? files[path]?.followed : files[path]?.kind }
    func linkTarget(of path: RawPath) -> RawPath? { files[path]?.target }
    func size(of path: RawPath) -> Int? { files[path]?.size }
    func content(of path: RawPath) -> [UInt8]? { files[path]?.digest.map { Array($0.utf8) } }
    func elfMachine(of path: RawPath) -> ElfMachine? { files[path]?.machine.map(ElfMachine.init(code:)) }
    func files(under path: RawPath) -> [RawPath] { files[path]?.children ?? [] }
}

/// The live file system, every answer kept for a record.
final class RecordingFileFacts: FileFacts, @unchecked Sendable {
    private let live = LiveFileFacts()
    private let lock = NSLock()
    private(set) var files: [RawPath: RecordedFileFacts.File] = [:]

    private func note(_ path: RawPath, _ change: (inout RecordedFileFacts.File) -> Void) {
        lock.withLock { change(&files[path, default: RecordedFileFacts.File()]) }
    }

    func kind(of path: RawPath, following: Bool) -> FileKind? {
        let kind = live.kind(of: path, following: following)
        note(path) { if following { $0.followed = kind } else { $0.kind = kind } }
        return kind
    }

    func linkTarget(of path: RawPath) -> RawPath? {
        let target = live.linkTarget(of: path)
        note(path) { $0.target = target }
        return target
    }

    func size(of path: RawPath) -> Int? {
        let size = live.size(of: path)
        note(path) { $0.size = size }
        return size
    }

    func content(of path: RawPath) -> [UInt8]? {
        let content = live.content(of: path)
        note(path) { $0.digest = content.map(Self.digest) }
        return content.map { Array(Self.digest($0).utf8) }
    }

    func elfMachine(of path: RawPath) -> ElfMachine? {
        let machine = live.elfMachine(of: path)
        note(path) { $0.machine = machine?.code }
        return machine
    }

    func files(under path: RawPath) -> [RawPath] {
        let children = live.files(under: path)
        note(path) { $0.children = children }
        return children
    }

    /// FNV-1a (64 bits) and the length, in hex: content equality is all
    /// classification asks of contents.
    static func digest(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16) + ":" + String(bytes.count)
    }
}
