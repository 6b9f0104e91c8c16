import Foundation

/// Where the candidate's kbuild directory is and how its paths map onto the
/// full tree.
///
/// Roots: the kbuild dir itself; every directory its Makefile `include`s by
/// absolute path (Debian's `-common`); every directory its top-level
/// symlinks point to (Debian's `scripts`/`tools` into `linux-kbuild-V`); and
/// `--map` overrides. An accessed path maps through the longest root that
/// holds it.
public struct CandidateLayout: Sendable {
    public struct Root: Sendable, Hashable {
        /// Absolute path inside the sandbox.
        public var candidate: RawPath
        /// Tree-relative prefix it stands for ("" for the tree's top).
        public var tree: RawPath
    }

    public let kbuildDir: RawPath
    public let roots: [Root]
    /// The layout recognised, for the report.
    public let kind: String
    /// The kernel release the candidate is for, when it says: the
    /// `UTS_RELEASE` of `include/generated/utsrelease.h` (what `uname -r`
    /// and vermagic say; Debian's `include/config/kernel.release` holds the
    /// upstream version instead), else `include/config/kernel.release`.
    public let kernelRelease: String?

    /// A layout described rather than detected (tests over recorded or
    /// made-up files).
    init(kbuildDir: RawPath, roots: [Root], kind: String, kernelRelease: String?) {
        self.kbuildDir = kbuildDir
        self.roots = roots
        self.kind = kind
        self.kernelRelease = kernelRelease
    }

    public init(candidate: StagedCandidate, kbuildDir override: String?, maps: [String]) throws(InputError) {
        let kbuild: RawPath
        if let override {
            kbuild = RawPath(override).normalized()
            guard candidate.exists(kbuild) else { throw .candidateWithoutKbuildDir("--kbuild-dir \(override)") }
        } else {
            kbuild = try Self.detectKbuildDir(candidate)
        }
        // Use the resolved location (usr/lib/modules/R/build is a symlink).
        let resolved = candidate.resolve(kbuild) ?? kbuild
        self.kbuildDir = resolved
        kernelRelease = Self.release(candidate, kbuildDir: resolved)
        var roots = [Root(candidate: resolved, tree: RawPath(bytes: []))]
        var kind = "single directory (Fedora, Arch, upstream)"

        // Absolute includes in the kbuild dir's Makefile (Debian's flavour dir).
        if let makefile = candidate.contentFile(resolved.appending(RawPath("Makefile"))),
            let text = try? String(contentsOfFile: makefile.description, encoding: .utf8)
        {
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ", omittingEmptySubsequences: true)
                guard words.count == 2, words[0] == "include", words[1].hasPrefix("/") else { continue }
                let directory = RawPath(String(words[1])).parent
                if let real = candidate.resolve(directory), real != resolved {
                    roots.append(Root(candidate: real, tree: RawPath(bytes: [])))
                    kind = "split (Debian flavour + common + kbuild)"
                }
            }
        }
        // kbuild's `source` link beside `build` (/lib/modules/R/source): the
        // source tree of an object tree. Debian's flavour directory says so in
        // its Makefile too, but a flavour directory that lost its Makefile is
        // still the object half of a split package.
        if let source = Self.sourceTree(candidate, kbuildDir: resolved), !roots.contains(where: { $0.candidate == source }) {
            roots.append(Root(candidate: source, tree: RawPath(bytes: [])))
            kind = "split (Debian flavour + common + kbuild)"
        }
        // Top-level symlinks of every root so far (scripts, tools, …).
        for root in roots {
            guard let host = candidate.contentFile(root.candidate) else { continue }
            try? DirectoryWalk.walk(host) { entry in
                if entry.isSymlink, let real = candidate.resolve(root.candidate.appending(entry.relativePath)),
                    !real.isSame(or: root.candidate)
                {
                    roots.append(Root(candidate: real, tree: entry.relativePath))
                }
                return false
            }
        }
        for spec in maps {
            guard let equals = spec.firstIndex(of: "="), equals != spec.startIndex else { throw .badMap(spec) }
            let from = RawPath(String(spec[..<equals])).normalized()
            let to = RawPath(String(spec[spec.index(after: equals)...]))
            guard from.isAbsolute else { throw .badMap(spec) }
            roots.append(Root(candidate: from, tree: to.isEmpty || to.bytes == [46] ? RawPath(bytes: []) : to.normalized()))
        }
        var seen = Set<Root>()
        self.roots = roots.filter { seen.insert($0).inserted }
        self.kind = kind
    }

    /// The directory `/lib/modules/R/source` (or `/usr/lib/…`) points to,
    /// when `build` beside it is the kbuild dir and it is another directory.
    /// Every R is looked at: the release the kbuild dir names may be gone
    /// with its `utsrelease.h`.
    static func sourceTree(_ candidate: StagedCandidate, kbuildDir: RawPath) -> RawPath? {
        let containers = [RawPath("/lib/modules"), RawPath("/usr/lib/modules")]
        // Packages are staged one mount per /lib/modules/R (see
        // `detectKbuildDir`); a mount of the container itself holds them all.
        var directories: [RawPath] = []
        for mount in candidate.mounts {
            if containers.contains(mount.target.parent) {
                directories.append(mount.target)
            } else if containers.contains(mount.target) {
                try? DirectoryWalk.walk(mount.lower) { entry in
                    directories.append(mount.target.appending(entry.relativePath))
                    return false
                }
            }
        }
        for directory in directories.sorted() {
            guard let build = candidate.resolve(directory.appending(RawPath("build"))), build == kbuildDir,
                let source = candidate.resolve(directory.appending(RawPath("source"))), source != kbuildDir,
                candidate.exists(source.appending(RawPath("Makefile")))
            else { continue }
            return source
        }
        return nil
    }

    /// The other directories standing for the tree's top (a split
    /// package's source half), whose `Makefile` is the kernel's own.
    public var sourceRoots: [RawPath] {
        roots.filter { $0.tree.isEmpty && $0.candidate != kbuildDir }.map(\.candidate)
    }

    /// A split package's object-tree `Makefile` (kbuild's `O=` wrapper of
    /// the source half's, not the kernel's); nil for a single directory.
    public var objectTreeMakefile: RawPath? {
        sourceRoots.isEmpty ? nil : kbuildDir.appending(RawPath("Makefile"))
    }

    /// The tree-relative path of an absolute sandbox path, or nil if it lies
    /// outside every root.
    public func treePath(of path: RawPath) -> RawPath? {
        let resolved = path.resolvingDotDot()
        var best: Root? = nil
        for root in roots where resolved.isSame(or: root.candidate) {
            if best == nil || root.candidate.bytes.count > best!.candidate.bytes.count { best = root }
        }
        guard let best else { return nil }
        let relative = resolved.relative(to: best.candidate)
        if best.tree.isEmpty { return relative }
        return relative.isEmpty ? best.tree : best.tree.appending(relative)
    }

    /// Where each root would hold tree path `relative` (sandbox paths,
    /// symlinks not resolved), in root order; roots that cannot hold it
    /// are left out.
    func candidatePaths(of relative: RawPath) -> [RawPath] {
        roots.compactMap { root in
            if root.tree.isEmpty { return root.candidate.appending(relative) }
            guard relative.isSame(or: root.tree) else { return nil }
            let inside = relative.relative(to: root.tree)
            return inside.isEmpty ? root.candidate : root.candidate.appending(inside)
        }
    }

    /// Where tree path `relative` belongs in the candidate when no build
    /// looked for it there: under the root that holds the deepest of its
    /// directories (a split package's `-common` for `arch/x86/include/asm/X.h`,
    /// the flavour directory for `include/generated/X.h`), the kbuild dir
    /// when none holds any.
    public func candidatePath(of relative: RawPath, in candidate: StagedCandidate) -> RawPath {
        var best: (path: RawPath, depth: Int)? = nil
        for root in roots {
            let inside: RawPath
            if root.tree.isEmpty {
                inside = relative
            } else if relative.isSame(or: root.tree), relative != root.tree {
                inside = relative.relative(to: root.tree)
            } else {
                continue
            }
            var directory = inside.parent
            var depth = directory.bytes.split(separator: 47).count
            while !directory.isEmpty, !candidate.exists(root.candidate.appending(directory)) {
                directory = directory.parent
                depth -= 1
            }
            if best == nil || depth > best!.depth { best = (root.candidate.appending(inside), depth) }
        }
        return best?.path ?? kbuildDir.appending(relative)
    }

    /// Finds the kbuild directory among the candidate's mounts.
    static func detectKbuildDir(_ candidate: StagedCandidate) throws(InputError) -> RawPath {
        var found: [RawPath] = []
        // Configured but without its top Makefile: a package that lost it is
        // still that kernel's kbuild dir (and `Makefile` is then a missing
        // file), but only when no directory has both.
        var withoutMakefile: [RawPath] = []
        for mount in candidate.mounts {
            let target = mount.target
            let patterns: [(RawPath, Bool)] = [
                (RawPath("/usr/src/kernels"), false), (RawPath("/usr/src"), true), (RawPath("/usr/lib/modules"), false),
                (RawPath("/lib/modules"), false),
            ]
            if candidate.inputs.contains(.kbuildDirectory(target)) {
                found.append(target)
                continue
            }
            for (container, _) in patterns where target.parent == container || target == container {
                var names: [RawPath] = []
                if target == container {
                    try? DirectoryWalk.walk(mount.lower) { entry in
                        names.append(container.appending(entry.relativePath))
                        return false
                    }
                } else {
                    names = [target]
                }
                for name in names {
                    let isModulesDir = container.lastComponent.description == "modules"
                    let directory = isModulesDir ? name.appending(RawPath("build")) : name
                    // A configured kernel's Makefile: one of the files that
                    // say so is enough (a package may lack .config — upstream
                    // 6.12's did — and that is a finding, not another layout).
                    let configured = [".config", "include/config/auto.conf", "include/generated/autoconf.h", "Module.symvers"].contains {
                        candidate.exists(directory.appending(RawPath($0)))
                    }
                    guard configured else { continue }
                    let real = isModulesDir ? (candidate.resolve(directory) ?? directory) : directory
                    if candidate.exists(directory.appending(RawPath("Makefile"))) {
                        found.append(real)
                    } else {
                        withoutMakefile.append(real)
                    }
                }
            }
        }
        var unique: [RawPath] = []
        for path in found.isEmpty ? withoutMakefile : found where !unique.contains(path) { unique.append(path) }
        guard let first = unique.first else {
            throw .candidateWithoutKbuildDir(candidate.inputs.map(\.description).joined(separator: ", "))
        }
        if unique.count > 1 {
            throw .candidateWithoutKbuildDir(
                "\(candidate.inputs.map(\.description).joined(separator: ", ")) has several (\(unique.map(\.description).joined(separator: ", ")))"
            )
        }
        return first
    }

    static func release(_ candidate: StagedCandidate, kbuildDir: RawPath) -> String? {
        func text(_ relative: String) -> String? {
            candidate.contentFile(kbuildDir.appending(RawPath(relative))).flatMap {
                try? String(contentsOfFile: $0.description, encoding: .utf8)
            }
        }
        if let header = text("include/generated/utsrelease.h"),
            let line = header.split(separator: "\n").first(where: { $0.hasPrefix("#define UTS_RELEASE ") }),
            let open = line.firstIndex(of: "\""), let close = line.lastIndex(of: "\""), open < close
        {
            return String(line[line.index(after: open)..<close])
        }
        let release = text("include/config/kernel.release")?.trimmingCharacters(in: .whitespacesAndNewlines)
        return release?.isEmpty == false ? release : nil
    }
}
