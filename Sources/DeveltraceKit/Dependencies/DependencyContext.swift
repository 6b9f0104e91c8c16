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
        let debian = packages.filter { $0.requires == nil }
        var relations: [PackageRelation]? = nil
        if packages.isEmpty {
            warnings.append(
                "system dependencies: the candidate is a directory and declares nothing; only programs the host lacks are reported")
        } else if debian.count < packages.count {
            let files = Set(packages.compactMap(\.requires).joined().filter { $0.hasPrefix("/") }).sorted()
            warnings.append(
                "system dependencies: rpm candidates declare by name, and this host has no rpm database to resolve names; only programs the host lacks are reported"
                    + (files.isEmpty ? "" : " (file requires: \(files.joined(separator: ", ")))"))
        } else {
            relations = debian.flatMap { PackageRelation.parse($0.preDepends ?? "") + PackageRelation.parse($0.depends ?? "") }
        }
        let (policy, unsatisfied) = DependencyPolicy.make(
            candidateRelations: relations, candidateNames: Set(packages.map(\.name)), installed: installed,
            crossTriplet: architecture.map { String($0.crossCompile.hasSuffix("-") ? $0.crossCompile.dropLast() : $0.crossCompile[...]) })
        if !unsatisfied.isEmpty {
            warnings.append(
                "system dependencies: the candidate declares \(unsatisfied.sorted().joined(separator: ", ")), which this host does not have installed; what they would bring in is unknown here"
            )
        }
        let architecture = (try? HostCommand.run(["dpkg", "--print-architecture"])).map {
            String(decoding: $0.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let contents = architecture.flatMap { ArchiveContents.available(architecture: $0) }
        if contents == nil {
            warnings.append(
                "system dependencies: apt has no Contents index, so a program the host lacks is named without its package (install apt-file and run `apt update`)"
            )
        }
        let context = DependencyContext(
            policy: policy, unsatisfied: unsatisfied, warnings: warnings, contents: contents, scratch: scratch)
        return (context, warnings)
    }

    /// The host's file owners, read once per process and again only when
    /// dpkg's database changed (a test suite runs many checks). Nil when
    /// nothing is declared: then no use is judged, only absent programs.
    var owners: FileOwners? {
        guard policy.declared != nil else { return nil }
        return FileOwners.cached()
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
