import ArgumentParser
import DeveltraceKit
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render a saved check result in any format, without building anything.",
        discussion: """
            Examples:
              develtrace check --build-tree ~/linux --candidate linux-headers.deb --format json -o result.json
              develtrace report result.json --format markdown > bug-report.md
              develtrace report result.json --format list --prefix /usr/src/kernels/6.1.0 >> kernel-devel.files

            The exit status is 0 once the report is written, 2 if the result cannot be read.
            """
    )

    @Argument(help: "A result written by `develtrace check --format json`.")
    var result: String

    @OptionGroup(title: "Report")
    var report: ReportOptions

    func run() throws {
        report.write(Self.load(result))
    }

    /// A saved result, or exit 2 with a message naming the file.
    static func load(_ file: String) -> CheckResult {
        guard let data = FileManager.default.contents(atPath: file) else {
            Diagnostics.fail("develtrace: \(file): cannot be read", status: ExitCode32.badInput)
        }
        let decoded: CheckResult
        do {
            decoded = try JSONDecoder().decode(CheckResult.self, from: data)
        } catch {
            Diagnostics.fail("develtrace: \(file): not a develtrace check result (JSON, schemaVersion 1)", status: ExitCode32.badInput)
        }
        if decoded.schemaVersion != CheckResult.schemaVersion {
            Diagnostics.fail(
                "develtrace: \(file): schemaVersion \(decoded.schemaVersion); this develtrace reads \(CheckResult.schemaVersion)",
                status: ExitCode32.badInput)
        }
        return decoded
    }
}
