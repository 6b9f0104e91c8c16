#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The host's installed packages as dpkg records them
/// (`/var/lib/dpkg/status`): what each depends on, provides, and whether it
/// is Essential. A value: loading reads the file once; every question after
/// is answered from memory.
struct InstalledPackages: Sendable {
    struct Package: Sendable, Hashable {
        var name: String
        var essential: Bool
        /// `Pre-Depends` then `Depends`.
        var depends: [PackageRelation]
        /// Virtual package names it provides.
        var provides: [String]
    }

    /// By name; several architectures of one name are merged.
    private(set) var byName: [String: Package] = [:]
    /// Virtual name → installed packages that provide it.
    private(set) var providers: [String: Set<String>] = [:]

    init(paragraphs: [[String: String]]) {
        for fields in paragraphs {
            guard let name = fields["Package"], let status = fields["Status"],
                status.split(separator: " ").last == "installed"
            else { continue }
            let depends = PackageRelation.parse(fields["Pre-Depends"] ?? "") + PackageRelation.parse(fields["Depends"] ?? "")
            let provides = PackageRelation.parse(fields["Provides"] ?? "").flatMap { $0.alternatives.map(\.name) }
            var package = byName[name] ?? Package(name: name, essential: false, depends: [], provides: [])
            package.essential = package.essential || fields["Essential"] == "yes"
            package.depends += depends.filter { !package.depends.contains($0) }
            package.provides += provides.filter { !package.provides.contains($0) }
            byName[name] = package
            for virtual in provides { providers[virtual, default: []].insert(name) }
        }
    }

    private static let cache = Mutex<(stamp: [Int64], packages: InstalledPackages)?>(nil)

    /// `load()`, reused while the status file is unchanged (by size and
    /// modification time).
    static func cached(statusFile: RawPath = RawPath("/var/lib/dpkg/status")) -> InstalledPackages? {
        guard let status = try? FileSystem.status(of: statusFile) else { return nil }
        let stamp = [Int64(status.st_size), Int64(status.st_mtim.tv_sec), Int64(status.st_mtim.tv_nsec)]
        if let hit = cache.withLock({ $0?.stamp == stamp ? $0?.packages : nil }) { return hit }
        guard let packages = load(statusFile: statusFile) else { return nil }
        cache.withLock { $0 = (stamp, packages) }
        return packages
    }

    /// The host's dpkg database (nil where there is none: an rpm host).
    static func load(statusFile: RawPath = RawPath("/var/lib/dpkg/status")) -> InstalledPackages? {
        guard let bytes = try? FileReading.bytes(of: statusFile) else { return nil }
        return InstalledPackages(paragraphs: ControlParagraphs.parse(String(decoding: bytes, as: UTF8.self)))
    }

    /// The installed packages that satisfy `relation`: those of its first
    /// alternative that is installed, by name or as a virtual package (every
    /// installed provider of it: any of them may be the user's). Empty when
    /// no alternative is installed.
    func satisfiers(of relation: PackageRelation) -> Set<String> {
        for alternative in relation.alternatives {
            var found = providers[alternative.name] ?? []
            if byName[alternative.name] != nil { found.insert(alternative.name) }
            if !found.isEmpty { return found }
        }
        return []
    }

    /// What `relations` bring in: the installed packages that satisfy them
    /// and, transitively, their own `Pre-Depends` and `Depends`; and the
    /// relations nothing installed satisfies (as written, first alternative).
    func closure(of relations: [PackageRelation], startingWith names: Set<String> = []) -> (
        packages: Set<String>, unsatisfied: Set<String>
    ) {
        var packages = Set<String>()
        var unsatisfied = Set<String>()
        var pending = Array(names)
        func add(_ relation: PackageRelation) {
            let found = satisfiers(of: relation)
            if found.isEmpty { unsatisfied.insert(relation.alternatives.map(\.name).joined(separator: " | ")) }
            pending += found
        }
        relations.forEach(add)
        while let name = pending.popLast() {
            guard packages.insert(name).inserted, let package = byName[name] else { continue }
            package.depends.forEach(add)
        }
        return (packages, unsatisfied)
    }

    /// Every `Essential: yes` package with its dependency closure: what any
    /// Debian system has.
    var essentialClosure: Set<String> {
        closure(of: [], startingWith: Set(byName.values.filter(\.essential).map(\.name))).packages
    }
}
