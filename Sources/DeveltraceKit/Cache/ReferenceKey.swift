import Foundation

/// What a reference build is recorded under: everything that decides it and
/// that its trace does not show. The sample's files (each one's
/// fingerprint: the build reads a copy, so the copy's reads do not name
/// them), the full tree's paths and release, develtrace's executable, the
/// `dkms` that builds DKMS samples, the other DKMS samples whose sources it
/// sees, the sandbox's identity and the machine.
/// The files the build read from the tree and the host are checked
/// separately, against its trace (`ReferenceInputs`).
enum ReferenceKey {
    static func make(
        sample: Sample, tree: BuildTree, dkms: String?, neighbours: [Sample] = [], architecture: TargetArchitecture? = nil
    ) -> String {
        var lines = [
            "develtrace-reference \(StoredReference.format) \(DeveltraceVersion.current)",
            "executable \(executable())",
            "identity \(SandboxIdentity.current)",
            "machine \(machine())",
            "tree \(encode(tree.path)) source \(tree.sourceTree.map(encode) ?? "-") release \(tree.release)",
            "dkms \(dkms ?? "-")",
            "target \(architecture.map { "\($0.kernel) \($0.crossCompile)" } ?? "native")",
            "sample \(sample.kind.rawValue) \(encode(sample.path)) \(sample.packageName ?? "-") \(sample.packageVersion ?? "-")",
        ]
        // The other DKMS packages' sources in /usr/src: which (their files
        // are host files the trace names, checked with the rest).
        for other in neighbours where other.path != sample.path {
            lines.append("neighbour \(encode(other.path)) \(other.packageName ?? "-") \(other.packageVersion ?? "-")")
        }
        var files: [String] = []
        try? DirectoryWalk.walk(sample.path) { entry in
            files.append("file \(encode(entry.relativePath)) \(describe(FileFingerprint.of(sample.path.appending(entry.relativePath))))")
            return true
        }
        lines += files.sorted()
        lines.append("directory \(describe(FileFingerprint.of(sample.path)))")
        return lines.joined(separator: "\n")
    }

    /// Bytes as hex: any path, one line.
    static func encode(_ path: RawPath) -> String {
        path.bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    static func describe(_ fingerprint: FileFingerprint) -> String {
        [fingerprint.entry, fingerprint.followed].map { $0?.description ?? "-" }.joined(separator: "/")
    }

    /// develtrace's own executable: what `/proc/self/exe` leads to (the
    /// link itself is procfs's, new in each process).
    static func executable() -> String {
        FileFingerprint.of(RawPath("/proc/self/exe")).followed?.description ?? "-"
    }

    static func machine() -> String {
        var name = utsname()
        guard uname(&name) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
