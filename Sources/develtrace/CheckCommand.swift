import ArgumentParser
import DeveltraceKit
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Find the files a candidate devel tree is missing by building sample modules against it.",
        discussion: """
            Each sample module is built twice inside the sandbox, traced: against the \
            full build tree (read-only), then against the candidate (the full tree \
            hidden, the candidate mounted at its own absolute paths through an \
            overlay that catches writes). Files the candidate lacks are added from \
            the full tree and the candidate build repeats (closure) until nothing \
            new turns up. Findings: missing, relocated, different, tree-write, \
            unrunnable, extra, outside, dependency (a system package the builds \
            used that the candidate's packages do not declare, or a program the \
            host lacks) — each with its evidence.

            Examples:
              develtrace check --build-tree ~/linux \\
                  --candidate linux-headers-6.1.0-56-amd64_6.1.192-2_amd64.deb \\
                  --candidate linux-headers-6.1.0-56-common_6.1.192-2_all.deb \\
                  --candidate linux-kbuild-6.1_6.1.192-2_amd64.deb \\
                  --module /usr/src/v4l2loopback-0.12.7
              develtrace check --build-tree ~/linux --candidate /usr/src/kernels/6.5.0 --format json -o result.json

            In CI, gate on new problems only:
              develtrace check … --baseline last-release.json --fail-on missing --format junit -o develtrace.xml
            and split the samples across jobs:
              develtrace check … --shard 2/3 --format json -o shard-2.json
              develtrace merge shard-*.json --format markdown

            Exit status: 0 nothing missing; 1 findings (any missing file, or any \
            fatal finding; with --baseline, new ones only), also when a sample is broken; 2 bad usage or \
            bad input; 3 no finding fails, but a sample failed its reference build (the sample is \
            broken, not the package); 4 internal error.
            """
    )

    @Option(name: .customLong("build-tree"), help: "The full kernel build tree (after modules_prepare, with Module.symvers).")
    var buildTree: String

    @Option(name: .customLong("source-tree"), help: "The source tree, when --build-tree is a separate object tree (O=).")
    var sourceTree: String?

    @Option(help: "A directory, .deb, .rpm or installed package name; repeat for split packages.")
    var candidate: [String] = []

    @Option(name: .customLong("kbuild-dir"), help: "The kbuild directory inside the candidate (default: detected).")
    var kbuildDir: String?

    @Option(
        help: ArgumentHelp(
            "Build the samples for this kernel architecture (arm64, arm, riscv, …), with ARCH and CROSS_COMPILE.",
            valueName: "ARCH"))
    var arch: String?

    @Option(
        name: .customLong("cross-compile"),
        help: ArgumentHelp(
            "With --arch: the cross compiler's prefix (default: Debian's, aarch64-linux-gnu- for arm64).", valueName: "PREFIX"))
    var crossCompile: String?

    @Option(name: .customLong("module"), help: "A DKMS source directory or a Kbuild directory; repeatable (default: the built-in corpus).")
    var modules: [String] = []

    @Option(
        name: .customLong("map"),
        help: ArgumentHelp("Map a candidate directory onto a tree subdirectory.", valueName: "CANDIDATE_DIR=TREE_SUBDIR"))
    var maps: [String] = []

    @OptionGroup(title: "Report")
    var report: ReportOptions

    @Option(help: "Samples built in parallel (default: the number of CPUs).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(
        name: .customLong("max-rebuilds"),
        help: "Rebuilds per sample at most to tell apart findings that share a round (and again for system packages); 0: none.")
    var maxRebuilds = 24

    @Option(name: .customLong("max-rounds"), help: "Closure rounds per sample at most.")
    var maxRounds: Int = 16

    @Option(help: "Time limit of one build, in seconds.")
    var timeout: Double = 1800

    @OptionGroup(title: "Gate")
    var gate: GateOptions

    @Option(
        help: ArgumentHelp(
            "Build only shard K of N: the samples, sorted by name, dealt round-robin. Combine the shards' JSON with `develtrace merge`.",
            valueName: "K/N"))
    var shard: String?

    @Flag(
        name: .customLong("no-system-dependencies"),
        help: "Do not judge the system packages the candidate builds use (class dependency).")
    var noSystemDependencies = false

    @Flag(
        name: .customLong("ptrace-only"),
        help: "Stop every path call of the builds for ptrace, even where a seccomp listener could answer the read-only ones.")
    var ptraceOnly = false

    @Flag(
        name: .customLong("no-recorder"),
        help:
            "Let the seccomp listener answer the builds' read-only path calls even where the in-kernel recorder (eBPF, root) could record them."
    )
    var noRecorder = false

    @Flag(
        name: .customLong("follow-with-ptrace"),
        help: "Follow the builds' forks, execs and exits with ptrace even where the in-kernel recorder could (as root).")
    var followWithPtrace = false

    @Flag(name: .customLong("list-unused"), help: "List every candidate file no sample used (class unused); otherwise only their number.")
    var listUnused = false

    @Option(
        name: .customLong("cache-dir"),
        help: ArgumentHelp(
            "Where reference builds are recorded and reused while every file they read is unchanged (default: $XDG_CACHE_HOME/develtrace/references, or ~/.cache/develtrace/references).",
            valueName: "DIR"))
    var cacheDirectory: String?

    @Option(name: .customLong("cache-size"), help: ArgumentHelp("Keep the recorded builds under this size, in MiB.", valueName: "MIB"))
    var cacheSize: Int = 2048

    @Flag(name: .customLong("no-cache"), help: "Build every reference again and record nothing.")
    var noCache = false

    @Flag(help: "No progress on standard error.")
    var quiet = false

    func validate() throws {
        if candidate.isEmpty { throw ValidationError("Give at least one --candidate (a directory, .deb, .rpm or installed package)") }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if maxRounds < 1 { throw ValidationError("--max-rounds must be at least 1") }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if cacheSize < 1 { throw ValidationError("--cache-size must be at least 1 (MiB)") }
        if let cacheDirectory, cacheDirectory.isEmpty { throw ValidationError("--cache-dir must name a directory") }
        if let shard, Shard(shard) == nil { throw ValidationError("--shard \(shard): expected K/N with 1 ≤ K ≤ N, e.g. 2/3") }
        if crossCompile != nil && arch == nil { throw ValidationError("--cross-compile needs --arch") }
        if maxRebuilds < 0 { throw ValidationError("--max-rebuilds must be 0 or more") }
    }

    func run() throws {
        let showProgress = !quiet && isatty(2) == 1
        var options = CheckOptions(
            buildTree: buildTree, sourceTree: sourceTree, candidates: candidate, kbuildDir: kbuildDir, modules: modules,
            corpus: Self.corpusDirectory(), maps: maps, jobs: jobs, maxRounds: maxRounds,
            timeout: .milliseconds(Int(timeout * 1000)), command: Self.reproducibleCommand(CommandLine.arguments))
        options.listUnused = listUnused
        options.systemDependencies = !noSystemDependencies
        options.maxRebuilds = maxRebuilds
        if let arch { options.architecture = try TargetArchitecture.named(arch, crossCompile: crossCompile) }
        // --module as given, byte for byte.
        let rawModules = RawArguments.values(of: ["--module"])
        if rawModules.count == modules.count { options.modulePaths = rawModules }
        options.gate = gate.gate ?? .standard
        options.usesListener = !ptraceOnly
        options.usesRecorder = !noRecorder
        options.followsInKernel = !followWithPtrace
        options.baseline = try gate.loadBaseline()
        options.shard = shard.flatMap(Shard.init)
        // --cache-dir as given, byte for byte.
        let rawCacheDirectory = RawArguments.values(of: ["--cache-dir"]).last ?? cacheDirectory.map(RawPath.init)
        if !noCache, let directory = rawCacheDirectory ?? CheckOptions.defaultReferenceCacheDirectory {
            let absolute = directory.isAbsolute ? directory : RawPath(FileManager.default.currentDirectoryPath).appending(directory)
            options.referenceCache = (absolute, Int64(cacheSize) * 1024 * 1024)
        }
        // A report file this run creates goes again if the run ends without a report.
        var status = stat()
        let createdOutput = report.outputPath.map { path in path.withCString { stat($0, &status) } != 0 } ?? false
        let sink = try report.openOutput()
        let runner = CheckRunner(options: options) { message in
            if showProgress { Diagnostics.print("develtrace: \(message)") }
        }
        let signals = SignalForwarder { signal in runner.cancellation.cancel(.interrupted(signal: signal)) }
        defer { signals.stop() }
        let result: CheckResult
        do {
            result = try runner.run()
        } catch {
            if createdOutput, let path = report.outputPath { _ = path.withCString { unlink($0) } }
            throw error
        }
        try report.write(result, to: sink)
        if result.exitStatus != ExitStatus.success { throw ExitCode(result.exitStatus) }
    }

    /// The command line as the report shows it (how to reproduce): without
    /// `--output` and `--shard`, which change where and how much, not what.
    static func reproducibleCommand(_ arguments: [String]) -> [String] {
        var command: [String] = []
        var skipNext = false
        for argument in arguments {
            if skipNext {
                skipNext = false
                continue
            }
            if ["-o", "--output", "--shard"].contains(argument) {
                skipNext = true
                continue
            }
            if argument.hasPrefix("--output=") || argument.hasPrefix("--shard=") || (argument.hasPrefix("-o") && argument.count > 2) {
                continue
            }
            command.append(argument)
        }
        return command
    }

    /// `Fixtures/modules` next to the package (a source checkout), or
    /// `$DEVELTRACE_CORPUS`.
    static func corpusDirectory() -> String {
        if let override = ProcessInfo.processInfo.environment["DEVELTRACE_CORPUS"] { return override }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<6 {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("Fixtures/modules").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return "/usr/share/develtrace/modules"
    }
}

extension CheckFormat: ExpressibleByArgument {}

/// What fails a run: shared by `check` and `merge`.
struct GateOptions: ParsableArguments {
    @Option(
        name: .customLong("fail-on"),
        help: ArgumentHelp(
            "What fails the check (exit 1): a class, or CLASS:SEVERITY for that severity and worse; repeatable. Default: missing, and any fatal finding.",
            valueName: "class[:severity]"))
    var failOn: [String] = []

    @Option(
        help: ArgumentHelp(
            "Findings already known: a previous result (JSON) or an allowlist (lines `PATH` or `CLASS PATH`, wildcards, # comments). Known findings do not fail the gate; vanished ones are reported as fixed.",
            valueName: "file"))
    var baseline: String?

    func validate() throws {
        for rule in failOn where Gate.Rule(rule) == nil {
            throw ValidationError(
                "--fail-on \(rule): expected CLASS or CLASS:SEVERITY, classes \(FindingClass.allCases.map(\.rawValue).joined(separator: ", ")), severities benign, divergent, fatal"
            )
        }
    }

    /// The gate asked for, or nil (the default, or the recorded one).
    var gate: Gate? { failOn.isEmpty ? nil : Gate(rules: failOn.compactMap(Gate.Rule.init)) }

    /// The baseline, read now: a bad one is bad input (exit 2).
    func loadBaseline() throws(RunFailure) -> Baseline? {
        guard let baseline else { return nil }
        do {
            return try Baseline(contentsOf: baseline)
        } catch {
            throw .badInput(RunFailure(error).description)
        }
    }
}
extension FindingClass: ExpressibleByArgument {}

/// How a result is rendered: shared by `check` and `report`.
struct ReportOptions: ParsableArguments {
    @Option(help: "Output format: text, json, markdown (a bug report), list (paths, one per line) or junit (CI test reporters).")
    var format: CheckFormat = .text

    @Option(name: .shortAndLong, help: "Write the report to this file instead of standard output.")
    var output: String?

    @Option(name: .customLong("class"), help: "With --format list: the finding classes listed (repeatable; default: missing).")
    var classes: [FindingClass] = []

    @Option(help: "With --format list: put this directory before each path (e.g. /usr/src/kernels/6.1.0).")
    var prefix: String?

    /// `--output` as given, byte for byte.
    var outputPath: RawPath? {
        output == nil ? nil : RawArguments.values(of: ["-o", "--output"]).last ?? output.map(RawPath.init)
    }

    /// Opens the report's file now (bad input if it cannot be), so a check
    /// does not build for minutes and then fail to write.
    func openOutput() throws(RunFailure) -> OutputSink {
        try OutputSink(path: outputPath, truncate: false)
    }

    /// Renders `result` into the report's file; a failed write is bad input
    /// naming the file, never a silent success.
    func write(_ result: CheckResult, to opened: OutputSink? = nil) throws(RunFailure) {
        let toTerminal = output == nil && isatty(1) == 1
        let renderer = CheckReportRenderer(
            format: format, colour: toTerminal, classes: classes.isEmpty ? [.missing] : Set(classes), prefix: prefix)
        let sink: OutputSink
        if let opened { sink = opened } else { sink = try openOutput() }
        sink.truncate()
        sink.write(Array(renderer.render(result).utf8))
        try sink.close()
    }
}
