import Foundation

/// Everything the builds of one sample produced.
struct SampleObservation {
    var sample: Sample
    var reference: SampleBuildResult
    /// Candidate builds, round 1 first.
    var rounds: [SampleBuildResult]
    /// For each successful round, the comparison of its modules with the
    /// reference's (by module file name).
    var comparisons: [[String: ModuleComparison]]

    /// What its traces say of themselves (the recorder's lost calls, tasks
    /// it had no room for), each named by sample and build: a trace that
    /// knows it is incomplete says so in the check's result, whose
    /// findings may lack what it missed.
    var traceWarnings: [String] {
        reference.outcome.notes.map { "\(sample.name): reference build: \($0)" }
            + rounds.enumerated().flatMap { index, build in
                build.outcome.notes.map { "\(sample.name): candidate round \(index + 1): \($0)" }
            }
    }

    /// The same observation without its builds' traces (accesses, processes,
    /// captured writes): what a classified sample keeps until the result
    /// is assembled. A sweep of 30 DKMS samples held every round's trace of
    /// every finished sample until the end.
    func withoutTraces() -> SampleObservation {
        func strip(_ build: SampleBuildResult) -> SampleBuildResult {
            var build = build
            build.outcome.accesses = []
            build.outcome.processes = [:]
            build.outcome.writes = []
            return build
        }
        return SampleObservation(
            sample: sample, reference: strip(reference), rounds: rounds.map(strip), comparisons: comparisons)
    }
}

/// Turns the traces of the reference and candidate builds into findings
/// (ARCHITECTURE.md, "Findings").
struct Classifier {
    let tree: BuildTree
    let candidate: StagedCandidate
    let layout: CandidateLayout
    /// The host's packages and the candidate's declarations (nil: system
    /// dependencies are not judged).
    var dependencies: DependencyContext? = nil
    /// Where every answer about a file of the trees or the candidate
    /// comes from: the file system (each answer asked once: nothing the
    /// classifier looks at changes during a check), or a table in tests.
    var facts: any FileFacts = MemoizedFileFacts(LiveFileFacts()) {
        didSet {
            resolutions = Memo()
            candidateFileSet = Memo()
        }
    }
    /// `candidateResolve`'s answers, for these facts.
    private(set) var resolutions = Memo<RawPath, RawPath?>()
    /// `candidateFiles()`, once for these facts (one key).
    private(set) var candidateFileSet = Memo<Bool, Set<RawPath>>()

    private static let lookIntents: Set<AccessIntent> = [.read, .stat, .exec, .probe]
    static let absentErrors: Set<String> = ["ENOENT", "ENOTDIR"]

    /// What the builds needed from the tree, and what the candidate lacked.
    /// One access of one build: round 0 is the reference build.
    typealias Seen = (round: Int, access: FileAccess)

    struct Needs {
        /// Tree files the reference build used (tree path → first accesses).
        var referenceUsed: [RawPath: [Seen]] = [:]
        /// Tree paths the candidate builds looked for and did not find.
        var candidateProbed: [RawPath: [Seen]] = [:]
        /// Tree paths the candidate builds used (tree path → accesses).
        var candidateUsed: [RawPath: [Seen]] = [:]
        var unrunnable: [RawPath: [(round: Int, access: FileAccess, detail: String)]] = [:]
        var outside: [RawPath: [Seen]] = [:]
        var treeWrites: [RawPath: [(round: Int, detail: String, access: FileAccess?)]] = [:]
        /// Paths (absolute) the candidate builds created.
        var created: Set<RawPath> = []
        /// Host system files the candidate builds read or executed.
        var hostUses: [RawPath: [Seen]] = [:]
        /// Program names looked for in the program directories and not
        /// found there, and names found there.
        var programProbes: [RawPath: [Seen]] = [:]
        var programsFound: Set<RawPath> = []
    }

    /// The evidence for an access (built only for the accesses a finding
    /// shows: the argv of a compiler has hundreds of words).
    func evidence(_ seen: Seen, in observation: SampleObservation) -> Evidence {
        let outcome = seen.round == 0 ? observation.reference.outcome : observation.rounds[seen.round - 1].outcome
        let argv = outcome.processes[seen.access.process]?.argv.map(\.description) ?? []
        return Evidence(
            sample: observation.sample.name, build: seen.round == 0 ? "reference" : "candidate", round: seen.round,
            pid: seen.access.pid, argv: argv, syscall: seen.access.syscall, errno: seen.access.result.description,
            path: seen.access.path.description)
    }

    /// The host path of tree path `relative` (object tree first), nil when
    /// neither tree has it.
    func treeHostPath(of relative: RawPath) -> RawPath? {
        for root in [tree.path] + (tree.sourceTree.map { [$0] } ?? []) {
            let host = root.appending(relative)
            if facts.kind(of: host, following: false) != nil { return host }
        }
        return nil
    }

    /// Whether the full tree has `relative` (as anything).
    func treeContains(_ relative: RawPath) -> Bool { treeHostPath(of: relative) != nil }

    func isTreeFile(_ relative: RawPath) -> Bool {
        guard let host = treeHostPath(of: relative) else { return false }
        // A dangling symlink is still a file.
        return facts.kind(of: host, following: true) != .directory
    }

    /// Whether the full tree has a directory (not a symlink to one) at
    /// `relative`.
    func isTreeDirectory(_ relative: RawPath) -> Bool {
        guard !relative.isEmpty, let host = treeHostPath(of: relative) else { return false }
        return facts.kind(of: host, following: false) == .directory
    }

    /// The candidate's `path` with symlinks resolved as the sandbox would
    /// (`StagedCandidate.resolve`), nil when absent.
    func candidateResolve(_ path: RawPath) -> RawPath? {
        resolutions.value(for: path) { candidate.resolve(path, facts: facts) }
    }

    /// The host file holding the content of sandbox path `path`.
    func candidateContentFile(_ path: RawPath) -> RawPath? { candidateResolve(path).map(candidate.backing) }

    /// Whether the candidate as given has `relative` under any of its roots.
    /// The top `Makefile` is held only when every half of a split package
    /// holds its own: `make -C` reads the kbuild dir's (the object half's
    /// wrapper), which includes the source half's (the kernel's).
    func candidateHas(_ relative: RawPath) -> Bool {
        if relative == RawPath("Makefile") {
            return ([layout.kbuildDir] + layout.sourceRoots).allSatisfy { candidateResolve($0.appending(relative)) != nil }
        }
        return layout.candidatePaths(of: relative).contains { candidateResolve($0) != nil }
    }

    /// Every place the candidate as given holds tree path `relative`, one
    /// per layout root that has it, as the sandbox shows it (symlinks
    /// resolved); files only, sorted.
    func candidatePlaces(of relative: RawPath) -> [RawPath] {
        let places = layout.candidatePaths(of: relative).compactMap { path in
            candidateResolve(path).flatMap { isCandidateFile($0) ? $0 : nil }
        }
        return Set(places).sorted()
    }

    func needs(of observation: SampleObservation) -> Needs {
        var needs = Needs()
        let reference = observation.reference.outcome
        for access in reference.accesses where access.result.isOK && Self.lookIntents.contains(access.intent) {
            guard let relative = tree.relativePath(of: access.path), !relative.isEmpty else { continue }
            if needs.referenceUsed[relative] == nil {
                guard isTreeFile(relative) else { continue }
                needs.referenceUsed[relative] = []
            }
            if needs.referenceUsed[relative]!.count < 2 { needs.referenceUsed[relative]!.append((0, access)) }
        }
        let hiddenRoots = [tree.path] + (tree.sourceTree.map { [$0] } ?? [])
        var machines: [RawPath: ElfMachine?] = [:]
        for (index, build) in observation.rounds.enumerated() {
            let round = index + 1
            let outcome = build.outcome
            let buildProcesses =
                dependencies == nil
                ? []
                : ProcessRoles.buildProcesses(
                    outcome.processes,
                    kernelMakes: ProcessRoles.kernelMakes(outcome.processes, accesses: outcome.accesses) {
                        self.layout.treePath(of: $0) != nil
                    })
            let bound = build.sandbox.map { $0.binds.map(\.target) + $0.overlays.map(\.target) } ?? []
            for write in outcome.writes where !write.isDirectory {
                needs.created.insert(write.path)
                if let relative = layout.treePath(of: write.path), !relative.isEmpty, candidate.contains(write.path) {
                    let creator = outcome.accesses.last { $0.path == write.path && ($0.intent == .create || $0.intent == .write) }
                    needs.treeWrites[relative, default: []].append((round, write.kind.rawValue, creator))
                }
            }
            for access in outcome.accesses {
                if let root = hiddenRoots.first(where: { access.path.resolvingDotDot().isSame(or: $0) }) {
                    let relative = access.path.resolvingDotDot().relative(to: root)
                    needs.outside[relative, default: []].append((round, access))
                    continue
                }
                guard let relative = layout.treePath(of: access.path), !relative.isEmpty else {
                    if dependencies != nil {
                        noteHostAccess(
                            access, round: round, outcome: outcome, buildProcesses: buildProcesses, bound: bound, into: &needs)
                    }
                    continue
                }
                if access.intent == .create || access.intent == .write { needs.created.insert(access.path) }
                let item: Seen = (round, access)
                if access.intent == .exec, !Self.absentErrors.contains(access.result.description),
                    let foreign = foreignMachine(of: access.path, cache: &machines)
                {
                    // Judged by the ELF header, not by execve's errno: with
                    // qemu-user in binfmt_misc, a foreign program runs.
                    let native = ElfMachine.native.sorted { $0.code > $1.code }.map(\.description).joined(separator: " and ")
                    let outcome = access.result.isOK ? "" : " (execve: \(access.result))"
                    needs.unrunnable[relative, default: []].append(
                        (round, access, "an ELF program for \(foreign); this machine runs \(native)\(outcome)"))
                } else if access.intent == .exec, !access.result.isOK, !Self.absentErrors.contains(access.result.description) {
                    needs.unrunnable[relative, default: []].append((round, access, "execve failed: \(access.result)"))
                } else if access.intent == .probe, access.result.description == "EACCES" {
                    // As root, access() fails with EACCES only for X_OK on a
                    // file without execute permission (make checks before exec).
                    needs.unrunnable[relative, default: []].append((round, access, "not executable (access: EACCES)"))
                } else if access.intent == .exec, access.result.isOK,
                    let status = outcome.processes[access.process]?.exitStatus, status == 126 || status == 127
                {
                    needs.unrunnable[relative, default: []].append((round, access, "exited with \(status) right after exec"))
                }
                guard Self.lookIntents.contains(access.intent) else { continue }
                if access.result.isOK {
                    needs.candidateUsed[relative, default: []].append(item)
                } else if Self.absentErrors.contains(access.result.description) {
                    needs.candidateProbed[relative, default: []].append(item)
                }
            }
        }
        return needs
    }

    /// The machine of a program inside the candidate that this machine
    /// cannot run natively, or nil (native, not ELF, outside the candidate).
    func foreignMachine(of path: RawPath, cache: inout [RawPath: ElfMachine?]) -> ElfMachine? {
        if let known = cache[path] { return known }
        var foreign: ElfMachine? = nil
        if candidate.contains(path), !ElfMachine.native.isEmpty, let file = candidateContentFile(path),
            let machine = facts.elfMachine(of: file), !ElfMachine.native.contains(machine)
        {
            foreign = machine
        }
        cache[path] = foreign
        return foreign
    }

    /// Tree paths needed and absent from the candidate, with whether a file
    /// of identical content stood in for them (then the tree path it had).
    func absent(_ needs: Needs, upToRound round: Int, probedOnly: Bool = false) -> [RawPath: RawPath?] {
        var result: [RawPath: RawPath?] = [:]
        var wanted = probedOnly ? Set<RawPath>() : Set(needs.referenceUsed.keys)
        for (path, probes) in needs.candidateProbed where probes.contains(where: { $0.round <= round }) { wanted.insert(path) }
        if !probedOnly {
            // Read by a later round and not made by it: closure's copy (a
            // kin, which no round probed and the reference need not use).
            for (path, uses) in needs.candidateUsed
            where uses.contains(where: { $0.round > 1 && $0.round <= round && !needs.created.contains($0.access.path) }) {
                wanted.insert(path)
            }
        }
        var stoodIn: SubstituteIndex? = nil
        for path in wanted {
            // Used by the first round, before closure added anything: present
            // (not the top Makefile: a split package's object half reads its
            // own, a wrapper, whether or not the source half has the kernel's).
            if path != RawPath("Makefile"),
                needs.candidateUsed[path]?.contains(where: { $0.round == 1 && !needs.created.contains($0.access.path) }) == true
            {
                continue
            }
            guard isTreeFile(path) && !candidateHas(path) else { continue }
            if stoodIn == nil { stoodIn = substituteIndex(needs) }
            result[path] = substitute(for: path, in: stoodIn!)
        }
        return result
    }

    /// The files the candidate build read or stat'ed (not made by it), by
    /// size: the places a relocated file may stand in. Built once per
    /// classification, so that each absent file is compared only with the
    /// candidate's files of its size (comparing it with every file the
    /// build used made a split layout's classification take minutes).
    struct SubstituteIndex {
        var bySize: [Int: [(tree: RawPath, file: RawPath)]] = [:]
    }

    func substituteIndex(_ needs: Needs) -> SubstituteIndex {
        var index = SubstituteIndex()
        for (other, uses) in needs.candidateUsed.sorted(by: { $0.key < $1.key }) {
            var seen = Set<RawPath>()
            for use in uses where use.access.intent == .read || use.access.intent == .stat {
                guard !needs.created.contains(use.access.path), let file = candidateContentFile(use.access.path),
                    seen.insert(file).inserted, let size = facts.size(of: file)
                else { continue }
                index.bySize[size, default: []].append((other, file))
            }
        }
        return index
    }

    /// A file the candidate build read whose content equals the tree's
    /// `path`: the relocation target. Not a file the full tree has at that
    /// path too: that is the tree's own copy (6.12's
    /// `tools/include/uapi/asm-generic/bitsperlong.h` is a copy of
    /// `include/uapi/asm-generic/bitsperlong.h`), and a build that looks for
    /// the other copy does not find it there.
    func substitute(for path: RawPath, in index: SubstituteIndex) -> RawPath? {
        guard let treeFile = treeHostPath(of: path), let size = facts.size(of: treeFile),
            let places = index.bySize[size], let expected = facts.content(of: treeFile)
        else { return nil }
        for (other, file) in places where other != path && !treeContains(other) {
            if facts.content(of: file) == expected { return other }
        }
        return nil
    }

    /// A file of the same name the candidate build read in place of `path`
    /// that the full tree does not have (Debian's `arch/x86/module.lds` for
    /// `scripts/module.lds`).
    func standIn(for path: RawPath, needs: Needs) -> (path: RawPath, use: Seen)? {
        let name = path.lastComponent
        for (other, uses) in needs.candidateUsed.sorted(by: { $0.key < $1.key }) where other != path && other.lastComponent == name {
            guard !treeContains(other) else { continue }
            if let use = uses.first(where: { $0.access.intent == .read && !needs.created.contains($0.access.path) }),
                isCandidateFile(use.access.path)
            {
                return (other, use)
            }
        }
        return nil
    }

    /// Tree paths of every candidate file (not directory) under the
    /// layout's roots: what `unusedFindings` subtracts the used ones from
    /// (a file reached through two roots, a symlinked directory, counts
    /// as used when either path was).
    func candidateFiles() -> Set<RawPath> {
        candidateFileSet.value(for: true) {
            var files = Set<RawPath>()
            for root in layout.roots {
                guard let host = candidateContentFile(root.candidate) else { continue }
                for relative in facts.files(under: host) { files.insert(root.tree.isEmpty ? relative : root.tree.appending(relative)) }
            }
            return files
        }
    }

    /// A regular file or symlink of the candidate (not a directory, not
    /// something the build made).
    func isCandidateFile(_ path: RawPath) -> Bool {
        guard candidate.contains(path), let file = candidateContentFile(path), let kind = facts.kind(of: file, following: true)
        else { return false }
        return kind != .directory
    }
}
