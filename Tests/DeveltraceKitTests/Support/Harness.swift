import Foundation
import SystemPackage
import Testing

@testable import DeveltraceKit

/// Shared helpers: the package's folders, fixture builds, running commands
/// under develtrace and under strace.
enum Harness {
    /// The package root (three levels above this file's folder).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var fixtures: URL { packageRoot.appendingPathComponent("Fixtures") }

    /// A work directory outside /tmp (the sandbox has a private /tmp), fresh
    /// for each call, removed by the caller with `cleanup`.
    static func workDirectory(_ name: String) throws -> URL {
        let base = packageRoot.appendingPathComponent(".build/test-work", isDirectory: true)
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let url = base.appendingPathComponent(name, isDirectory: true)
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Compiles `Fixtures/tracee/NAME.c` once per test run; returns the binary.
    static func fixtureProgram(_ name: String) throws -> String {
        let output = packageRoot.appendingPathComponent(".build/test-work/bin/\(name)").path
        try FileManager.default.createDirectory(atPath: (output as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let source = fixtures.appendingPathComponent("tracee/\(name).c").path
        let status = try runProcess(["/usr/bin/gcc", "-O1", "-pthread", "-o", output, source])
        #expect(status == 0, "compiling \(source)")
        return output
    }

    /// Runs a plain process and returns its exit status.
    @discardableResult
    static func runProcess(_ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs a plain process and returns its status and what it printed.
    static func capture(
        _ arguments: [String], in directory: URL, environment: [String: String]? = nil
    ) throws -> (status: Int32, stdout: Data, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.currentDirectoryURL = directory
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, stdout, String(decoding: stderr, as: UTF8.self))
    }

    /// The environment traced commands get: this process's, with `PATH`
    /// cut to the directories every sandbox shows, so a command searches
    /// the same places sandboxed or not (a `PATH` through the invoking
    /// user's home is absent inside, and may be unreadable outside).
    static let commandEnvironment: [String: String] = {
        var environment = ProcessInfo.processInfo.environment
        let shown = ["/usr/", "/bin", "/sbin"]
        environment["PATH"] = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .filter { entry in shown.contains { entry.hasPrefix($0) } }.joined(separator: ":")
        return environment
    }()

    static func environment() -> [RawPath] {
        commandEnvironment.map { RawPath("\($0.key)=\($0.value)") }.sorted()
    }

    /// Traces `arguments` (resolved like a shell would) in `directory`.
    /// How a test has read-only calls watched.
    enum Watch: String, CaseIterable, CustomTestStringConvertible, Sendable {
        /// The seccomp listener as a run has it (`ListenerSchedule` decides).
        case listener
        /// The listener with a thread per CPU from the start.
        case parallelListener
        /// Every call stopped for ptrace.
        case ptrace
        /// The in-kernel recorder for the read-only calls it can take (as
        /// root), the listener for the rest, ptrace following the processes.
        case recorder
        /// The recorder following the processes too (no ptrace at all), the
        /// listener for every other call (as root, in a sandbox).
        case following
        /// No listener, as on a kernel before 6.6: the recorder for the
        /// calls it can take (as root), ptrace for every other.
        case recorderWithPtrace
        var testDescription: String { rawValue }

        /// Whether the in-kernel recorder takes calls in this mode.
        var records: Bool { self == .recorder || self == .following || self == .recorderWithPtrace }

        /// The request's switches for this mode.
        func apply(to request: inout TraceRequest) {
            request.usesListener = self != .ptrace
            request.usesRecorder = records
            request.followsInKernel = self == .following
            request.listenerAlwaysParallel = self == .parallelListener
            request.withoutListener = self == .recorderWithPtrace
        }
    }

    /// `ptraceOnly`: every call stops for ptrace (no seccomp listener).
    static func trace(
        _ arguments: [String], in directory: URL, sandbox: SandboxConfiguration? = nil, timeout: Duration? = nil,
        ptraceOnly: Bool = false
    ) throws -> TraceOutcome {
        try trace(
            raw: arguments.map(RawPath.init), in: directory, sandbox: sandbox, timeout: timeout, watch: ptraceOnly ? .ptrace : .listener)
    }

    static func trace(
        _ arguments: [String], in directory: URL, sandbox: SandboxConfiguration? = nil, timeout: Duration? = nil, watch: Watch
    ) throws -> TraceOutcome {
        try trace(raw: arguments.map(RawPath.init), in: directory, sandbox: sandbox, timeout: timeout, watch: watch)
    }

    static func trace(
        raw arguments: [RawPath], in directory: URL, sandbox: SandboxConfiguration? = nil, timeout: Duration? = nil,
        watch: Watch = .listener
    ) throws -> TraceOutcome {
        // Following needs the sandbox's PID namespace: one by default.
        let sandbox = watch == .following ? sandbox ?? SandboxConfiguration() : sandbox
        var request = TraceRequest(
            program: arguments[0], arguments: arguments, environment: environment(),
            workingDirectory: RawPath(directory.path), sandbox: sandbox)
        watch.apply(to: &request)
        let outcome = try TraceSession(request: request).run(timeout: timeout)
        if watch == .following && sandbox != nil && RecorderSupport.available && ListenerSupport.available
            && KernelTypes.running != nil
        {
            #expect(outcome.statistics.mode.hasPrefix("in-kernel recorder (eBPF) following"), "calls went to \(outcome.statistics.mode)")
            #expect(outcome.statistics.seccompStops + outcome.statistics.syscallExitStops + outcome.statistics.otherStops == 0)
            #expect(outcome.statistics.lostRecordedCalls == 0)
        } else if watch == .recorderWithPtrace {
            if RecorderSupport.available {
                #expect(
                    outcome.statistics.mode.hasPrefix("in-kernel recorder (eBPF), the rest stopped for ptrace"),
                    "read-only calls went to \(outcome.statistics.mode)")
                #expect(outcome.statistics.notifications == 0)
                #expect(outcome.statistics.recordedCalls > 0 || outcome.accesses.isEmpty)
                #expect(outcome.statistics.lostRecordedCalls == 0)
            } else {
                #expect(outcome.statistics.mode.hasPrefix("ptrace"), "read-only calls went to \(outcome.statistics.mode)")
            }
        } else if watch == .recorder || watch == .following {
            if RecorderSupport.available && ListenerSupport.available {
                #expect(outcome.statistics.mode.hasPrefix("in-kernel recorder"), "read-only calls went to \(outcome.statistics.mode)")
                #expect(outcome.statistics.recordedCalls > 0 || outcome.accesses.isEmpty)
                #expect(outcome.statistics.lostRecordedCalls == 0)
            }
        } else if watch != .ptrace && ListenerSupport.available {
            #expect(outcome.statistics.mode.hasPrefix("listener"), "read-only calls went to \(outcome.statistics.mode)")
            if watch == .parallelListener && ListenerPool.availableCPUs().count > 1 {
                #expect(outcome.statistics.parallelNotifications == outcome.statistics.notifications)
            }
        }
        return outcome
    }

    /// Traces a command in a default sandbox and returns what it printed.
    static func traceOutput(_ arguments: [String], in directory: URL) throws -> String {
        let file = directory.appendingPathComponent(".stdout-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: file) }
        let handle = try FileHandle(forWritingTo: file)
        let request = TraceRequest(
            program: RawPath(arguments[0]), arguments: arguments.map(RawPath.init), environment: environment(),
            workingDirectory: RawPath(directory.path), sandbox: SandboxConfiguration(),
            standardOutput: handle.fileDescriptor)
        let outcome = try TraceSession(request: request).run()
        try handle.close()
        #expect(outcome.exitStatus == 0)
        return try String(contentsOf: file, encoding: .utf8)
    }

    /// Runs `arguments` under `strace -f` and parses its log.
    static func strace(_ arguments: [String], in directory: URL) throws -> StraceLog {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("strace-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let status = try runProcess(
            ["/usr/bin/strace", "-f", "-xx", "-y", "-qq", "-e", "trace=%file,%process", "-o", log.path] + arguments,
            in: directory, environment: commandEnvironment)
        _ = status
        let text = try [UInt8](Data(contentsOf: log))
        return StraceLog(text: text, initialDirectory: RawPath(directory.path))
    }

    /// Asserts that develtrace and strace saw the same multiset of
    /// (syscall, absolute path, result).
    static func expectSameAccesses(
        _ outcome: TraceOutcome, _ log: StraceLog, ignoring ignored: (StraceLog.Access) -> Bool = { _ in false },
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var ours: [StraceLog.Access: Int] = [:]
        for access in outcome.accesses {
            let key = StraceLog.Access(syscall: access.syscall, path: access.path, result: access.result.description)
            if !ignored(key) { ours[key, default: 0] += 1 }
        }
        var theirs: [StraceLog.Access: Int] = [:]
        for access in log.accesses where !ignored(access) { theirs[access, default: 0] += 1 }
        #expect(!theirs.isEmpty, "strace saw nothing", sourceLocation: sourceLocation)
        let keys = Set(ours.keys).union(theirs.keys)
        let differences = keys.filter { ours[$0, default: 0] != theirs[$0, default: 0] }.sorted { $0.description < $1.description }
        let shown = differences.prefix(30).map { "\($0): develtrace \(ours[$0, default: 0]) strace \(theirs[$0, default: 0])" }
        // strace's lines of the differing calls: a parse that lost one shows
        // in what strace printed (CI lost a thread's exec once, under load).
        let context = differences.isEmpty ? [] : log.lines(about: Set(differences.map(\.syscall)))
        #expect(
            differences.isEmpty,
            "differences:\n\(shown.joined(separator: "\n"))\nstrace's lines of those calls:\n\(context.joined(separator: "\n"))",
            sourceLocation: sourceLocation)
    }

    /// Host processes whose command line contains `marker`.
    static func processes(containing marker: String) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != getpid(),
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return nil }
            let text = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return text.contains(marker) ? pid : nil
        }
    }

    /// Scratch directories develtrace left in $TMPDIR: this user's only (another
    /// user's runs at the same time have theirs there too).
    static func scratchDirectories() -> Set<String> {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return Set(
            entries.filter { entry in
                var status = stat()
                return entry.hasPrefix("develtrace.") && lstat(base + "/" + entry, &status) == 0 && status.st_uid == geteuid()
            })
    }

    /// Mount lines of this (the host's) namespace that mention develtrace.
    static func develtraceMounts() -> [String] {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init).filter { $0.contains("develtrace") }
    }

    /// Path, size and modification time of every file of a large tree
    /// (a kernel tree: reading every byte would take too long).
    static func fingerprintShallow(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        try? DirectoryWalk.walk(RawPath(root)) { entry in
            result[entry.relativePath.description] =
                "\(entry.status.st_mode) \(entry.status.st_size) \(entry.status.st_mtim.tv_sec).\(entry.status.st_mtim.tv_nsec)"
            return true
        }
        return result
    }

    /// SHA-256-free content fingerprint of a tree: every path, mode, size and
    /// byte (small fixture trees only).
    static func fingerprint(_ root: URL) throws -> [String: Data] {
        var result: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root.path)
        while let relative = enumerator?.nextObject() as? String {
            let path = root.appendingPathComponent(relative).path
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            var data = Data("\(attributes[.type] ?? "") \(attributes[.posixPermissions] ?? "") \(attributes[.modificationDate] ?? "")".utf8)
            if (attributes[.type] as? FileAttributeType) == .typeRegular {
                data.append(FileManager.default.contents(atPath: path) ?? Data())
            }
            result[relative] = data
        }
        return result
    }
}
