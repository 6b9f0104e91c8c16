import Foundation

/// The full kernel build tree candidates are compared with: at least
/// `make modules_prepare` and `Module.symvers`. With a separate object tree
/// (`O=`), `sourceTree` holds the sources and `path` the objects.
public struct BuildTree: Sendable {
    public let path: RawPath
    public let sourceTree: RawPath?
    /// `include/config/kernel.release`.
    public let release: String

    /// What a tree needs to build external modules, checked in this order.
    static let requiredFiles = [
        ".config", "include/generated/autoconf.h", "include/config/auto.conf", "scripts/basic/fixdep", "scripts/mod/modpost",
        "Module.symvers",
    ]

    /// A tree described rather than found (tests over recorded or made-up
    /// files): nothing is checked.
    init(describing path: RawPath, sourceTree: RawPath? = nil, release: String) {
        self.path = path
        self.sourceTree = sourceTree
        self.release = release
    }

    public init(path: String, sourceTree: String? = nil) throws(InputError) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { throw .notFound(path) }
        guard isDirectory.boolValue else { throw .notABuiltTree(path, absent: "a directory") }
        let makefileHome = sourceTree ?? url.path
        if !FileManager.default.fileExists(atPath: makefileHome + "/Makefile") {
            throw .notABuiltTree(sourceTree ?? path, absent: "Makefile")
        }
        for file in Self.requiredFiles where !FileManager.default.fileExists(atPath: url.path + "/" + file) {
            throw .notABuiltTree(path, absent: file)
        }
        if let sourceTree, !FileManager.default.fileExists(atPath: sourceTree) { throw .notFound(sourceTree) }
        self.path = RawPath(url.path)
        self.sourceTree = sourceTree.map { RawPath(URL(fileURLWithPath: $0).standardizedFileURL.path) }
        let releaseFile = url.path + "/include/config/kernel.release"
        guard let text = try? String(contentsOfFile: releaseFile, encoding: .utf8) else {
            throw .notABuiltTree(path, absent: "include/config/kernel.release")
        }
        self.release = text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `relative` exists (as anything, symlinks not followed) in the
    /// object tree or, failing that, the source tree.
    public func contains(_ relative: RawPath) -> Bool {
        hostPath(of: relative) != nil
    }

    /// The host path of `relative` (object tree first).
    public func hostPath(of relative: RawPath) -> RawPath? {
        for root in [path] + (sourceTree.map { [$0] } ?? []) {
            let candidate = root.appending(relative)
            if FileSystem.kind(of: candidate, following: false) != nil { return candidate }
        }
        return nil
    }

    /// Maps an absolute path the reference build used to a tree-relative one.
    public func relativePath(of absolute: RawPath) -> RawPath? {
        let resolved = absolute.resolvingDotDot()
        for root in [path] + (sourceTree.map { [$0] } ?? []) where resolved.isSame(or: root) {
            return resolved.relative(to: root)
        }
        return nil
    }
}

extension RawPath {
    /// `..` resolved lexically (for mapping only; symlinks are not followed).
    func resolvingDotDot() -> RawPath {
        // Without a `.`, `..` or empty component there is nothing to do
        // (and, as always, without a dot at all).
        guard bytes.contains(46), hasDotOrEmptyComponent else { return self }
        var components: [ArraySlice<UInt8>] = []
        for component in bytes.split(separator: 47) {
            if component.count == 2 && component.first == 46 && component.last == 46 {
                if !components.isEmpty { components.removeLast() }
            } else if !(component.count == 1 && component.first == 46) {
                components.append(component)
            }
        }
        var out: [UInt8] = isAbsolute ? [47] : []
        for (i, component) in components.enumerated() {
            if i > 0 { out.append(47) }
            out.append(contentsOf: component)
        }
        return RawPath(bytes: out)
    }

    /// Whether some component is `.`, `..` or empty (a doubled or
    /// trailing slash): what `resolvingDotDot` removes.
    private var hasDotOrEmptyComponent: Bool {
        var start = 0
        var index = 0
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == 47 {
                let length = index - start
                // The leading slash of an absolute path makes the only
                // empty component allowed; "/" alone is already resolved.
                if length == 0 && !(start == 0 && index < bytes.count) && bytes.count > 1 { return true }
                if length == 1 && bytes[start] == 46 { return true }
                if length == 2 && bytes[start] == 46 && bytes[start + 1] == 46 { return true }
                start = index + 1
            }
            index += 1
        }
        return false
    }

    /// `self` relative to `root` (which it must lie under); empty for `root`.
    func relative(to root: RawPath) -> RawPath {
        if self == root { return RawPath(bytes: []) }
        if root.bytes == [47] { return RawPath(bytes: Array(bytes.dropFirst())) }
        return RawPath(bytes: Array(bytes.dropFirst(root.bytes.count + 1)))
    }
}
