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
        try report.write(Self.load(result))
    }

    /// A saved result; bad input (naming the file) when it is none.
    static func load(_ file: String) throws(RunFailure) -> CheckResult {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw .badInput("\(file): cannot be read")
        }
        guard let decoded = try? JSONDecoder().decode(CheckResult.self, from: data) else {
            throw .badInput("\(file): not a develtrace check result (JSON, schemaVersion 1)")
        }
        if decoded.schemaVersion != CheckResult.schemaVersion {
            throw .badInput("\(file): schemaVersion \(decoded.schemaVersion); this develtrace reads \(CheckResult.schemaVersion)")
        }
        return decoded
    }
}
