/// Why a command ended without its result, by what the user can do about
/// it. Commands throw these (or the errors `init(_:)` sorts into them); the
/// executable's one `catch` prints `message` and exits with `exitStatus`.
public enum RunFailure: Error, CustomStringConvertible, Sendable, Equatable {
    /// Bad usage or bad input: an option, a path, a tree, a package, a
    /// result or report file. The message names the input and the problem.
    case badInput(String)
    /// The machine refused what the sandbox needs (user namespaces, mounts,
    /// a scratch directory). The message names the setting or the path.
    case environment(String)
    /// develtrace got a signal and tore everything down first.
    case interrupted(signal: Int32)
    /// A defect of develtrace's own.
    case internalError(String)

    /// Sorts any error a command lets through into its category.
    public init(_ error: any Error) {
        switch error {
        case let failure as RunFailure:
            self = failure
        case let input as InputError:
            self = .badInput(input.description)
        case let sandbox as SandboxError:
            self = sandbox.isAboutInput ? .badInput(sandbox.description) : .environment(sandbox.description)
        case let interrupted as CheckInterrupted:
            self = .interrupted(signal: interrupted.signal)
        default:
            self = .internalError(String(describing: error))
        }
    }

    public var exitStatus: Int32 {
        switch self {
        case .badInput, .environment: return ExitStatus.badInput
        case .interrupted(let signal): return ExitStatus.interrupted(by: signal)
        case .internalError: return ExitStatus.internalError
        }
    }

    public var description: String {
        switch self {
        case .badInput(let message), .environment(let message): return message
        case .interrupted: return "interrupted; every sandbox was torn down"
        case .internalError(let message): return "internal error: \(message)"
        }
    }

    /// The one line on standard error.
    public var message: String { "develtrace: \(description)" }
}

extension SandboxError {
    /// Whether the user's input is at fault (a path), not the machine.
    var isAboutInput: Bool {
        switch self {
        case .sourceMissing, .targetNotAbsolute, .unsupportedCharacter, .insideHostMount, .nested: return true
        case .userNamespaces, .scratch, .preparation, .mountFailed, .launch: return false
        }
    }
}
