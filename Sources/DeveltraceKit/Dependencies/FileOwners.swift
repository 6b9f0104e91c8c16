import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Which installed package owns each host file, as dpkg records it
/// (`/var/lib/dpkg/info/*.list`, `diversions`, `alternatives/`): the data
/// `dpkg -S` reads, indexed once by where each file really is.
///
/// dpkg records paths as packages ship them, which are not always where
/// the file is: on a merged-`/usr` system dpkg says `/bin/sh` and a build
/// opens `/usr/bin/sh`; a diverted file lives under the diversion's name.
/// So every recorded path is keyed by its real directory (`realpath` of
/// its parent) and its own name, and a file another package diverts is
/// keyed where the diversion put it.
struct FileOwners: Sendable {
    /// Every package named in the lists, by index.
    private var packageNames: [String] = []
    private var packageIndex: [String: Int32] = [:]
    /// The listed files' real locations, one table entry each (a Debian
    /// host lists some 140,000 paths: one array of bytes and a few of
    /// integers, rather than a heap object and a dictionary entry per path,
    /// which took 0.29 s of a check's own 1.44 s of CPU).
    private var table = LocationTable()
    /// Entry → its package's index, or `-(k + 1)` for the packages
    /// `shared[k]` (a directory many packages list).
    private var ownerOf: [Int32] = []
    private var shared: [[Int32]] = []
    /// Package index → the entries of what it lists (directories included).
    private var filesOf: [[Int32]] = []
    /// Links that `update-alternatives` manages → the alternative's name
    /// (`/usr/bin/cc` → `cc`): owned by no package, they lead to one.
    private(set) var alternativeLinks: [RawPath: String] = [:]

    /// A diversion: `path` of every package but `by` lives at `to`.
    struct Diversion: Sendable, Hashable {
        var path: RawPath
        var to: RawPath
        /// The diverting package; nil for a local diversion (`:`).
        var by: String?
    }

    /// The packages that list the real location `path` (empty: none).
    func owners(of path: RawPath) -> Set<String> {
        guard let entry = table.find(path.bytes) else { return [] }
        let owner = ownerOf[Int(entry)]
        if owner >= 0 { return [packageNames[Int(owner)]] }
        return Set(shared[Int(-owner - 1)].map { packageNames[Int($0)] })
    }

    /// The real locations of what `package` lists (directories included).
    func files(of package: String) -> [RawPath] {
        guard let index = packageIndex[package] else { return [] }
        return filesOf[Int(index)].map { RawPath(bytes: table.bytes(of: $0)) }
    }

    /// Builds the index from the database's contents; `realDirectory` maps
    /// a directory to its real path (identity where it does not exist).
    init(
        lists: [(package: String, paths: [RawPath])], diversions: [Diversion], alternatives: [(name: String, links: [RawPath])],
        realDirectory: @escaping (RawPath) -> RawPath
    ) {
        self.init(
            listTexts: lists.map { list in (list.package, list.paths.flatMap { $0.bytes + [10] }) }, diversions: diversions,
            alternatives: alternatives, realDirectory: realDirectory)
    }

    /// The same from each list's text as dpkg keeps it: one path a line.
    init(
        listTexts: [(package: String, text: [UInt8])], diversions: [Diversion], alternatives: [(name: String, links: [RawPath])],
        realDirectory: @escaping (RawPath) -> RawPath
    ) {
        var locator = Locator(realDirectory: realDirectory)
        // The diverted paths by entry (the first diversion of a path, as dpkg keeps one).
        var diverted = LocationTable()
        var diversionOf: [Diversion] = []
        for diversion in diversions where Int(diverted.insert(diversion.path.bytes)) == diversionOf.count {
            diversionOf.append(diversion)
        }
        let lines = listTexts.reduce(0) { count, list in count + list.text.reduce(0) { $1 == 10 ? $0 + 1 : $0 } + 1 }
        table.reserve(lines)
        ownerOf.reserveCapacity(lines)
        for (package, text) in listTexts {
            let index: Int32
            if let known = packageIndex[package] {
                index = known
            } else {
                index = Int32(packageNames.count)
                packageIndex[package] = index
                packageNames.append(package)
                filesOf.append([])
            }
            var entries: [Int32] = []
            var start = text.startIndex
            while start < text.endIndex {
                let end = text[start...].firstIndex(of: 10) ?? text.endIndex
                let line = text[start..<end]
                start = end + 1
                // Absolute paths but the root itself.
                guard line.count > 1, line.first == 47 else { continue }
                let location: ArraySlice<UInt8>
                if diverted.count > 0, let entry = diverted.find(line), case let diversion = diversionOf[Int(entry)],
                    diversion.by != package
                {
                    location = locator.locate(diversion.to.bytes[...])
                } else {
                    location = locator.locate(line)
                }
                let entry = table.insert(location)
                if Int(entry) == ownerOf.count {
                    ownerOf.append(index)
                } else {
                    add(index, at: entry)
                }
                entries.append(entry)
            }
            filesOf[Int(index)] += entries
        }
        for (name, links) in alternatives {
            for link in links where link.bytes.count > 1 {
                alternativeLinks[RawPath(bytes: Array(locator.locate(link.bytes[...])))] = name
            }
        }
    }

    /// Records that `package` lists `entry` (once a package).
    private mutating func add(_ package: Int32, at entry: Int32) {
        let owner = ownerOf[Int(entry)]
        if owner == package { return }
        if owner >= 0 {
            shared.append([owner, package])
            ownerOf[Int(entry)] = -Int32(shared.count)
        } else if !shared[Int(-owner - 1)].contains(package) {
            shared[Int(-owner - 1)].append(package)
        }
    }

    /// Where a listed path really is: its parent's real directory (each
    /// parent asked once) and its own name.
    private struct Locator {
        var realDirectory: (RawPath) -> RawPath
        /// Parent → its real directory, nil where it is where it says.
        var parents = LocationTable()
        var answers: [RawPath?] = []

        /// The location of `path` (absolute, more than `/`).
        mutating func locate(_ path: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            guard let slash = path.lastIndex(of: 47) else { return path }
            let parent = slash == path.startIndex ? path[...slash] : path[..<slash]
            let number = Int(parents.insert(parent))
            if number == answers.count {
                let key = RawPath(bytes: Array(parent))
                let real = realDirectory(key)
                answers.append(real == key ? nil : real)
            }
            // Kept byte for byte where the parent is where it says (`/.`
            // included); otherwise the real parent and the name, normalized.
            guard let real = answers[number] else { return path }
            return real.appending(RawPath(bytes: Array(path[(slash + 1)...]))).bytes[...]
        }
    }

    /// Whether the host has a dpkg database to read.
    static func databaseExists(_ database: RawPath = RawPath("/var/lib/dpkg")) -> Bool {
        LiveHostView().kind(of: database.appending(RawPath("info"))) == .directory
    }

    private static let cache = Mutex<(stamp: [Int64], owners: FileOwners)?>(nil)

    /// `load()`, reused while dpkg's database is unchanged (the status file
    /// and the info directory, by size and modification time).
    static func cached(database: RawPath = RawPath("/var/lib/dpkg")) -> FileOwners? {
        func stamp(_ path: RawPath) -> [Int64] {
            guard let status = try? FileSystem.status(of: path) else { return [-1] }
            return [Int64(status.st_size), Int64(status.st_mtim.tv_sec), Int64(status.st_mtim.tv_nsec)]
        }
        let now = stamp(database.appending(RawPath("status"))) + stamp(database.appending(RawPath("info")))
        if let hit = cache.withLock({ $0?.stamp == now ? $0?.owners : nil }) { return hit }
        guard let owners = load(database: database) else { return nil }
        cache.withLock { $0 = (now, owners) }
        return owners
    }

    /// The host's dpkg database (nil without one).
    static func load(database: RawPath = RawPath("/var/lib/dpkg"), host: HostView = LiveHostView()) -> FileOwners? {
        let info = database.appending(RawPath("info"))
        var lists: [(package: String, text: [UInt8])] = []
        var names: [RawPath] = []
        do throws(Errno) {
            try DirectoryWalk.walk(info) { entry in
                names.append(entry.relativePath)
                return false
            }
        } catch {
            return nil
        }
        for name in names where name.bytes.count > 5 && name.bytes.suffix(5) == Array(".list".utf8) {
            var package = String(decoding: name.bytes.dropLast(5), as: UTF8.self)
            // `libc6:amd64.list`: the name without the architecture.
            if let colon = package.firstIndex(of: ":") { package = String(package[..<colon]) }
            guard let bytes = try? FileReading.bytes(of: info.appending(name)) else { continue }
            lists.append((package, bytes))
        }
        var diversions: [Diversion] = []
        if let bytes = try? FileReading.bytes(of: database.appending(RawPath("diversions"))) {
            let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map { Array($0) }
            var index = 0
            while index + 2 < lines.count {
                let by = String(decoding: lines[index + 2], as: UTF8.self)
                diversions.append(
                    Diversion(path: RawPath(bytes: lines[index]), to: RawPath(bytes: lines[index + 1]), by: by == ":" ? nil : by))
                index += 3
            }
        }
        var alternatives: [(String, [RawPath])] = []
        let administrative = database.appending(RawPath("alternatives"))
        var alternativeNames: [RawPath] = []
        try? DirectoryWalk.walk(administrative) { entry in
            alternativeNames.append(entry.relativePath)
            return false
        }
        for name in alternativeNames {
            guard let bytes = try? FileReading.bytes(of: administrative.appending(name)) else { continue }
            alternatives.append((name.description, Self.alternativeLinks(bytes)))
        }
        let directories = RealDirectories(host: host)
        return FileOwners(
            listTexts: lists, diversions: diversions, alternatives: alternatives,
            realDirectory: { directories.real($0) ?? $0 })
    }

    /// The links of one `/var/lib/dpkg/alternatives/NAME` file: the master
    /// link (line 2) and each slave's link (the lines after each slave
    /// name, up to the blank line that ends the list).
    static func alternativeLinks(_ bytes: [UInt8]) -> [RawPath] {
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map { RawPath(bytes: Array($0)) }
        guard lines.count > 1 else { return [] }
        var links = [lines[1]]
        var index = 2
        while index + 1 < lines.count, !lines[index].isEmpty {
            links.append(lines[index + 1])
            index += 2
        }
        return links.filter(\.isAbsolute)
    }

    /// One step on the way from a path a build named to the file it got.
    struct Hop: Sendable, Hashable {
        /// Where this step is (real directory, own name).
        var path: RawPath
        /// The packages that list it (empty: none does).
        var owners: Set<String>
        /// The alternative that manages it, for an `update-alternatives` link.
        var alternative: String?
        /// A symlink (another hop follows), rather than the file itself.
        var isLink: Bool
    }

    /// Every hop from `path` to the file it leads to: each symlink on the
    /// way (with its owner) and the file. At most 40 links, as the kernel.
    func hops(of path: RawPath, host: HostView) -> [Hop] {
        var hops: [Hop] = []
        var current = path.resolvingDotDot()
        for _ in 0..<40 {
            let location = host.realPath(of: current.parent).map { $0.appending(current.lastComponent) } ?? current
            let isLink = host.kind(of: location) == .symlink
            // `/etc/alternatives/NAME`: the alternative's own link.
            let alternative =
                alternativeLinks[location]
                ?? (location.parent == RawPath("/etc/alternatives") ? location.lastComponent.description : nil)
            hops.append(Hop(path: location, owners: owners(of: location), alternative: alternative, isLink: isLink))
            guard isLink, let target = host.linkTarget(of: location) else { break }
            current = (target.isAbsolute ? target : location.parent.appending(target)).resolvingDotDot()
        }
        return hops
    }
}
