import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a file is, as `lstat` or `stat` says.
enum FileKind: String, Codable, Sendable {
    case file, directory, symlink, other
}

/// Every question classification asks of the host's files (the full tree's
/// and the candidate's): the classifier reads nothing else. `LiveFileFacts`
/// answers from the file system; a test answers from a table
/// (`TableFileFacts`), so that a rule can be tried on a made-up tree, and a
/// recorded trace can be classified again without the trees it came from.
protocol FileFacts: Sendable {
    /// The kind of `path` (`following`: through symlinks, as `stat`; else
    /// as `lstat`), nil when it does not exist (or a symlink dangles).
    func kind(of path: RawPath, following: Bool) -> FileKind?
    /// What the symlink `path` holds.
    func linkTarget(of path: RawPath) -> RawPath?
    /// The size of the regular file at `path` (through symlinks), nil for
    /// anything else.
    func size(of path: RawPath) -> Int?
    /// The bytes of the file at `path` (through symlinks).
    func content(of path: RawPath) -> [UInt8]?
    /// The machine of the ELF file at `path`, nil when it is not one.
    func elfMachine(of path: RawPath) -> ElfMachine?
    /// Every entry below the directory `path` that is not a directory
    /// (symlinks not followed), relative to it; empty when it is none.
    func files(under path: RawPath) -> [RawPath]
}

/// The file system as it is.
struct LiveFileFacts: FileFacts {
    func kind(of path: RawPath, following: Bool) -> FileKind? { FileSystem.kind(of: path, following: following) }

    func linkTarget(of path: RawPath) -> RawPath? { FileSystem.readLink(path) }

    func size(of path: RawPath) -> Int? {
        guard let status = try? FileSystem.status(of: path), FileKind(mode: status.st_mode) == .file else { return nil }
        return Int(status.st_size)
    }

    func content(of path: RawPath) -> [UInt8]? { try? FileReading.bytes(of: path) }

    func elfMachine(of path: RawPath) -> ElfMachine? { ElfMachine.of(file: path) }

    func files(under path: RawPath) -> [RawPath] {
        var files: [RawPath] = []
        try? DirectoryWalk.walk(path) { entry in
            if !entry.isDirectory { files.append(entry.relativePath) }
            return true
        }
        return files
    }
}

/// Files described by a table (absolute path → entry), for tests: a
/// directory is every proper prefix of an entry's path; symlinks are
/// followed through the table.
struct TableFileFacts: FileFacts {
    enum Entry: Sendable {
        case file([UInt8], machine: ElfMachine? = nil)
        case symlink(RawPath)
    }

    var entries: [RawPath: Entry]
    private let directories: Set<RawPath>

    init(_ entries: [RawPath: Entry]) {
        self.entries = entries
        var directories: Set<RawPath> = [RawPath("/")]
        for path in entries.keys {
            var parent = path.parent
            while !parent.isEmpty, parent != RawPath("/"), directories.insert(parent).inserted { parent = parent.parent }
        }
        self.directories = directories
    }

    /// `path` through the table's symlinks (the last component too).
    private func followed(_ path: RawPath, hops: Int = 0) -> RawPath? {
        guard hops < 40 else { return nil }
        if case .symlink(let target)? = entries[path] {
            let next = target.isAbsolute ? target : path.parent.appending(target)
            return followed(next.resolvingDotDot(), hops: hops + 1)
        }
        return entries[path] != nil || directories.contains(path) ? path : nil
    }

    func kind(of path: RawPath, following: Bool) -> FileKind? {
        guard let path = following ? followed(path) : path else { return nil }
        switch entries[path] {
        case .file?: return .file
        case .symlink?: return .symlink
        case nil: return directories.contains(path) ? .directory : nil
        }
    }

    func linkTarget(of path: RawPath) -> RawPath? {
        if case .symlink(let target)? = entries[path] { return target }
        return nil
    }

    func size(of path: RawPath) -> Int? { content(of: path)?.count }

    func content(of path: RawPath) -> [UInt8]? {
        guard let path = followed(path), case .file(let bytes, _)? = entries[path] else { return nil }
        return bytes
    }

    func elfMachine(of path: RawPath) -> ElfMachine? {
        guard let path = followed(path), case .file(_, let machine)? = entries[path] else { return nil }
        return machine
    }

    func files(under path: RawPath) -> [RawPath] {
        guard directories.contains(path) else { return [] }
        return entries.keys.filter { $0 != path && $0.isSame(or: path) }.map { $0.relative(to: path) }
    }
}
