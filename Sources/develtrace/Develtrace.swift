import ArgumentParser
import DeveltraceKit

@main
struct Develtrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "develtrace",
        abstract: "Find the files a kernel devel package is missing by tracing real module builds.",
        discussion: """
            develtrace builds external kernel modules inside a sandbox, traces every \
            file the build opens, stats, probes or executes, and reports what a \
            candidate devel tree lacks compared with the full build tree.

            Start with `develtrace trace -- make -C /lib/modules/$(uname -r)/build M=$PWD modules` \
            to see every path a build touches.
            """,
        version: DeveltraceVersion.current,
        subcommands: [CheckCommand.self, MergeCommand.self, ReportCommand.self, TraceCommand.self]
    )
}

extension Develtrace {
    /// Like ArgumentParser's `main`, with develtrace's one exit contract.
    /// Parsing errors are ArgumentParser's (bad usage exits 2, not its 64;
    /// help and version exit 0). A command then ends by returning (0), by
    /// throwing `ExitCode` (its result's status), or by throwing an error,
    /// which is sorted here, once, into a `RunFailure`: one line on
    /// standard error and that category's status.
    static func main() {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            if exitCode(for: error) == .validationFailure {
                Diagnostics.print(fullMessage(for: error))
                Diagnostics.exit(ExitStatus.badInput)
            }
            exit(withError: error)
        }
        do {
            try command.run()
            Diagnostics.exit(ExitStatus.success)
        } catch let code as ExitCode {
            Diagnostics.exit(code.rawValue)
        } catch  where exitCode(for: error) == .success {
            // `--help`, `help SUBCOMMAND`: parseAsRoot returns a command that
            // throws the request to print the help.
            exit(withError: error)
        } catch {
            let failure = RunFailure(error)
            Diagnostics.print(failure.message)
            Diagnostics.exit(failure.exitStatus)
        }
    }
}
