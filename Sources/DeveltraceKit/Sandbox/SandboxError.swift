import SystemPackage

/// Why a sandbox could not be set up. Each message names the path and what
/// to do about it.
public enum SandboxError: Error, CustomStringConvertible, Sendable {
    case notRoot
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
        case .notRoot:
            return "the sandbox needs root (mount, PID and network namespaces); run develtrace as root"
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
}
