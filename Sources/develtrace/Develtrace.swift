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
    /// Like ArgumentParser's `main`, but bad usage exits with 2 (the status
    /// develtrace documents for bad usage and bad input), not 64.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                Diagnostics.print(fullMessage(for: error))
                Diagnostics.exit(ExitCode32.badInput)
            }
            exit(withError: error)
        }
    }
}

/// The exit statuses develtrace documents (README, "Exit status").
enum ExitCode32 {
    static let findings: Int32 = 1
    static let badInput: Int32 = 2
    static let brokenSample: Int32 = 3
    static let internalError: Int32 = 4
}
