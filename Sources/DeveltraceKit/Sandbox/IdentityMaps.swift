/// The user-namespace maps the parent writes for the sandbox's init, as
/// data (`/proc/INIT/setgroups`, `uid_map`, `gid_map`), and when.
///
/// - Rootless: the init's namespace maps its root to the invoking user, and
///   `setgroups` must be denied first (an unprivileged writer may not map
///   a gid otherwise). Written before the init mounts anything: it waits for
///   them.
/// - Root: the init mounts as host root, then enters an inner namespace
///   whose root is `hostID` outside, and nothing else is mapped. Written once
///   the init reports that namespace ready; `setgroups` stays allowed (the
///   writer is privileged).
struct IdentityMaps: Sendable, Equatable {
    /// One write of one file: the kernel takes a map only whole.
    struct Write: Sendable, Equatable, CustomStringConvertible {
        /// `setgroups`, `uid_map` or `gid_map`.
        var file: String
        var text: String

        var description: String {
            "write /proc/INIT/\(file): \(text.hasSuffix("\n") ? String(text.dropLast()) : text)"
        }
    }

    /// Written right after the init is created, before its set-up.
    var beforeSetUp: [Write] = []
    /// Written when the init reports its set-up done.
    var afterSetUp: [Write] = []

    init(_ identity: SandboxIdentity) {
        switch identity {
        case .rootless(let uid, let gid):
            beforeSetUp = [
                Write(file: "setgroups", text: "deny"), Write(file: "uid_map", text: "0 \(uid) 1\n"),
                Write(file: "gid_map", text: "0 \(gid) 1\n"),
            ]
        case .rootMapped(let id):
            afterSetUp = [Write(file: "uid_map", text: "0 \(id) 1\n"), Write(file: "gid_map", text: "0 \(id) 1\n")]
        }
    }

    /// The writes as plan text, in the order they happen around the init's steps.
    var textBefore: [String] { beforeSetUp.map { "parent: \($0)" } }
    var textAfter: [String] { afterSetUp.map { "parent: \($0)" } }
}
