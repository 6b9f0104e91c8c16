/// Where the classifier meets the `dependency` rule: which accesses of a
/// candidate build were of the host system, and the host's answers the
/// rule needs about them.
extension Classifier {
    /// Where a Debian system's packaged files are (merged `/usr` or not).
    static let systemRoots = ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"].map(RawPath.init)

    /// Records `access` of a candidate round if a build process made it
    /// (`ProcessRoles`) of a host system file (not the candidate, not a
    /// sample or anything else the sandbox binds: `bound`, its bind and
    /// overlay targets). A shared object a host
    /// program loads is that program's (its package's own dependency), and
    /// so is what the C library reads for it (`ProcessRoles.isLibraryRuntime`).
    func noteHostAccess(
        _ access: FileAccess, round: Int, outcome: TraceOutcome, buildProcesses: Set<Int32>, bound: [RawPath], into needs: inout Needs
    ) {
        guard buildProcesses.contains(access.process) else { return }
        let path = access.path.resolvingDotDot()
        guard Self.systemRoots.contains(where: { path.isSame(or: $0) }), !candidate.contains(path) else { return }
        if bound.contains(where: { path.isSame(or: $0) }) { return }
        if DependencyRule.programDirectories.contains(path.parent),
            access.intent == .exec || access.intent == .stat || access.intent == .probe
        {
            let name = path.lastComponent
            if access.result.isOK {
                needs.programsFound.insert(name)
            } else if Self.absentErrors.contains(access.result.description) {
                needs.programProbes[name, default: []].append((round, access))
            }
        }
        if access.intent == .read, ProcessRoles.isLibraryRuntime(path) { return }
        if access.intent == .read, ProcessRoles.isInterpreterStartup(path, executable: outcome.processes[access.process]?.executable) {
            return
        }
        if access.intent == .read, ProcessRoles.isSharedObject(path),
            let program = outcome.processes[access.process]?.executable, !candidate.contains(program)
        {
            return
        }
        if access.result.isOK, access.intent == .read || access.intent == .exec, needs.hostUses[path]?.count ?? 0 < 2 {
            needs.hostUses[path, default: []].append((round, access))
        }
    }

    /// The `dependency` findings of one sample (nil when dependencies are
    /// not judged), each with `severity` until an experiment says more.
    func dependencyOutcome(of observation: SampleObservation, needs: Needs, severity: Severity) -> DependencyRule.Outcome? {
        guard let context = dependencies else { return nil }
        let host = LiveHostView()
        var uses: [RawPath: [Seen]] = [:]
        var hops: [RawPath: [FileOwners.Hop]] = [:]
        if let owners = context.owners {
            for (path, seen) in needs.hostUses where host.followedKind(of: path) != .directory {
                uses[path] = seen
                hops[path] = owners.hops(of: path, host: host)
            }
        }
        // Tried and not there: the process that looked for it was `make`
        // (it searches PATH itself, only to run a recipe's command) or ended
        // with 127, the shell's and execvp's "command not found". A probe
        // whose process went on (`command -v rustc` in Kconfig, an optional
        // tool) asked, and the build took the answer.
        var absent: [RawPath: [Seen]] = [:]
        for (name, probes) in needs.programProbes where !needs.programsFound.contains(name) {
            let tried = probes.filter { seen in
                let process = observation.rounds[seen.round - 1].outcome.processes[seen.access.process]
                return process?.exitStatus == 127
                    || process?.executable.map { ProcessRoles.buildCommands.contains($0.lastComponent) } == true
            }
            if !tried.isEmpty { absent[name] = tried }
        }
        return DependencyRule.outcome(
            sample: observation.sample.name, dkms: observation.sample.kind == .dkms, uses: uses, hops: hops, absentPrograms: absent,
            shippedBy: context.shippedBy(Set(absent.keys)), policy: context.policy, severity: severity,
            show: { evidence($0, in: observation) })
    }

    /// The host files to hide to hold `packages` out of a build: every file
    /// (not directory) they own that no other package owns.
    func hostFiles(of packages: Set<String>) -> [RawPath] {
        guard let owners = dependencies?.owners else { return [] }
        let host = LiveHostView()
        var result = Set<RawPath>()
        for package in packages {
            for path in owners.files(of: package) {
                guard let kind = host.kind(of: path), kind != .directory,
                    case let owning = owners.owners(of: path), !owning.isEmpty, owning.isSubset(of: packages)
                else { continue }
                result.insert(path)
            }
        }
        return result.sorted()
    }
}
