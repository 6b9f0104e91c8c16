import Foundation

/// The Debian archive's `Contents` indices as apt keeps them
/// (`/var/lib/apt/lists/*_Contents-ARCH.lz4` and `*_Contents-all.lz4`,
/// fetched by `apt update` once `apt-file` is installed): which package of
/// the archive ships a path, installed or not.
///
/// Why these: they are the archive's own index, fetched through the same
/// signed `InRelease` as the package lists, and they are what `apt-file
/// search` answers from, which is where a maintainer looks. The host's
/// dpkg database only knows what is installed, and the program a build
/// lacked is by definition not.
struct ArchiveContents: Sendable {
    /// The index files, compressed as apt stored them.
    var files: [RawPath]

    /// The indices for `architecture` (and `all`) in `lists`, or nil if apt
    /// has none (then `apt-file update` after installing apt-file).
    static func available(architecture: String, lists: RawPath = RawPath("/var/lib/apt/lists")) -> ArchiveContents? {
        var found: [RawPath] = []
        try? DirectoryWalk.walk(lists) { entry in
            let name = entry.relativePath.description
            if !entry.isDirectory, name.contains("_Contents-\(architecture)") || name.contains("_Contents-all") {
                found.append(lists.appending(entry.relativePath))
            }
            return false
        }
        return found.isEmpty ? nil : ArchiveContents(files: found.sorted())
    }

    /// The packages that ship each of `paths` (absolute), by one pass over
    /// the indices (`apt-helper cat-file` decompresses what apt stored,
    /// `grep -F` keeps the candidate lines). Paths no index names are absent.
    func packages(shipping paths: Set<RawPath>, scratch: RawPath) throws -> [RawPath: [String]] {
        guard !paths.isEmpty else { return [:] }
        let patterns = scratch.appending(RawPath("contents-patterns"))
        let lines = paths.map { Array($0.bytes.drop { $0 == 47 }) + [10] }.sorted { $0.lexicographicallyPrecedes($1) }
        try Data(lines.joined()).write(to: URL(fileURLWithPath: patterns.description))
        defer { unlink(patterns.description) }
        let script = "p=$1; shift; /usr/lib/apt/apt-helper cat-file \"$@\" | LC_ALL=C grep -F -f \"$p\"; exit 0"
        let result = try HostCommand.run(["sh", "-c", script, "sh", patterns.description] + files.map(\.description))
        return Self.parse(Array(result.output), wanted: paths)
    }

    /// The lines of a `Contents` index (`usr/bin/pahole    utils/pahole`)
    /// whose path is one of `wanted`: path → package names (sections
    /// dropped), in the index's order.
    static func parse(_ bytes: [UInt8], wanted: Set<RawPath>) -> [RawPath: [String]] {
        var result: [RawPath: [String]] = [:]
        for line in bytes.split(separator: 10) {
            // The location list is the last field; the path may hold spaces.
            guard let split = line.lastIndex(where: { $0 == 32 || $0 == 9 }) else { continue }
            let pathEnd = line[..<split].lastIndex(where: { $0 != 32 && $0 != 9 }).map { $0 + 1 } ?? split
            let path = RawPath(bytes: [47] + Array(line[line.startIndex..<pathEnd]))
            guard wanted.contains(path) else { continue }
            for location in line[(split + 1)...].split(separator: 44) {
                let name = String(decoding: location.split(separator: 47).last ?? location, as: UTF8.self)
                if !(result[path]?.contains(name) ?? false) { result[path, default: []].append(name) }
            }
        }
        return result
    }
}
