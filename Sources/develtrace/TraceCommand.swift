import ArgumentParser
import DeveltraceKit
import Dispatch
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Run a command in the sandbox and print every path it touched.",
        discussion: """
            Every path system call (open, stat, access, exec, readlink, mkdir, \
            rename, …) of the command and all its descendants is recorded with its \
            result. The command runs with PID, mount, network, IPC and UTS \
            namespaces: the host's files are visible read-only through an overlay \
            whose writes are caught and listed, /tmp is private, and there is no \
            network but loopback.

            Examples:
              develtrace trace -- gcc -c hello.c
              develtrace trace --format jsonl --output build.jsonl \\
                  --overlay /usr/src/linux-headers-6.1.0-56-amd64 \\
                  -- make -C /usr/src/linux-headers-6.1.0-56-amd64 M=$PWD modules
              develtrace trace --hide /home/me/linux --timeout 600 -- ./build.sh

            The exit status is the command's (128+N if signal N killed it), 124 \
            after --timeout, 130/143 when develtrace is interrupted, 2 for bad \
            options and 4 for an internal error.
            """
    )

    @Option(help: "Output format: text (one line per access) or jsonl (one JSON object per line).")
    var format: TraceFormat = .text

    @Option(name: .shortAndLong, help: "Write the trace to this file instead of standard output.")
    var output: String?

    @Option(help: "Stop the command and everything it started after this many seconds.")
    var timeout: Double?

    @Option(help: ArgumentHelp("Mount a host path read-only inside the sandbox.", valueName: "source[:target]"))
    var bind: [String] = []

    @Option(
        name: .customLong("bind-rw"),
        help: ArgumentHelp("Mount a host path writable inside the sandbox (writes reach the host).", valueName: "source[:target]"))
    var bindWritable: [String] = []

    @Option(
        help: ArgumentHelp(
            "Mount a host directory through an overlay: writes land in a scratch layer and are listed.", valueName: "source[:target]"))
    var overlay: [String] = []

    @Option(help: ArgumentHelp("Make a path absent inside the sandbox (ENOENT).", valueName: "path"))
    var hide: [String] = []

    @Option(help: ArgumentHelp("Mount an empty writable directory here.", valueName: "path"))
    var tmpfs: [String] = []

    @Flag(name: .customLong("no-sandbox"), help: "Trace on the host without namespaces (the command can change host files).")
    var noSandbox = false

    @Option(name: .customLong("cpu"), help: "Pin the command and the tracer to this CPU.")
    var cpu: Int?

    @Flag(
        name: .customLong("ptrace-only"),
        help: "Stop every path call for ptrace, even where a seccomp listener could answer the read-only ones.")
    var ptraceOnly = false

    @Flag(
        name: .customLong("no-listener"),
        help:
            "Use no seccomp listener even where the kernel has one, as on a kernel before 6.6: the in-kernel recorder (root) takes the read-only path calls it can, ptrace every other."
    )
    var noListener = false

    @Flag(
        name: .customLong("no-recorder"),
        help: "Let the seccomp listener answer the read-only path calls even where the in-kernel recorder (eBPF, root) could record them.")
    var noRecorder = false

    @Flag(
        name: .customLong("untraced"),
        help: ArgumentHelp(
            "Run the command in the sandbox without tracing it (for benchmarks: what the sandbox alone costs).",
            visibility: .hidden))
    var untraced = false

    @Flag(
        name: .customLong("follow-with-ptrace"),
        help: "Follow forks, execs and exits with ptrace even where the in-kernel recorder could (as root, in a sandbox).")
    var followWithPtrace = false

    @Option(name: .customLong("chdir"), help: "Working directory of the command (default: the current one).")
    var directory: String?

    @Option(help: ArgumentHelp("Write counters (stops, accesses, wall time, peak RSS) to this file.", valueName: "file"))
    var stats: String?

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        // `trace --help` (no `--`): the passthrough argument caught it.
        if RawArguments.afterDoubleDash() == nil, let first = command.first, ["--help", "-h", "-help"].contains(first) {
            throw CleanExit.helpRequest(self)
        }
        if command.isEmpty { throw ValidationError("Give the command to trace after --, e.g. develtrace trace -- make") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if untraced && noSandbox { throw ValidationError("--untraced runs the command in the sandbox: not with --no-sandbox") }
    }

    func run() throws {
        let arguments = RawArguments.afterDoubleDash() ?? command.map(RawPath.init)
        var sandbox: SandboxConfiguration? = nil
        if !noSandbox {
            var configuration = SandboxConfiguration()
            configuration.binds =
                bind.map { spec in
                    let (source, target) = Self.split(spec)
                    return .init(source: source, target: target, readOnly: true)
                }
                + bindWritable.map { spec in
                    let (source, target) = Self.split(spec)
                    return .init(source: source, target: target, readOnly: false)
                }
            configuration.overlays = overlay.map { spec in
                let (source, target) = Self.split(spec)
                return .init(lower: source, target: target)
            }
            configuration.hidden = hide.map(RawPath.init)
            configuration.tmpfs = tmpfs.map(RawPath.init)
            sandbox = configuration
        }
        let cwd = directory.map(RawPath.init) ?? RawPath(FilePath(currentWorkingDirectory()))
        var request = TraceRequest(
            program: arguments[0], arguments: arguments, environment: RawArguments.environment(),
            workingDirectory: cwd, sandbox: sandbox, cpu: cpu)
        request.usesListener = !ptraceOnly
        request.usesRecorder = !noRecorder
        request.withoutListener = noListener
        request.traced = !untraced
        request.followsInKernel = !followWithPtrace

        // --output as given, byte for byte.
        let outputPath = output.map { RawArguments.values(of: ["-o", "--output"]).last ?? RawPath($0) }
        let sink = try OutputSink(path: outputPath)
        let encoder = TraceEncoder(format: format)
        let session = TraceSession(request: request)
        let signals = SignalForwarder { signal in session.cancel(.interrupted(signal: signal)) }
        defer { signals.stop() }

        let outcome = try session.run(timeout: timeout.map { .milliseconds(Int($0 * 1000)) }) { access in
            sink.write(encoder.encode(access))
        }
        sink.write(encoder.encodeEnd(outcome))
        try sink.close()
        if let stats { try Self.writeStatistics(outcome, to: stats) }
        if let failure = outcome.launchFailure { Diagnostics.print("develtrace: \(failure)") }
        if outcome.termination == .timedOut {
            Diagnostics.print("develtrace: timed out after \(timeout ?? 0) s; every process in the sandbox was killed")
        }
        let status = ExitStatus.trace(outcome.termination, commandStatus: outcome.exitStatus)
        if status != ExitStatus.success { throw ExitCode(status) }
    }

    static func writeStatistics(_ outcome: TraceOutcome, to path: String) throws(RunFailure) {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let s = outcome.statistics
        let text = """
            accesses \(outcome.accesses.count)
            processes \(outcome.processes.count)
            seccomp_stops \(s.seccompStops)
            syscall_exit_stops \(s.syscallExitStops)
            other_stops \(s.otherStops)
            notifications \(s.notifications)
            interrupt_stops \(s.interruptStops)
            parallel_notifications \(s.parallelNotifications)
            listener_switches \(s.listenerSwitches)
            lookup_cache_hits \(s.lookupCacheHits)
            lookup_cache_misses \(s.lookupCacheMisses)
            recorded_calls \(s.recordedCalls)
            unreadable_recorded_calls \(s.unreadableRecordedCalls)
            lost_recorded_calls \(s.lostRecordedCalls)
            read_only_calls \(s.mode)
            wall_seconds \(s.seconds)
            peak_rss_kib \(usage.ru_maxrss)
            tracer_user_seconds \(Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6)
            tracer_system_seconds \(Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)

            """
        let sink = try OutputSink(path: RawPath(path))
        sink.write(Array(text.utf8))
        try sink.close()
    }

    static func split(_ spec: String) -> (RawPath, RawPath) {
        if let colon = spec.firstIndex(of: ":") {
            return (RawPath(String(spec[..<colon])), RawPath(String(spec[spec.index(after: colon)...])))
        }
        return (RawPath(spec), RawPath(spec))
    }
}

extension TraceFormat: ExpressibleByArgument {}

private func currentWorkingDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4097)
    guard getcwd(&buffer, 4096) != nil else { return "/" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
