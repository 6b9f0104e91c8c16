import Foundation
import SystemPackage

/// The candidate devel tree made ready for the sandbox: packages unpacked
/// into a private root that keeps their absolute paths, the directories to
/// mount (each at its own absolute path, through an overlay that catches
/// writes), and the files closure adds.
///
/// Nothing here writes into a candidate given as a directory: it is only
/// ever an overlay's lower layer.
public final class StagedCandidate: @unchecked Sendable {
    /// A directory of the candidate, mounted at `target` in the sandbox.
    public struct Mount: Sendable, Hashable {
        public var lower: RawPath
        public var target: RawPath
    }

    public let inputs: [CandidateInput]
    public private(set) var mounts: [Mount] = []
    public private(set) var packages: [PackageInfo] = []
    /// Things a packager should know about the inputs (version skew, …).
    public private(set) var warnings: [String] = []
    private let scratch: RawPath

    /// A candidate described by its mounts (a recorded classification):
    /// nothing is unpacked or looked at.
    init(describing mounts: [Mount]) {
        inputs = []
        self.mounts = mounts
        scratch = RawPath("/@scratch")
    }

    /// Unpacks and lays out `inputs` under `scratch` (which the caller owns).
    public init(inputs: [CandidateInput], scratch: RawPath) throws {
        self.inputs = inputs
        self.scratch = scratch
        let stagingRoot = scratch.appending(RawPath("candidate-root"))
        var usesStagingRoot = false
        var roots: [RawPath] = []
        for input in inputs {
            switch input {
            case .kbuildDirectory(let path):
                mounts.append(Mount(lower: path, target: path))
            case .packageRoot(let path):
                roots.append(path)
            case .deb(let path):
                try Self.makeDirectory(stagingRoot)
                usesStagingRoot = true
                let fields = try HostCommand.run([
                    "dpkg-deb", "-f", path.description, "Package", "Version", "Source", "Pre-Depends", "Depends",
                ])
                guard fields.status == 0 else { throw InputError.corruptPackage(path.description, Self.firstLine(fields.error)) }
                let info = ControlParagraphs.parse(String(decoding: fields.output, as: UTF8.self)).first ?? [:]
                packages.append(
                    PackageInfo(
                        name: info["Package"] ?? path.description, version: info["Version"] ?? "?",
                        source: info["Source"].map { String($0.split(separator: " ").first ?? "") } ?? info["Package"],
                        file: path.description, preDepends: info["Pre-Depends"], depends: info["Depends"]))
                let unpack = try HostCommand.run(["dpkg-deb", "-x", path.description, stagingRoot.description])
                guard unpack.status == 0 else { throw InputError.corruptPackage(path.description, Self.firstLine(unpack.error)) }
            case .rpm(let path):
                try Self.makeDirectory(stagingRoot)
                usesStagingRoot = true
                let unpack = try HostCommand.run(["bsdtar", "-x", "-f", path.description, "-C", stagingRoot.description])
                guard unpack.status == 0 else { throw InputError.corruptPackage(path.description, Self.firstLine(unpack.error)) }
                let file = URL(fileURLWithPath: path.description).deletingPathExtension().lastPathComponent
                var info = PackageInfo(name: Self.rpmName(file), version: Self.rpmVersion(file), source: nil, file: path.description)
                if let query = try? HostCommand.run(
                    ["rpm", "-qp", "--nosignature", "--qf", "%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{SOURCERPM}", path.description]),
                    query.status == 0
                {
                    let fields = String(decoding: query.output, as: UTF8.self).split(separator: "\t").map(String.init)
                    if fields.count == 3 {
                        info = PackageInfo(name: fields[0], version: fields[1], source: fields[2], file: path.description)
                    }
                }
                if let query = try? HostCommand.run(["rpm", "-qp", "--nosignature", "--requires", path.description]), query.status == 0 {
                    info.requires = String(decoding: query.output, as: UTF8.self).split(separator: "\n").map {
                        $0.trimmingCharacters(in: .whitespaces)
                    }
                }
                packages.append(info)
            case .installed(let name):
                try Self.makeDirectory(stagingRoot)
                usesStagingRoot = true
                let list = try HostCommand.run(["dpkg-query", "-L", name])
                guard list.status == 0 else {
                    throw InputError.unsupportedCandidate("\(name) (not an installed package: \(Self.firstLine(list.error)))")
                }
                let version = try HostCommand.run(
                    ["dpkg-query", "-W", "-f", "${Version}\t${source:Package}\t${Pre-Depends}\t${Depends}", name])
                let parts = String(decoding: version.output, as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
                    .map(String.init)
                func part(_ index: Int) -> String? { parts.count > index && !parts[index].isEmpty ? parts[index] : nil }
                packages.append(
                    PackageInfo(
                        name: name, version: part(0) ?? "?", source: part(1), file: nil, preDepends: part(2), depends: part(3)))
                let listed = String(decoding: list.output, as: UTF8.self).split(separator: "\n").map(String.init)
                // Directories the package has children in are not files, even
                // where the host made them symlinks (merged /usr: dpkg lists
                // /lib, which is a symlink to usr/lib here).
                let parents = Set(listed.map { ($0 as NSString).deletingLastPathComponent })
                let files = listed.filter { path in
                    let kind = FileSystem.kind(of: RawPath(path), following: false)
                    return kind != nil && kind != .directory && !parents.contains(path)
                }
                for chunk in stride(from: 0, to: files.count, by: 500) {
                    // From / with relative names: coreutils 9.1's `cp -a --parents`
                    // fails to copy a parent's attributes for absolute names
                    // given from elsewhere.
                    let copy = try HostCommand.run(
                        ["cp", "-a", "--parents", "--"] + files[chunk..<min(chunk + 500, files.count)].map { String($0.dropFirst()) }
                            + [stagingRoot.description], directory: "/")
                    guard copy.status == 0 else { throw InputError.tool("cp", Self.firstLine(copy.error)) }
                }
            }
        }
        if usesStagingRoot { roots.append(stagingRoot) }
        for root in roots {
            try addMounts(below: root, relative: RawPath(bytes: []))
        }
        checkVersionSkew()
    }

    /// Directories whose children are kernel trees: a child is mounted even
    /// when the host has one of that name (the candidate shadows it).
    private static let treeContainers: Set<String> = ["usr/src", "usr/src/kernels", "usr/lib/modules", "lib/modules", "usr/lib"]

    /// Mounts the directories of `root` at their paths: each child of a tree
    /// container, and every directory the host lacks; recurses into the rest.
    private func addMounts(below root: RawPath, relative: RawPath) throws {
        var directories: [RawPath] = []
        try? DirectoryWalk.walk(root.appending(relative)) { entry in
            if entry.isDirectory { directories.append(entry.relativePath) }
            return false
        }
        let parentIsContainer = Self.treeContainers.contains(relative.description)
        for name in directories {
            let rel = relative.isEmpty ? name : relative.appending(name)
            // On the host's real path: /lib/modules is /usr/lib/modules on merged-/usr.
            let hostPath = SandboxPlan.resolvingExistingPrefix(RawPath("/").appending(rel))
            let hostHas = FileSystem.kind(of: hostPath) == .directory
            if Self.treeContainers.contains(rel.description) && hostHas {
                try addMounts(below: root, relative: rel)
            } else if parentIsContainer || !hostHas {
                mounts.append(Mount(lower: root.appending(rel), target: hostPath))
            } else {
                try addMounts(below: root, relative: rel)
            }
        }
    }

    private func checkVersionSkew() {
        let kernelPackages = packages.filter { ($0.source ?? $0.name).hasPrefix("linux") }
        let versions = Set(kernelPackages.map(\.version))
        if versions.count > 1 {
            let list = kernelPackages.map { "\($0.name) \($0.version)" }.joined(separator: ", ")
            warnings.append("candidate packages come from different source versions: \(list)")
        }
    }

    // MARK: Looking at the candidate as the sandbox shows it

    /// The mount whose target holds `path`, if any.
    func mount(holding path: RawPath) -> Mount? {
        mounts.filter { path.isSame(or: $0.target) }.max { $0.target.bytes.count < $1.target.bytes.count }
    }

    /// The host file behind a sandbox path, symlinks not followed: the
    /// candidate's own file, or the host's outside the candidate.
    func backing(_ path: RawPath) -> RawPath {
        guard let mount = mount(holding: path) else { return path }
        let relative = path.relative(to: mount.target)
        return relative.isEmpty ? mount.lower : mount.lower.appending(relative)
    }

    /// `path` with every symlink resolved the way the sandbox would, or nil
    /// if some component does not exist.
    public func resolve(_ path: RawPath) -> RawPath? { resolve(path, facts: LiveFileFacts()) }

    /// `resolve`, asking `facts` about the files.
    func resolve(_ path: RawPath, facts: any FileFacts) -> RawPath? {
        var pending = path.resolvingDotDot().bytes.split(separator: 47).map { RawPath(bytes: Array($0)) }
        var current = RawPath("/")
        var hops = 0
        while !pending.isEmpty {
            let component = pending.removeFirst()
            if component.bytes == [46, 46] {
                current = current.parent.isEmpty ? RawPath("/") : current.parent
                continue
            }
            let next = current.appending(component)
            let host = backing(next)
            guard let kind = facts.kind(of: host, following: false) else { return nil }
            if kind == .symlink {
                hops += 1
                if hops > 40 { return nil }
                guard let target = facts.linkTarget(of: host) else { return nil }
                let rest = target.bytes.split(separator: 47).map { RawPath(bytes: Array($0)) }
                pending = rest + pending
                if target.isAbsolute { current = RawPath("/") }
            } else {
                current = next
            }
        }
        return current
    }

    /// Whether the candidate (with what closure added) has `path`.
    public func exists(_ path: RawPath) -> Bool { resolve(path) != nil }

    /// The host file holding the content of sandbox path `path`.
    public func contentFile(_ path: RawPath) -> RawPath? { resolve(path).map(backing) }

    /// Whether the sandbox path lies inside the candidate.
    public func contains(_ path: RawPath) -> Bool { mount(holding: path.resolvingDotDot()) != nil }

    /// Where a file added by closure goes so that the sandbox shows it at
    /// `path`: the index of the mount and the path inside it, with the
    /// directory resolved through the candidate's symlinks. Nil if `path`
    /// is not inside the candidate.
    public func closurePlacement(for path: RawPath) -> (mount: Int, relative: RawPath)? {
        // The deepest directory on the way that the candidate has; the
        // closure layer creates the rest (Debian's -common has no
        // include/generated, but a compiler looks for generated/bounds.h there).
        var existing = path.parent
        var rest: [RawPath] = [path.lastComponent]
        var directory = resolve(existing)
        while directory == nil, !existing.isEmpty, existing != RawPath("/") {
            rest.insert(existing.lastComponent, at: 0)
            existing = existing.parent
            directory = resolve(existing)
        }
        guard let directory,
            let index = mounts.indices.filter({ directory.isSame(or: mounts[$0].target) })
                .max(by: { mounts[$0].target.bytes.count < mounts[$1].target.bytes.count })
        else { return nil }
        var relative = directory.relative(to: mounts[index].target)
        for component in rest { relative = relative.isEmpty ? component : relative.appending(component) }
        return (index, relative)
    }

    // MARK: Helpers

    static func makeDirectory(_ path: RawPath) throws(InputError) {
        do throws(Errno) { try FileSystem.makeDirectories(path) } catch { throw .tool("mkdir", "\(path): \(error)") }
    }

    static func firstLine(_ text: String) -> String {
        text.split(separator: "\n").first.map(String.init) ?? "unknown error"
    }

    /// `kernel-devel-6.1.0-1.x86_64` → `kernel-devel`.
    static func rpmName(_ file: String) -> String {
        let withoutArch = file.split(separator: ".").count > 1 ? file.split(separator: ".").dropLast().joined(separator: ".") : file
        let parts = withoutArch.split(separator: "-")
        return parts.count > 2 ? parts.dropLast(2).joined(separator: "-") : file
    }

    /// `kernel-devel-6.1.0-1.x86_64` → `6.1.0-1`.
    static func rpmVersion(_ name: String) -> String {
        let withoutArch = name.split(separator: ".").dropLast().joined(separator: ".")
        let parts = withoutArch.split(separator: "-")
        guard parts.count >= 2 else { return "?" }
        return parts.suffix(2).joined(separator: "-")
    }
}

extension RawPath {
    /// The last component.
    var lastComponent: RawPath {
        guard let slash = bytes.lastIndex(of: 47) else { return self }
        return RawPath(bytes: Array(bytes[(slash + 1)...]))
    }
}
