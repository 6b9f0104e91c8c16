/// Bad input to `develtrace check`: each message names the input and the
/// problem, and maps to exit status 2.
public enum InputError: Error, CustomStringConvertible, Sendable {
    case notFound(String)
    case notABuiltTree(String, absent: String)
    case candidateWithoutKbuildDir(String)
    case corruptPackage(String, String)
    case unsupportedCandidate(String)
    case moduleWithoutMakefile(String)
    case badMap(String)
    case brokenDkmsConf(String, String)
    /// The candidate is the build tree, or lies inside it: the candidate
    /// builds hide the tree, so they could not see the candidate.
    case candidateInsideTree(candidate: String, tree: String)
    case tool(String, String)
    /// A file develtrace must read (a baseline, a saved result) cannot be.
    case unreadable(path: String, what: String)
    case badBaseline(path: String, reason: String)
    /// Shard results that do not make one whole run.
    case badShards(String)
    /// `--arch` names no architecture develtrace can build for here.
    case badArchitecture(String, String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "\(path): no such file or directory"
        case .notABuiltTree(let path, let absent):
            return "\(path): not a built kernel tree: \(absent) is absent (run `make modules_prepare` there and add Module.symvers)"
        case .candidateWithoutKbuildDir(let what):
            return
                "\(what): no kbuild directory found (looked for usr/src/kernels/*, usr/src/linux-headers-*, usr/lib/modules/*/build); name it with --kbuild-dir"
        case .corruptPackage(let path, let detail):
            return "\(path): cannot be unpacked: \(detail)"
        case .unsupportedCandidate(let path):
            return "\(path): not a directory, .deb, .rpm or installed package name"
        case .moduleWithoutMakefile(let path):
            return "\(path): not a module source directory: it has no Makefile, Kbuild or dkms.conf"
        case .brokenDkmsConf(let directory, let detail):
            return "\(directory)/dkms.conf does not evaluate: \(detail)"
        case .candidateInsideTree(let candidate, let tree):
            return
                "\(candidate): the candidate is the build tree \(tree) or lies inside it; the candidate builds hide the tree, so check a copy (cp -a) instead"
        case .badMap(let spec):
            return "--map \(spec): expected CANDIDATE_DIR=TREE_SUBDIR"
        case .tool(let tool, let detail):
            return "\(tool): \(detail)"
        case .unreadable(let path, let what):
            return "\(path): cannot read this \(what)"
        case .badBaseline(let path, let reason):
            return "\(path): not a usable baseline: \(reason)"
        case .badShards(let detail):
            return "cannot merge: \(detail)"
        case .badArchitecture(let name, let detail):
            return "--arch \(name): \(detail)"
        }
    }
}
