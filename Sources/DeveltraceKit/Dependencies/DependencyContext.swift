import Foundation

/// What the `dependency` rule needs to know about the host and the
/// candidate's declarations, gathered once per check: the dpkg database's
/// owners, the policy, and the archive's index (looked up lazily, cached).
final class DependencyContext: @unchecked Sendable {
    let policy: DependencyPolicy
    /// Declared relations nothing on the host satisfies.
    let unsatisfied: Set<String>
    /// What the report says about how dependencies were judged.
    let warnings: [String]
    private let contents: ArchiveContents?
    private let scratch: RawPath
    private let lock = NSLock()
    private var shipped: [RawPath: [String]] = [:]
    private var ownersLoad: BackgroundTask<FileOwners?>?

    private init(
        policy: DependencyPolicy, unsatisfied: Set<String>, warnings: [String], contents: ArchiveContents?, scratch: RawPath
    ) {
        self.policy = policy
        self.unsatisfied = unsatisfied
        self.warnings = warnings
        self.contents = contents
        self.scratch = scratch
    }

    /// The context for a candidate made of `packages` (empty: a directory)
    /// on this host; nil on a host without a dpkg database (then no
    /// `dependency` findings, and a warning says so).
    static func make(packages: [PackageInfo], scratch: RawPath, architecture: TargetArchitecture? = nil) -> (
        context: DependencyContext?, warnings: [String]
    ) {
        guard let installed = InstalledPackages.cached(), FileOwners.databaseExists() else {
            return (nil, ["system dependencies not judged: this host has no dpkg database"])
        }
        var warnings: [String] = []
        let hostArchitecture = (try? HostCommand.run(["dpkg", "--print-architecture"])).map {
            String(decoding: $0.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let rpms = packages.filter { $0.requires != nil || ($0.file?.hasSuffix(".rpm") ?? false) }
        let debian = packages.filter { !rpms.contains($0) }
        var relations: [PackageRelation]? = nil
        var unresolvedNames: [String] = []
        var absent = Set<String>()
        if packages.isEmpty {
            warnings.append(
                "system dependencies: the candidate is a directory and declares nothing; only programs the host lacks are reported")
        } else if let unread = rpms.first(where: { $0.requires == nil }) {
            warnings.append(
                "system dependencies: the Requires of \(unread.file ?? unread.name) could not be read (is rpm installed?); only programs the host lacks are reported"
            )
        } else {
            relations = debian.flatMap { PackageRelation.parse($0.preDepends ?? "") + PackageRelation.parse($0.depends ?? "") }
            if !rpms.isEmpty, let owners = FileOwners.cached() {
                let host = LiveHostView()
                let declarations = RpmDeclarations.resolve(
                    rpms.flatMap { $0.requires ?? [] }.compactMap(RpmRequirement.parse),
                    hostTriplet: Self.multiarchTriplet(hostArchitecture ?? "amd64")
                ) { path in
                    let hops = owners.hops(of: path, host: host)
                    guard let last = hops.last, host.kind(of: last.path) != nil else { return nil }
                    return hops.reduce(into: Set<String>()) { $0.formUnion($1.owners) }
                }
                relations! += declarations.packages.sorted().map { PackageRelation(alternatives: [.init(name: $0)]) }
                unresolvedNames = declarations.names
                absent = Set(declarations.absent)
                warnings.append(
                    "system dependencies: rpm candidates are judged on their file and library requirements (resolved to this host's packages: "
                        + (declarations.packages.isEmpty ? "none" : declarations.packages.sorted().joined(separator: ", ")) + ")"
                        + (declarations.names.isEmpty
                            ? ""
                            : "; their requirements by name (\(declarations.names.joined(separator: ", "))) cannot be resolved without an rpm database")
                )
            }
        }
        let (policy, unsatisfiedRelations) = DependencyPolicy.make(
            candidateRelations: relations, candidateNames: Set(packages.map(\.name)), installed: installed,
            crossTriplet: architecture.map { String($0.crossCompile.hasSuffix("-") ? $0.crossCompile.dropLast() : $0.crossCompile[...]) },
            unresolvedNames: unresolvedNames)
        let unsatisfied = unsatisfiedRelations.union(absent)
        if !unsatisfied.isEmpty {
            warnings.append(
                "system dependencies: the candidate declares \(unsatisfied.sorted().joined(separator: ", ")), which this host does not have installed; what they would bring in is unknown here"
            )
        }
        let contents = hostArchitecture.flatMap { ArchiveContents.available(architecture: $0) }
        if contents == nil {
            warnings.append(
                "system dependencies: apt has no Contents index, so a program the host lacks is named without its package (install apt-file and run `apt update`)"
            )
        }
        let context = DependencyContext(
            policy: policy, unsatisfied: unsatisfied, warnings: warnings, contents: contents, scratch: scratch)
        return (context, warnings)
    }

    /// Debian's multiarch triplet for a dpkg architecture (`amd64` →
    /// `x86_64-linux-gnu`): where that architecture's libraries live.
    static func multiarchTriplet(_ architecture: String) -> String {
        let known = [
            "amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "i386": "i386-linux-gnu", "armhf": "arm-linux-gnueabihf",
            "armel": "arm-linux-gnueabi", "ppc64el": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu",
            "riscv64": "riscv64-linux-gnu", "mips64el": "mips64el-linux-gnuabi64",
        ]
        return known[architecture] ?? "\(architecture)-linux-gnu"
    }

    /// The host's file owners, read once per process and again only when
    /// dpkg's database changed (a test suite runs many checks). Nil when
    /// nothing is declared: then no use is judged, only absent programs.
    var owners: FileOwners? {
        guard policy.declared != nil else { return nil }
        if let load = lock.withLock({ ownersLoad }) { return try? load.value() }
        return FileOwners.cached()
    }

    /// Starts reading the host's file owners on a thread of its own (800
    /// packages' file lists, 141,000 paths: 0.4 s on the development
    /// machine), so that the first sample's classification does not wait
    /// for them on a build's slot. Nothing when no use will be judged.
    func preloadOwners() {
        guard policy.declared != nil else { return }
        lock.withLock {
            if ownersLoad == nil { ownersLoad = BackgroundTask { FileOwners.cached() } }
        }
    }

    /// The archive's packages that ship each program name in one of the
    /// program directories (merged `/usr`: `bin/x` and `usr/bin/x` both);
    /// nil without the archive's index.
    func shippedBy(_ names: Set<RawPath>) -> [RawPath: [String]]? {
        guard let contents else { return nil }
        lock.lock()
        defer { lock.unlock() }
        let unknown = names.filter { shipped[$0] == nil }
        if !unknown.isEmpty {
            var paths: [RawPath: RawPath] = [:]
            for name in unknown {
                for directory in DependencyRule.programDirectories { paths[directory.appending(name)] = name }
            }
            let found = (try? contents.packages(shipping: Set(paths.keys), scratch: scratch)) ?? [:]
            for name in unknown { shipped[name] = [] }
            for (path, packages) in found.sorted(by: { $0.key < $1.key }) {
                guard let name = paths[path] else { continue }
                for package in packages where !shipped[name]!.contains(package) { shipped[name]!.append(package) }
            }
        }
        return names.reduce(into: [:]) { $0[$1] = shipped[$1] ?? [] }
    }
}
