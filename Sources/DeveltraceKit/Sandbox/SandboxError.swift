import SystemPackage

/// Why a sandbox could not be set up. Each message names the path and what
/// to do about it.
public enum SandboxError: Error, CustomStringConvertible, Sendable {
    /// What failed when the sandbox tried to use user namespaces.
    public enum UserNamespaceFailure: Sendable {
        case clone(Errno)
        case map(String, Errno)
        case mount(step: String, Errno)
        case nested(Errno)
        case idmap(Errno)
    }
    case userNamespaces(UserNamespaceFailure)
    case scratch(Errno)
    case sourceMissing(RawPath, Errno)
    case targetNotAbsolute(RawPath)
    case unsupportedCharacter(RawPath)
    case insideHostMount(path: RawPath, mount: RawPath)
    case nested(path: RawPath, under: RawPath)
    case preparation(RawPath, Errno)
    case mountFailed(step: String, Errno)
    case launch(String, Errno)

    public var description: String {
        switch self {
        case .userNamespaces(let failure):
            return Self.describe(failure)
        case .scratch(let e):
            return "cannot create a scratch directory in $TMPDIR: \(e.description)"
        case .sourceMissing(let p, let e):
            return "\(p): cannot be mounted into the sandbox: \(e.description)"
        case .targetNotAbsolute(let p):
            return "\(p): sandbox paths must be absolute"
        case .unsupportedCharacter(let p):
            return "\(p): overlay layers cannot contain ',', ':' or '\\' in their path; move or link the directory"
        case .insideHostMount(let p, let m):
            return
                "\(p) does not exist and lies inside the host mount \(m), where the sandbox cannot create it; create it on the host or choose another path"
        case .nested(let p, let under):
            return "\(p) lies inside \(under), which the sandbox mounts too; it must already exist there"
        case .preparation(let p, let e):
            return "cannot prepare \(p) in the scratch directory: \(e.description)"
        case .mountFailed(let step, let e):
            return "sandbox set-up failed at \(step): \(e.description)"
        case .launch(let what, let e):
            return "\(what): \(e.description)"
        }
    }

    private static func describe(_ failure: UserNamespaceFailure) -> String {
        let advice = "develtrace needs unprivileged user namespaces when it does not run as root"
        switch failure {
        case .clone(let e):
            return
                "cannot create a user namespace (\(e.description)): \(advice); check the sysctls kernel.unprivileged_userns_clone (must be 1) and user.max_user_namespaces (must be > 0), or a container's seccomp profile"
        case .map(let path, let e):
            return
                "cannot write \(path) (\(e.description)): \(advice); the user namespace was created but not mapped, which AppArmor's kernel.apparmor_restrict_unprivileged_userns=1 does"
        case .mount(let step, let e):
            return
                "sandbox set-up failed at \(step) inside a user namespace (\(e.description)): \(advice); AppArmor's kernel.apparmor_restrict_unprivileged_userns=1 or a container's policy refuses mounts there"
        case .nested(let e):
            return "cannot enter the sandbox's inner user namespace (\(e.description)): check user.max_user_namespaces"
        case .idmap(let e):
            return "cannot make the sandbox's idmapping (\(e.description)): idmapped mounts need Linux 5.12 or newer"
        }
    }
}
