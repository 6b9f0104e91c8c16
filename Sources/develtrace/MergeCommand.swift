import ArgumentParser
import DeveltraceKit
import Foundation

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the JSON results of `check --shard K/N` into the report of one whole run.",
        discussion: """
            Run the same `develtrace check` command on N machines (CI jobs), each \
            with its own --shard K/N and --format json, then merge all N results. \
            The merged result is the one an unsharded run gives: samples and \
            findings combined, unused files counted across all shards, the gate \
            and exit status computed again.

            Examples:
              develtrace check --build-tree ~/linux --candidate linux-headers.deb --shard 1/3 --format json -o shard-1.json
              develtrace check --build-tree ~/linux --candidate linux-headers.deb --shard 2/3 --format json -o shard-2.json
              develtrace check --build-tree ~/linux --candidate linux-headers.deb --shard 3/3 --format json -o shard-3.json
              develtrace merge shard-1.json shard-2.json shard-3.json --format junit -o develtrace.xml

            Exit status: as `check` (0, 1 findings that fail the gate, else 3 a \
            broken sample), and 2 if the results cannot be read or are not the N shards \
            of one run.
            """
    )

    @Argument(help: "The shards' results (`check --shard K/N --format json`), all N of them.")
    var results: [String]

    @OptionGroup(title: "Gate")
    var gate: GateOptions

    @OptionGroup(title: "Report")
    var report: ReportOptions

    func validate() throws {
        if results.isEmpty { throw ValidationError("Give the JSON results of every shard") }
    }

    func run() throws {
        let parts = try results.map { file in (file: file, result: try ReportCommand.load(file)) }
        let merged: CheckResult
        do {
            merged = try ShardMerge.merge(parts, gate: gate.gate, baseline: gate.loadBaseline())
        } catch {
            throw RunFailure.badInput(RunFailure(error).description)
        }
        try report.write(merged)
        if merged.exitStatus != ExitStatus.success { throw ExitCode(merged.exitStatus) }
    }
}
