import Foundation

/// What `develtrace check` was asked to do.
public struct CheckOptions: Sendable {
    public var buildTree: String
    public var sourceTree: String?
    public var candidates: [String]
    public var kbuildDir: String?
    /// Sample directories; empty: the built-in corpus.
    public var modules: [String]
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

    public init(
        buildTree: String, sourceTree: String? = nil, candidates: [String], kbuildDir: String? = nil, modules: [String] = [],
        corpus: String, maps: [String] = [], jobs: Int = 1, maxRounds: Int = 10, timeout: Duration? = nil, command: [String] = []
    ) {
        self.buildTree = buildTree
        self.sourceTree = sourceTree
        self.candidates = candidates
        self.kbuildDir = kbuildDir
        self.modules = modules
        self.corpus = corpus
        self.maps = maps
        self.jobs = jobs
        self.maxRounds = maxRounds
        self.timeout = timeout
        self.command = command
    }
}

/// Runs the whole check: stage the candidate, build every sample against
/// the full tree and against the candidate (with closure rounds), classify,
/// and return the result. Input trees are only ever read: the full tree is
/// bound read-only, the candidate is an overlay's lower layer, and samples
/// are built in copies.
public final class CheckRunner: @unchecked Sendable {
    public let options: CheckOptions
    public let cancellation = CancellationHandle()
    private let progress: @Sendable (String) -> Void

    public init(options: CheckOptions, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        let started = ContinuousClock.now
        // DEVELTRACE_TIMING=1 prefixes progress with the time since the start.
        if getenv("DEVELTRACE_TIMING") != nil {
            self.progress = { message in
                let elapsed = ContinuousClock.now - started
                FileHandle.standardError.write(Data("[\(elapsed)] \(message)\n".utf8))
            }
        } else {
            self.progress = progress
        }
    }

    public func run() throws -> CheckResult {
        let tree = try BuildTree(path: options.buildTree, sourceTree: options.sourceTree)
        let inputs = try options.candidates.map { argument throws(InputError) in try CandidateInput(argument: argument) }
        var allSamples: [Sample]
        if options.modules.isEmpty {
            allSamples = try Sample.corpus(at: options.corpus)
        } else {
            allSamples = try options.modules.map { directory throws(InputError) in try Sample(directory: directory) }
        }
        // One order for every run and every shard: by name.
        allSamples.sort { ($0.name, $0.directory) < ($1.name, $1.directory) }
        let samples = allSamples.enumerated().filter { options.shard?.owns(position: $0.offset) ?? true }.map(\.element)
        let scratch = try Self.makeScratch()
        defer { scratch.endOfUse() }
        let root = scratch.path
        // Stage the candidate while the reference builds run: they do not
        // need it, and unpacking packages takes seconds.
        let staging = StagingTask { [options, progress] () throws -> Classifier in
            progress("staging the candidate")
            let candidate = try StagedCandidate(inputs: inputs, scratch: root)
            let layout = try CandidateLayout(candidate: candidate, kbuildDir: options.kbuildDir, maps: options.maps)
            progress("candidate staged")
            return Classifier(tree: tree, candidate: candidate, layout: layout)
        }

        // Samples run in parallel, each pinned with its tracer to one CPU.
        let cpus = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let jobs = max(1, min(options.jobs, samples.count))
        let results = Mutex<[Int: SampleOutcome]>([:])
        let failures = Mutex<[any Error]>([])
        let next = Mutex(0)
        let group = DispatchGroup()
        for worker in 0..<jobs {
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                while true {
                    let index = next.withLock { value -> Int in
                        defer { value += 1 }
                        return value
                    }
                    if index >= samples.count || cancellation.isCancelled { return }
                    do {
                        let done = try self.check(
                            samples[index], tree: tree, staging: staging,
                            scratch: root.appending(RawPath("s\(index)")), cpu: worker % cpus)
                        results.withLock { $0[index] = done }
                    } catch {
                        failures.withLock { $0.append(error) }
                        cancellation.cancel(.interrupted(signal: SIGTERM))
                    }
                }
            }
            thread.start()
        }
        group.wait()
        let classifier = try staging.value()
        let candidate = classifier.candidate
        let layout = classifier.layout
        if let error = failures.withLock({ $0.first }) { throw error }
        if cancellation.isCancelled { throw CheckInterrupted() }

        let ordered = (0..<samples.count).compactMap { results.withLock { $0 }[$0] }
        var findings = FindingMerge.merge(ordered.map(\.findings), sampleOrder: samples.map(\.name))
        // Candidate files no sample used (informational).
        let used = ordered.reduce(into: Set<RawPath>()) { $0.formUnion($1.candidateUsed) }
        let unused = classifier.unusedFiles(used: used)
        if options.listUnused {
            findings += unused.map { path in
                Finding(
                    path: path.description, class: .unused, severity: .benign, samples: [], round: 0, detail: "no sample used it",
                    evidence: [])
            }
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
                rounds: observation.rounds.count, modules: lastGood, log: log, treeFilesUsed: outcome.treeFilesUsed)
        }
        var result = CheckResult(
            inputs: CheckResult.Inputs(
                buildTree: tree.path.description, sourceTree: tree.sourceTree?.description, kernelRelease: tree.release,
                candidates: inputs.map(\.description), packages: candidate.packages.sorted { $0.name < $1.name },
                kbuildDir: layout.kbuildDir.description, layout: layout.kind,
                roots: layout.roots.map { [$0.candidate.description, $0.tree.description] }, command: options.command,
                compiler: Self.compilerVersion()),
            warnings: candidate.warnings, samples: sampleResults, findings: findings, summary: FindingMerge.summary(findings),
            unusedFiles: unused.count, exitStatus: 0)
        if let shard = options.shard {
            result.shard = CheckResult.ShardPart(
                index: shard.index, count: shard.count, unusedPaths: unused.map(\.description).sorted())
        }
        result.evaluate(gate: options.gate, baseline: options.baseline)
        return result
    }

    /// The first line of `gcc --version`, for the report's environment.
    static func compilerVersion() -> String? {
        guard let result = try? HostCommand.run(["gcc", "--version"]), result.status == 0 else { return nil }
        return String(decoding: result.output, as: UTF8.self).split(separator: "\n").first.map(String.init)
    }

    private static func makeScratch() throws(SandboxError) -> ScratchDirectory {
        do { return try ScratchDirectory(prefix: "develtrace-check", preferMemory: true) } catch { throw .scratch(error) }
    }

    /// Reference build, then candidate rounds until closure finds nothing new.
    private func check(
        _ sample: Sample, tree: BuildTree, staging: StagingTask, scratch: RawPath, cpu: Int
    ) throws -> SampleOutcome {
        try StagedCandidate.makeDirectory(scratch)
        var referenceSandbox = SandboxConfiguration()
        for root in [tree.path] + (tree.sourceTree.map { [$0] } ?? []) {
            referenceSandbox.binds.append(.init(source: root, target: root, readOnly: true))
        }
        progress("\(sample.name): reference build")
        let reference = try SampleBuild(
            sample: sample, kernelRelease: tree.release, kbuildDir: tree.path, sandbox: referenceSandbox, scratch: scratch,
            label: "reference", cpu: cpu, timeout: options.timeout
        ).run(cancel: cancellation)
        var observation = SampleObservation(sample: sample, reference: reference, rounds: [], comparisons: [])
        guard reference.status.isSuccess else {
            return SampleOutcome(observation: observation, findings: [], treeFilesUsed: [], candidateUsed: [])
        }
        let classifier = try staging.value()
        let candidate = classifier.candidate
        let layout = classifier.layout

        // Closure layers of this sample, one per candidate mount.
        let closure = scratch.appending(RawPath("closure"))
        try StagedCandidate.makeDirectory(closure)
        for index in candidate.mounts.indices { try StagedCandidate.makeDirectory(closure.appending(RawPath("\(index)"))) }
        var added = Set<RawPath>()
        var failedRounds = Set<Int>()
        var differingRounds = Set<Int>()
        var latestNeeds: Classifier.Needs? = nil
        for round in 1...max(1, options.maxRounds) {
            var sandbox = SandboxConfiguration(hidden: [tree.path] + (tree.sourceTree.map { [$0] } ?? []))
            sandbox.overlays = candidate.mounts.enumerated().map { index, mount in
                .init(lowers: [closure.appending(RawPath("\(index)")), mount.lower], target: mount.target)
            }
            progress("\(sample.name): candidate build, round \(round)")
            let build = try SampleBuild(
                sample: sample, kernelRelease: tree.release, kbuildDir: layout.kbuildDir, sandbox: sandbox, scratch: scratch,
                label: "candidate-\(round)", cpu: cpu, timeout: options.timeout
            ).run(cancel: cancellation)
            observation.rounds.append(build)
            latestNeeds = nil
            progress("\(sample.name): candidate round \(round) built")
            var comparison: [String: ModuleComparison] = [:]
            if build.status.isSuccess {
                for (name, referenceModule) in reference.modules {
                    if let candidateModule = build.modules[name],
                        let result = ModuleComparison.compare(reference: referenceModule, candidate: candidateModule)
                    {
                        comparison[name] = result
                    } else {
                        comparison[name] = ModuleComparison(
                            onlyInReference: ["(module not built)"], onlyInCandidate: [], differing: [], vermagic: nil)
                    }
                }
                if comparison.values.contains(where: { !$0.isIdentical }) { differingRounds.insert(round) }
                observation.comparisons.append(comparison)
            } else {
                failedRounds.insert(round)
            }
            if case .skipped = build.status { break }
            // Closure: add what the candidate builds looked for and did not
            // find, and build again. Files only the reference build used are
            // added only when a failing build looked for nothing new: before
            // that, the candidate may still show it has them elsewhere
            // (relocated).
            let needs = classifier.needs(of: observation)
            latestNeeds = needs
            var missing = classifier.absent(needs, upToRound: round, probedOnly: true).filter { $0.value == nil }.keys
                .filter { !added.contains($0) }
            if missing.isEmpty && !build.status.isSuccess {
                missing = classifier.absent(needs, upToRound: round).filter { $0.value == nil }.keys.filter { !added.contains($0) }
            }
            if missing.isEmpty { break }
            for path in missing.sorted() {
                added.insert(path)
                let probe = needs.candidateProbed[path]?.first?.access.path ?? layout.candidatePath(of: path)
                guard let source = tree.hostPath(of: path), let placement = candidate.closurePlacement(for: probe) else { continue }
                let destination = closure.appending(RawPath("\(placement.mount)")).appending(placement.relative)
                try? FileSystem.makeDirectories(destination.parent)
                _ = try? HostCommand.run(["cp", "-a", "--", source.description, destination.description])
            }
        }
        progress("\(sample.name): classifying")
        // The last round's classification, unless a round came after it.
        let needs = latestNeeds ?? classifier.needs(of: observation)
        defer { progress("\(sample.name): classified") }
        let findings = classifier.findings(of: observation, needs: needs) { round in
            if failedRounds.contains(round) { return .fatal }
            return differingRounds.contains(round) ? .divergent : .benign
        }
        return SampleOutcome(
            observation: observation, findings: findings, treeFilesUsed: needs.referenceUsed.keys.map(\.description).sorted(),
            candidateUsed: Set(needs.candidateUsed.keys))
    }
}

/// The check was stopped (SIGINT, SIGTERM) before it finished.
public struct CheckInterrupted: Error, CustomStringConvertible {
    public var description: String { "interrupted; every sandbox was torn down" }
}

import Synchronization

/// The candidate's staging, run on a thread of its own; `value()` waits
/// for it (and rethrows its error).
final class StagingTask: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Classifier, any Error>?
    private let lock = NSLock()

    init(_ work: @escaping @Sendable () throws -> Classifier) {
        let thread = Thread { [self] in
            let outcome = Result { try work() }
            lock.lock()
            result = outcome
            lock.unlock()
            done.signal()
        }
        thread.start()
    }

    func value() throws -> Classifier {
        lock.lock()
        if let result {
            lock.unlock()
            return try result.get()
        }
        lock.unlock()
        done.wait()
        done.signal()
        lock.lock()
        defer { lock.unlock() }
        return try result!.get()
    }
}

/// What checking one sample gave.
struct SampleOutcome {
    var observation: SampleObservation
    var findings: [Finding]
    /// Tree files the reference build used.
    var treeFilesUsed: [String]
    /// Tree paths the candidate builds used.
    var candidateUsed: Set<RawPath>
}
