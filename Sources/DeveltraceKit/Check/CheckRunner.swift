import Foundation
import Synchronization

/// Runs the whole check: stage the candidate, build every sample against
/// the full tree and against the candidate (with closure rounds), classify,
/// and return the result. Input trees are only ever read: the full tree is
/// bound read-only, the candidate is an overlay's lower layer, and samples
/// are built in copies.
public final class CheckRunner: @unchecked Sendable {
    public let options: CheckOptions
    public let cancellation = CancellationHandle()
    let progress: @Sendable (String) -> Void
    /// Where reference builds are recorded (`options.referenceCache`).
    private let referenceCache: ReferenceCache?
    /// The pair every DKMS build of the run signs with, made while the
    /// candidate is staged (`DkmsSigningKey`).
    private let signingKey = Mutex<BackgroundTask<DkmsSigningKey?>?>(nil)

    public init(options: CheckOptions, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        referenceCache = options.referenceCache.map { ReferenceCache(directory: $0.directory, sizeLimit: $0.sizeLimit) }
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
        for input in inputs {
            guard case .kbuildDirectory(let path) = input else { continue }
            for hidden in [tree.path] + (tree.sourceTree.map { [$0] } ?? []) where path.isSame(or: hidden) {
                throw InputError.candidateInsideTree(candidate: path.description, tree: hidden.description)
            }
        }
        var allSamples: [Sample]
        if options.modules.isEmpty {
            allSamples = try Sample.corpus(at: options.corpus)
        } else {
            allSamples = try options.modulePaths.map { path throws(InputError) in try Sample(path: path) }
        }
        // One order for every run and every shard: by name.
        allSamples.sort { ($0.name, $0.directory) < ($1.name, $1.directory) }
        // DKMS samples are built by the host's dkms, in the sandbox.
        let dkms = try allSamples.contains { $0.kind == .dkms } ? DkmsTool.installed() : nil
        // For the report, asked while the builds run.
        let compiler = BackgroundTask { Self.compilerVersion() }
        // The recorder's objects for the first builds, loaded while the
        // dkms.conf are read.
        let firstBuilds = min(options.jobs, 2 * allSamples.count)
        let recorders = BackgroundTask { [options] in
            if options.usesListener && options.usesRecorder && options.followsInKernel {
                TraceSession.prepareFollowingRecorders(firstBuilds)
            }
        }
        let scratch = try Self.makeScratch()
        defer { scratch.endOfUse() }
        let root = scratch.path
        if dkms != nil {
            signingKey.withLock { $0 = BackgroundTask { DkmsSigningKey.make(in: root.appending(RawPath("dkms-signing"))) } }
        }
        // Its `openssl` ends before the scratch directory goes, whatever
        // ended the run: no process outlives it.
        defer { _ = dkmsSigningKey() }
        // Stage the candidate while the samples' dkms.conf are read and the
        // reference builds run: neither needs it, and unpacking packages
        // takes seconds.
        // Builds run in parallel, each pinned with its tracer to one CPU.
        let queue = BuildQueue()
        let staging = StagingTask { [options, progress] () throws -> Classifier in
            // The first candidate rounds wait for this; other builds go
            // first until then.
            defer { queue.release() }
            progress("staging the candidate")
            let candidate = try StagedCandidate(inputs: inputs, scratch: root)
            let layout = try CandidateLayout(candidate: candidate, kbuildDir: options.kbuildDir, maps: options.maps)
            var classifier = Classifier(tree: tree, candidate: candidate, layout: layout)
            if options.systemDependencies {
                classifier.dependencies =
                    DependencyContext.make(packages: candidate.packages, scratch: root, architecture: options.architecture).context
                classifier.dependencies?.preloadOwners()
            }
            // What the report lists as unused is asked at the end, when
            // nothing else runs: the walk of the candidate is done now, beside
            // the reference builds.
            _ = classifier.candidateFiles()
            progress("candidate staged")
            return classifier
        }
        // Every DKMS sample's dkms.conf, sourced in a sandbox (each build
        // sees every sample's sources in /usr/src, whichever shard it is in),
        // `jobs` at a time. A broken one stops the check before any build,
        // once the staging (writing into the scratch directory) is done.
        do {
            allSamples = try Self.evaluateIdentities(
                allSamples, kernelRelease: tree.release, jobs: options.jobs, timeout: options.timeout, cancel: cancellation)
        } catch {
            _ = try? staging.value()
            throw error
        }
        progress("dkms.conf read")
        try? recorders.value()
        let neighbours = allSamples.filter { $0.kind == .dkms }
        let samples = allSamples.enumerated().filter { options.shard?.owns(position: $0.offset) ?? true }.map(\.element)

        let cpus = max(1, ProcessInfo.processInfo.activeProcessorCount)
        // Largest samples first (`BuildOrder`); the result keeps the name
        // order. Each sample's builds share its place in the order as their
        // priority: a long sample's reference and candidate start together
        // (once the candidate is staged: until then, other samples'
        // reference builds take the free CPUs), and its later rounds and
        // experiments go before shorter samples' builds, so the longest
        // chain of builds starts first instead of after every reference.
        let order = BuildOrder.largestFirst(samples.map { BuildOrder.sourceSize(of: RawPath($0.directory)) })
        let places = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        let checks = samples.enumerated().map { index, sample in
            SampleCheck(
                sample: sample, scratch: root.appending(RawPath("s\(index)")), neighbours: neighbours,
                referenceKey: options.referenceCache.map { _ in
                    ReferenceKey.make(
                        sample: sample, tree: tree, dkms: dkms, neighbours: neighbours, architecture: options.architecture)
                }, priority: places[index] ?? 0)
        }
        for check in order.map({ checks[$0] }) {
            queue.add(priority: check.priority) { [self] cpu in
                try self.referenceBuild(check, tree: tree, staging: staging, queue: queue, cpu: cpu)
            }
            queue.add(priority: check.priority, held: true) { [self] cpu in
                try self.candidateBuild(check, round: 1, tree: tree, staging: staging, queue: queue, cpu: cpu)
            }
        }
        do {
            try queue.run(workers: min(options.jobs, 2 * samples.count), cpus: cpus) { [cancellation] in cancellation.isCancelled }
        } catch {
            cancellation.cancel(.interrupted(signal: SIGTERM))
            throw error
        }
        let results = checks.map { queue.outcome(of: $0) }
        let classifier = try staging.value()
        if case .interrupted(let signal) = cancellation.reason { throw CheckInterrupted(signal: signal) }
        if cancellation.isCancelled { throw CheckInterrupted() }

        var result = assemble(
            ordered: results.compactMap { $0 }, samples: samples, inputs: inputs, tree: tree, classifier: classifier, dkms: dkms,
            compiler: (try? compiler.value()) ?? nil)
        result.evaluate(gate: options.gate, baseline: options.baseline)
        return result
    }

    /// `DkmsIdentity.evaluate` of every sample, `jobs` at a time; the
    /// first error in the samples' order is thrown.
    private static func evaluateIdentities(
        _ samples: [Sample], kernelRelease: String, jobs: Int, timeout: Duration?, cancel: CancellationHandle
    ) throws -> [Sample] {
        let results = Mutex([Result<Sample, any Error>?](repeating: nil, count: samples.count))
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, samples.count))) { _ in
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < samples.count else { return }
                let result = Result {
                    try DkmsIdentity.evaluate(samples[index], kernelRelease: kernelRelease, timeout: timeout, cancel: cancel)
                }
                results.withLock { $0[index] = result }
            }
        }
        return try results.withLock { $0 }.map { try $0!.get() }
    }

    /// The run's DKMS signing pair, once made (nil: none could be).
    private func dkmsSigningKey() -> DkmsSigningKey? {
        guard let task = signingKey.withLock({ $0 }) else { return nil }
        return (try? task.value()) ?? nil
    }

    private static func makeScratch() throws(SandboxError) -> ScratchDirectory {
        do { return try ScratchDirectory(prefix: "develtrace-check", preferMemory: true) } catch { throw .scratch(error) }
    }

    /// `/usr/lib/modules/RELEASE` with a `build` link to `kbuildDir`, as an
    /// installed kernel has it (what DKMS's `kernel_source_dir` is).
    private func modulesDirectory(release: String, kbuildDir: RawPath, scratch: RawPath, label: String) throws
        -> SandboxConfiguration.Bind
    {
        let directory = scratch.appending(RawPath("modules-\(label)"))
        let link = directory.appending(RawPath("build"))
        if !FileManager.default.fileExists(atPath: directory.description) {
            try StagedCandidate.makeDirectory(directory)
            do {
                try FileManager.default.createSymbolicLink(atPath: link.description, withDestinationPath: kbuildDir.description)
            } catch {
                throw InputError.tool("ln", "\(link): \(error)")
            }
        }
        return .init(source: directory, target: RawPath("/usr/lib/modules/\(release)"), readOnly: true)
    }

    /// A sample's reference build; when its first candidate round is done
    /// already, the closure step follows.
    private func referenceBuild(_ check: SampleCheck, tree: BuildTree, staging: StagingTask, queue: BuildQueue, cpu: Int) throws {
        try StagedCandidate.makeDirectory(check.scratch)
        var sandbox = SandboxConfiguration()
        // Through overlays: a sample that writes into the kernel's build
        // directory (a DKMS hook's `make scripts`, a syncconfig) builds as it
        // would on a host, and its writes land in scratch, not in the tree.
        sandbox.overlays = ([tree.path] + (tree.sourceTree.map { [$0] } ?? [])).map { .init(lower: $0, target: $0) }
        sandbox.binds.append(try modulesDirectory(release: tree.release, kbuildDir: tree.path, scratch: check.scratch, label: "reference"))
        let cache = referenceCache
        var recorded: SampleBuildResult? = nil
        if let cache, let key = check.referenceKey {
            switch cache.load(key: key, moduleCopy: check.scratch.appending(RawPath("reference-recorded"))) {
            case .success(let result):
                recorded = result
                progress("\(check.sample.name): reference build reused (recorded \(result.reused.map(Self.timestamp) ?? "before"))")
            case .failure(let miss):
                if miss.reason != .absent { progress("\(check.sample.name): recorded reference build not reused: \(miss.description)") }
            }
        }
        let reference: SampleBuildResult
        if let recorded {
            reference = recorded
        } else {
            progress("\(check.sample.name): reference build")
            reference = try SampleBuild(
                sample: check.sample, kernelRelease: tree.release, kbuildDir: tree.path, sandbox: sandbox, scratch: check.scratch,
                label: "reference", cpu: cpu, timeout: options.timeout, neighbours: check.neighbours,
                architecture: options.architecture, usesListener: options.usesListener, usesRecorder: options.usesRecorder,
                followsInKernel: options.followsInKernel, signingKey: dkmsSigningKey()
            ).run(cancel: cancellation)
            if let cache, let key = check.referenceKey, let used = reference.sandbox, !cancellation.isCancelled {
                let inputs = ReferenceInputs.paths(of: reference.outcome, hostPath: used.hostPath, scratch: [check.scratch])
                cache.store(key: key, result: reference, inputs: inputs)
            }
            progress("\(check.sample.name): reference built")
        }
        let observation = SampleObservation(sample: check.sample, reference: reference, rounds: [], comparisons: [])
        try execute(queue.send(.referenceBuilt(observation), to: check), check, tree: tree, staging: staging, queue: queue, cpu: cpu)
    }

    /// One candidate round; the closure step follows once the reference
    /// build is done too.
    private func candidateBuild(
        _ check: SampleCheck, round: Int, tree: BuildTree, staging: StagingTask, queue: BuildQueue, cpu: Int
    ) throws {
        let result: Result<SampleBuildResult, any Error>
        do {
            guard let build = try candidateRound(check, round: round, tree: tree, staging: staging, queue: queue, cpu: cpu) else { return }
            result = .success(build)
        } catch {
            result = .failure(error)
        }
        try execute(queue.send(.candidateBuilt(result), to: check), check, tree: tree, staging: staging, queue: queue, cpu: cpu)
    }

    /// Builds one candidate round (nil: the sample is broken, no round).
    func candidateRound(
        _ check: SampleCheck, round: Int, label: String? = nil, hiding hostFiles: [RawPath] = [], tree: BuildTree, staging: StagingTask,
        queue: BuildQueue, cpu: Int
    ) throws -> SampleBuildResult? {
        // A sample whose reference build failed is broken: no candidate rounds.
        if queue.isDone(check) { return nil }
        let classifier = try staging.value()
        let candidate = classifier.candidate
        try StagedCandidate.makeDirectory(check.scratch)
        let closure = check.scratch.appending(RawPath("closure"))
        if round == 1 {
            try StagedCandidate.makeDirectory(closure)
            for index in candidate.mounts.indices { try StagedCandidate.makeDirectory(closure.appending(RawPath("\(index)"))) }
        }
        var sandbox = SandboxConfiguration(hidden: [tree.path] + (tree.sourceTree.map { [$0] } ?? []) + hostFiles)
        sandbox.overlays = candidate.mounts.enumerated().map { index, mount in
            .init(lowers: [closure.appending(RawPath("\(index)")), mount.lower], target: mount.target)
        }
        // Makefiles that build against /lib/modules/$(KVER)/build (ddcci's)
        // find the candidate there, unless the package brings that link.
        // The candidate is built for its own release (DKMS's kernelver), which
        // may not be the reference tree's.
        let release = classifier.layout.kernelRelease ?? tree.release
        if !candidate.exists(RawPath("/usr/lib/modules/\(release)")) && !candidate.exists(RawPath("/lib/modules/\(release)")) {
            sandbox.binds.append(
                try modulesDirectory(release: release, kbuildDir: classifier.layout.kbuildDir, scratch: check.scratch, label: "candidate"))
        }
        let label = label ?? "candidate-\(round)"
        progress("\(check.sample.name): \(label) build")
        let build = try SampleBuild(
            sample: check.sample, kernelRelease: release, kbuildDir: classifier.layout.kbuildDir, sandbox: sandbox,
            scratch: check.scratch, label: label, cpu: cpu, timeout: options.timeout, neighbours: check.neighbours,
            architecture: options.architecture, usesListener: options.usesListener, usesRecorder: options.usesRecorder,
            followsInKernel: options.followsInKernel, signingKey: dkmsSigningKey()
        ).run(cancel: cancellation)
        progress("\(check.sample.name): \(label) built")
        return build
    }

    /// Runs what a sample's transition asks for.
    private func execute(
        _ command: SampleStage.Command?, _ check: SampleCheck, tree: BuildTree, staging: StagingTask, queue: BuildQueue, cpu: Int
    ) throws {
        switch command {
        case nil: return
        case .fail(let error): throw error
        case .closureStep(let build, let state):
            try closureStep(check, build: build, state: state, tree: tree, staging: staging, queue: queue, cpu: cpu)
        }
    }

    /// After a candidate round (and the reference build): compare modules,
    /// add what the builds looked for and did not find, and queue the next
    /// round — or classify when closure finds nothing new.
    private func closureStep(
        _ check: SampleCheck, build: SampleBuildResult, state: ClosureState, tree: BuildTree, staging: StagingTask, queue: BuildQueue,
        cpu: Int
    ) throws {
        let classifier = try staging.value()
        let candidate = classifier.candidate
        let layout = classifier.layout
        var state = state
        var observation = state.observation
        let reference = observation.reference
        observation.rounds.append(build)
        let round = observation.rounds.count
        var comparison: [String: ModuleComparison] = [:]
        if build.status.isSuccess {
            for (name, referenceModule) in reference.modules {
                if let candidateModule = build.modules[name],
                    let result = ModuleComparison.compare(
                        reference: referenceModule, candidate: candidateModule,
                        ignoringVermagic: (layout.kernelRelease ?? tree.release) != tree.release)
                {
                    comparison[name] = result
                } else {
                    comparison[name] = ModuleComparison(
                        onlyInReference: ["(module not built)"], onlyInCandidate: [], differing: [], vermagic: nil)
                }
            }
            if comparison.values.contains(where: { !$0.isIdentical }) { state.differingRounds.insert(round) }
            observation.comparisons.append(comparison)
        } else {
            state.failedRounds.insert(round)
        }
        state.observation = observation

        // Closure: add what the candidate builds looked for and did not
        // find, and build again (ClosurePolicy decides).
        var next = false
        var needs: Classifier.Needs? = nil
        let closure = check.scratch.appending(RawPath("closure"))
        do {
            let found = classifier.needs(of: observation)
            needs = found
            // Where closure puts a kin: beside the file that brought it, in
            // the layer the build looked in.
            var kinProbes: [RawPath: RawPath] = [:]
            // The closure layer's file that the sandbox shows at `probe`.
            func destination(showingAt probe: RawPath) -> RawPath? {
                candidate.closurePlacement(for: probe).map {
                    closure.appending(RawPath("\($0.mount)")).appending($0.relative)
                }
            }
            let probedAbsent = Set(classifier.absent(found, upToRound: round, probedOnly: true).filter { $0.value == nil }.keys)
            // Added where no build had looked for it (only the reference used
            // it), and now looked for in another layer of a split package:
            // added again where this round looked.
            var misplaced: [RawPath: RawPath] = [:]
            for path in probedAbsent.intersection(state.added) {
                guard let place = state.closurePlaces[path],
                    let probe = found.candidateProbed[path]?.last(where: { $0.round == round })?.access.path,
                    let destination = destination(showingAt: probe)
                else { continue }
                if destination != place { misplaced[path] = probe }
            }
            let decision = ClosurePolicy.decide(
                probedAbsent: probedAbsent,
                usedAbsent: { Set(classifier.absent(found, upToRound: round).filter { $0.value == nil }.keys) },
                added: state.added.subtracting(misplaced.keys),
                roundSucceeded: build.status.isSuccess, round: round, maxRounds: options.maxRounds,
                failedInARow: (1...round).reversed().prefix { state.failedRounds.contains($0) }.count,
                absentDirectories: {
                    Set(found.candidateProbed.keys.filter { classifier.isTreeDirectory($0) && !classifier.candidateHas($0) })
                },
                kin: { fresh in
                    kinProbes = Self.kin(of: fresh, needs: found, classifier: classifier).filter { path, probe in
                        guard let destination = destination(showingAt: probe) else { return false }
                        return state.closurePlaces[path] != destination
                    }
                    return Set(kinProbes.keys)
                })
            if case .nextRound(let missing) = decision {
                next = true
                var additions: [ClosureAddition] = []
                for path in missing {
                    state.added.insert(path)
                    let probe =
                        misplaced[path] ?? kinProbes[path] ?? found.candidateProbed[path]?.first?.access.path
                        ?? layout.candidatePath(of: path, in: candidate)
                    guard let source = tree.hostPath(of: path), let destination = destination(showingAt: probe) else { continue }
                    if classifier.isTreeDirectory(path) {
                        additions.append(.directory(path: path, at: destination))
                    } else if let wrapper = Self.objectTreeMakefile(for: path, probe: probe, layout: layout) {
                        // The object half of a split package: its Makefile is
                        // kbuild's O= wrapper of the source half's, not the
                        // kernel's (which would make it a source tree).
                        additions.append(.text(path: path, wrapper, at: destination))
                    } else {
                        additions.append(.copy(path: path, from: source, at: destination))
                    }
                }
                let applied = ClosureLayer.apply(additions, sample: check.sample.name, writer: LiveClosureLayerWriter())
                state.closurePlaces.merge(applied.placed) { _, new in new }
                state.warnings += applied.warnings
            }
        }
        if next {
            try execute(queue.send(.nextRound(state), to: check), check, tree: tree, staging: staging, queue: queue, cpu: cpu)
            queue.add(priority: check.priority) { [self] cpu in
                try self.candidateBuild(check, round: round + 1, tree: tree, staging: staging, queue: queue, cpu: cpu)
            }
            return
        }
        progress("\(check.sample.name): classifying")
        let final = needs ?? classifier.needs(of: observation)
        var findings = classifier.findings(of: observation, needs: final) { round in
            if state.failedRounds.contains(round) { return .fatal }
            return state.differingRounds.contains(round) ? .divergent : .benign
        }
        if let directory = options.recordClassification {
            record(observation, classifier: classifier, state: state, scratch: check.scratch.parent, in: directory)
        }
        if build.status.isSuccess {
            try leaveOneOut(
                check, findings: &findings, state: &state, last: build, tree: tree, staging: staging, queue: queue, cpu: cpu)
        }
        var unowned = Set<RawPath>()
        let lastSeverity: Severity =
            state.failedRounds.contains(round) ? .fatal : state.differingRounds.contains(round) ? .divergent : .benign
        if var dependencies = classifier.dependencyOutcome(of: observation, needs: final, severity: lastSeverity) {
            if build.status.isSuccess {
                try holdOutPackages(
                    dependencies.undeclared, check, findings: &dependencies.findings, state: &state, last: build, tree: tree,
                    staging: staging, queue: queue, cpu: cpu)
            }
            findings += dependencies.findings
            unowned = dependencies.unowned
            for package in dependencies.hostLacks.sorted() {
                state.warnings.append(
                    "\(check.sample.name): this host lacks \(package), which the candidate declares: its builds ran without it (install it for a faithful check)"
                )
            }
        }
        let outcome = SampleOutcome(
            observation: observation.withoutTraces(), findings: findings,
            treeFilesUsed: final.referenceUsed.keys.map(\.description).sorted(),
            candidateUsed: Set(final.candidateUsed.keys), rebuilds: state.rebuilds, dependencyRebuilds: state.dependencyRebuilds,
            warnings: observation.traceWarnings + state.warnings,
            unownedHostFiles: unowned,
            candidateFiles: Self.candidateFiles(of: Set(final.candidateUsed.keys), classifier: classifier, scratch: check.scratch.parent))
        try execute(queue.send(.classified(outcome), to: check), check, tree: tree, staging: staging, queue: queue, cpu: cpu)
        progress("\(check.sample.name): classified")
    }
}
