import Foundation

/// One `--candidate` argument, told apart by what it is.
public enum CandidateInput: Sendable, Hashable, CustomStringConvertible {
    /// A kbuild directory itself (it has a Makefile), used where it is.
    case kbuildDirectory(RawPath)
    /// The root of unpacked packages (it holds `usr/src/…`, `usr/lib/…`).
    case packageRoot(RawPath)
    case deb(RawPath)
    case rpm(RawPath)
    /// The name of an installed package (its files from `dpkg -L`).
    case installed(String)

    /// Classifies a `--candidate` argument.
    public init(argument: String) throws(InputError) {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory)
        let absolute = RawPath(URL(fileURLWithPath: argument).standardizedFileURL.path)
        if exists && isDirectory.boolValue {
            let has = { (name: String) in FileManager.default.fileExists(atPath: argument + "/" + name) }
            if has("Makefile") {
                self = .kbuildDirectory(absolute)
            } else if has("usr") || has("lib") {
                self = .packageRoot(absolute)
            } else {
                throw .candidateWithoutKbuildDir(argument)
            }
        } else if exists && argument.hasSuffix(".deb") {
            self = .deb(absolute)
        } else if exists && argument.hasSuffix(".rpm") {
            self = .rpm(absolute)
        } else if !exists && !argument.contains("/") && !argument.isEmpty {
            self = .installed(argument)
        } else if !exists {
            throw .notFound(argument)
        } else {
            throw .unsupportedCandidate(argument)
        }
    }

    public var description: String {
        switch self {
        case .kbuildDirectory(let p), .packageRoot(let p), .deb(let p), .rpm(let p): return p.description
        case .installed(let name): return name
        }
    }
}

/// A package a candidate came from, for the report's environment section.
public struct PackageInfo: Sendable, Hashable, Codable {
    public var name: String
    public var version: String
    /// The source package (Debian's `Source:`), when known.
    public var source: String?
    public var file: String?
    /// What a Debian package declares it needs (`Pre-Depends` and
    /// `Depends`, as written; nil for an rpm or when it declares nothing).
    public var preDepends: String? = nil
    public var depends: String? = nil
    /// An rpm's `Requires`, one per entry (nil for a Debian package).
    public var requires: [String]? = nil
}
