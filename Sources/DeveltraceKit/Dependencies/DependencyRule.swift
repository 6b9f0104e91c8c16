/// The `dependency` rule (ARCHITECTURE.md, "System dependencies"): from
/// what a sample's candidate builds took from the host system, the packages
/// they used without the candidate declaring them, and the programs they
/// looked for that the host lacks. Pure: the host's answers (hops, owners,
/// the archive's index) come in as values.
enum DependencyRule {
    typealias Seen = Classifier.Seen

    struct Outcome {
        var findings: [Finding] = []
        /// Host files the builds used that no package owns (`/etc/ld.so.cache`).
        var unowned: Set<RawPath> = []
        /// Packages the candidate declares that the host lacks (the check
        /// then saw a build without them: install them).
        var hostLacks: Set<String> = []
        /// The packages found by use (not absent programs): what an
        /// experiment may hide to learn their severity, sorted.
        var undeclared: [String] = []
    }

    /// Directories a shell or `execvp` looks for a program in.
    static let programDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(RawPath.init)

    /// - Parameters:
    ///   - uses: host files (as the build named them) the candidate builds
    ///     read or executed, with the accesses.
    ///   - hops: for each of `uses`, the way to the file (`FileOwners.hops`).
    ///   - absentPrograms: program names a build tried to run from
    ///     `programDirectories` and found in none, with the probes.
    ///   - shippedBy: for each absent program, the archive's packages that
    ///     ship it in one of those directories (empty: none does; nil: the
    ///     archive's index is not on this host).
    static func outcome(
        sample: String, dkms: Bool, uses: [RawPath: [Seen]], hops: [RawPath: [FileOwners.Hop]], absentPrograms: [RawPath: [Seen]],
        shippedBy: [RawPath: [String]]?, policy: DependencyPolicy, severity: Severity, show: (Seen) -> Evidence
    ) -> Outcome {
        var outcome = Outcome()
        // Package → (what of it was used, how).
        var used: [String: [(path: RawPath, seen: Seen)]] = [:]
        for (path, seen) in uses.sorted(by: { $0.key < $1.key }) {
            for hop in hops[path] ?? [] {
                if hop.owners.isEmpty {
                    if hop.alternative == nil { outcome.unowned.insert(hop.path) }
                    continue
                }
                for package in hop.owners where policy.mustDeclare(package, dkms: dkms) {
                    used[package, default: []].append((hop.path, seen.first!))
                }
            }
        }
        outcome.undeclared = used.keys.sorted()
        for (package, uses) in used.sorted(by: { $0.key < $1.key }) {
            var paths: [RawPath] = []
            for use in uses where !paths.contains(use.path) { paths.append(use.path) }
            let shown = paths.prefix(4).map(\.description).joined(separator: ", ") + (paths.count > 4 ? ", …" : "")
            let member = policy.buildEssential.contains(package) ? " (a build-essential member)" : ""
            let names = policy.unresolvedNames
            let unresolved =
                names.isEmpty
                ? ""
                : "; judged on the rpm's file and library requirements alone: its requirements by name ("
                    + names.prefix(6).joined(separator: ", ") + (names.count > 6 ? ", …" : "")
                    + ") cannot be resolved without an rpm database"
            outcome.findings.append(
                Finding(
                    path: package, class: .dependency, severity: severity, samples: [sample],
                    round: uses.map(\.seen.round).min() ?? 1,
                    detail:
                        "used \(shown); the candidate's packages do not depend on it, directly or through their dependencies\(member)\(unresolved)",
                    evidence: uses.prefix(3).map { show($0.seen) }))
        }
        for (name, probes) in absentPrograms.sorted(by: { $0.key < $1.key }) {
            let packages = shippedBy?[name] ?? []
            if let declared = policy.declared,
                let known = packages.first(where: { declared.contains($0) || policy.essential.contains($0) || policy.harness.contains($0) })
            {
                outcome.hostLacks.insert(known)
                continue
            }
            let places = Set(probes.map { $0.access.path.parent }).sorted().map(\.description).joined(separator: ", ")
            let archive =
                shippedBy == nil
                ? "apt has no Contents index here to say which package ships it"
                : packages.isEmpty
                    ? "no package of the archive ships it" : "the archive ships it in \(packages.joined(separator: ", "))"
            let declaration = policy.declared == nil ? "" : ", which the candidate's packages do not depend on"
            outcome.findings.append(
                Finding(
                    path: packages.first ?? name.description, class: .dependency, severity: severity, samples: [sample],
                    round: probes.map(\.round).min() ?? 1,
                    detail:
                        "the build looked for the program \(name) (in \(places)) and this host has none; \(archive)\(packages.isEmpty ? "" : declaration)",
                    evidence: probes.prefix(3).map(show)))
        }
        return outcome
    }
}
