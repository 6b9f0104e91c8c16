import Foundation

/// One file or directory closure puts into a sample's closure layer before
/// the next round, as data: `CheckRunner` plans them, `ClosureLayer`
/// carries them out, and what it could not do becomes a warning in the
/// result (later rounds then run without it, which the warning says).
enum ClosureAddition: Sendable, Equatable {
    /// A directory of the full tree, made empty: what the build wants inside
    /// shows in the next round's lookups.
    case directory(path: RawPath, at: RawPath)
    /// A file written with `text` rather than copied (the object half of a
    /// split package gets kbuild's `O=` wrapper Makefile).
    case text(path: RawPath, String, at: RawPath)
    /// A file of the full tree, copied as it is (`cp -a`).
    case copy(path: RawPath, from: RawPath, at: RawPath)

    /// The tree-relative path this adds.
    var path: RawPath {
        switch self {
        case .directory(let path, _), .text(let path, _, _), .copy(let path, _, _): return path
        }
    }

    /// Where in the closure layer it goes.
    var destination: RawPath {
        switch self {
        case .directory(_, let at), .text(_, _, let at), .copy(_, _, let at): return at
        }
    }
}

/// The effects closure has on its layer: the live one writes the scratch
/// directory; a test's fails where it is told to.
protocol ClosureLayerWriter {
    func makeDirectories(_ path: RawPath) throws
    func write(_ text: String, to path: RawPath) throws
    /// Copies `source` to `destination` (`cp -a`); the error's text says why not.
    func copy(_ source: RawPath, to destination: RawPath) throws
}

/// Carries out closure's additions.
enum ClosureLayer {
    struct Applied: Equatable {
        /// Tree path → where the file now is in the closure layer (files
        /// only: a directory made empty is nowhere to move later).
        var placed: [RawPath: RawPath] = [:]
        var warnings: [String] = []
    }

    /// Applies `additions` in order; each failure is a warning naming the
    /// sample and the path, and the run goes on.
    static func apply(_ additions: [ClosureAddition], sample: String, writer: some ClosureLayerWriter) -> Applied {
        var applied = Applied()
        for addition in additions {
            do {
                switch addition {
                case .directory(_, let at):
                    try writer.makeDirectories(at)
                    continue
                case .text(_, let text, let at):
                    try writer.makeDirectories(at.parent)
                    try writer.write(text, to: at)
                case .copy(_, let from, let at):
                    try writer.makeDirectories(at.parent)
                    try writer.copy(from, to: at)
                }
                applied.placed[addition.path] = addition.destination
            } catch {
                if case .directory = addition {
                    applied.warnings.append("\(sample): closure could not make the directory \(addition.path)")
                } else {
                    applied.warnings.append("\(sample): closure could not add \(addition.path) (\(error)); later rounds ran without it")
                }
            }
        }
        return applied
    }
}

/// The scratch directory's closure layer.
struct LiveClosureLayerWriter: ClosureLayerWriter {
    struct CopyFailed: Error, CustomStringConvertible {
        var description: String
    }

    func makeDirectories(_ path: RawPath) throws { try FileSystem.makeDirectories(path) }

    func write(_ text: String, to path: RawPath) throws {
        try text.write(toFile: path.description, atomically: false, encoding: .utf8)
    }

    func copy(_ source: RawPath, to destination: RawPath) throws {
        let copied = try HostCommand.run(["cp", "-a", "--", source.description, destination.description])
        guard copied.status == 0 else { throw CopyFailed(description: StagedCandidate.firstLine(copied.error)) }
    }
}
