import Foundation
import SystemPackage

/// How one traced build of one sample went.
public struct SampleBuildResult: Sendable {
    public enum Status: Sendable, Hashable {
        case succeeded
        case failed(exitStatus: Int32)
        case skipped(reason: String)
        case brokenConfiguration(String)
        case timedOut
    }

    public var status: Status
    public var outcome: TraceOutcome
    /// The module copy the build ran in (host path, removed with the scratch).
    public var moduleCopy: RawPath
    /// The module directory as the sandbox showed it.
    public var moduleInSandbox: RawPath
    /// The build's combined output (last 64 KiB).
    public var log: String
    /// `.ko` files produced, by file name.
    public var modules: [String: RawPath]
}

/// Builds one sample once in its sandbox and traces it.
struct SampleBuild {
    var sample: Sample
    var kernelRelease: String
    /// The kbuild directory as the sandbox shows it.
    var kbuildDir: RawPath
    var sandbox: SandboxConfiguration
    var scratch: RawPath
    var label: String
    var cpu: Int?
    var timeout: Duration?

    func run(cancel: CancellationHandle) throws -> SampleBuildResult {
        let copy = scratch.appending(RawPath("\(label)-\(sample.name)"))
        // cp takes the directory through a symlink of develtrace's naming:
        // its own name may be any bytes, which a command line of strings
        // would not carry.
        let source = scratch.appending(RawPath("\(label)-\(sample.name.hashValue & 0xffff)-source"))
        _ = source.withCString { unlink($0) }
        guard source.withCString({ s in sample.path.withCString { symlink($0, s) } }) == 0 else {
            throw InputError.tool("ln", "\(source): \(Errno(rawValue: errno))")
        }
        defer { _ = source.withCString { unlink($0) } }
        let copied = try HostCommand.run(["cp", "-a", "--", source.description + "/.", copy.description])
        guard copied.status == 0 else { throw InputError.tool("cp", StagedCandidate.firstLine(copied.error)) }
        let driver = scratch.appending(RawPath("driver.sh"))
        if !FileManager.default.fileExists(atPath: driver.description) {
            try SampleDriver.script.write(toFile: driver.description, atomically: true, encoding: .utf8)
        }
        let inside = sample.buildDirectory
        var configuration = sandbox
        configuration.binds.append(.init(source: copy, target: inside, readOnly: false))
        if let name = sample.packageName, let version = sample.packageVersion {
            // DKMS's source tree, for dkms.conf files that refer to it.
            configuration.binds.append(
                .init(source: sample.path, target: RawPath("/usr/src/\(name)-\(version)"), readOnly: true))
        }
        configuration.binds.append(.init(source: driver, target: RawPath("/develtrace-driver.sh"), readOnly: true))

        let logPath = scratch.appending(RawPath("\(label)-\(sample.name).log"))
        // Both must open: -1 would mean "inherit develtrace's own", and the
        // build's output would pour into develtrace's standard output (and
        // into a JSON report written there).
        let logFD = logPath.withCString { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        guard logFD >= 0 else { throw SandboxError.preparation(logPath, Errno(rawValue: errno)) }
        defer { close(logFD) }
        let nullFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard nullFD >= 0 else { throw SandboxError.preparation(RawPath("/dev/null"), Errno(rawValue: errno)) }
        defer { close(nullFD) }
        let arguments = [
            "/bin/bash", "/develtrace-driver.sh", kernelRelease, kbuildDir.description, "x86_64", inside.description, sample.kind.rawValue,
        ]
        let environment = [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
        ]
        let request = TraceRequest(
            program: RawPath("/bin/bash"), arguments: arguments.map(RawPath.init), environment: environment.map(RawPath.init),
            workingDirectory: inside, sandbox: configuration, cpu: cpu, standardInput: nullFD, standardOutput: logFD,
            standardError: logFD)
        let session = TraceSession(request: request)
        cancel.register(session)
        defer { cancel.unregister(session) }
        let outcome = try session.run(timeout: timeout)

        let logData = (try? Data(contentsOf: URL(fileURLWithPath: logPath.description))) ?? Data()
        var log = String(decoding: logData.suffix(65536), as: UTF8.self)
        if let failure = outcome.launchFailure { log += "develtrace: \(failure)\n" }
        var modules: [String: RawPath] = [:]
        try? DirectoryWalk.walk(copy) { entry in
            if entry.isRegularFile, entry.relativePath.description.hasSuffix(".ko") {
                modules[entry.relativePath.description] = copy.appending(entry.relativePath)
            }
            return true
        }
        let status: SampleBuildResult.Status
        switch (outcome.termination, outcome.exitStatus) {
        case (.timedOut, _): status = .timedOut
        case (.interrupted, _): status = .failed(exitStatus: outcome.exitStatus)
        case (_, 0): status = .succeeded
        case (_, SampleDriver.skipped):
            status = .skipped(reason: Self.line(in: log, after: "develtrace-skip: ") ?? "BUILD_EXCLUSIVE_*")
        case (_, SampleDriver.brokenConfiguration):
            status = .brokenConfiguration(Self.line(in: log, after: "develtrace: ") ?? "dkms.conf does not evaluate")
        default: status = .failed(exitStatus: outcome.exitStatus)
        }
        return SampleBuildResult(status: status, outcome: outcome, moduleCopy: copy, moduleInSandbox: inside, log: log, modules: modules)
    }

    static func line(in log: String, after marker: String) -> String? {
        for line in log.split(separator: "\n") where line.contains(marker) {
            return String(line[line.range(of: marker)!.upperBound...])
        }
        return nil
    }
}

/// Lets one call (Ctrl-C, a deadline) stop every build in flight.
public final class CancellationHandle: @unchecked Sendable {
    private let lock = NSLock()
    private var sessions: [ObjectIdentifier: TraceSession] = [:]
    private var cancelled: Termination?

    public init() {}

    func register(_ session: TraceSession) {
        lock.lock()
        sessions[ObjectIdentifier(session)] = session
        let reason = cancelled
        lock.unlock()
        if let reason { session.cancel(reason) }
    }

    func unregister(_ session: TraceSession) {
        lock.lock()
        sessions[ObjectIdentifier(session)] = nil
        lock.unlock()
    }

    public var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled != nil
    }

    /// Why it was cancelled, if it was.
    public var reason: Termination? {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    public func cancel(_ reason: Termination) {
        lock.lock()
        cancelled = reason
        let all = Array(sessions.values)
        lock.unlock()
        for session in all { session.cancel(reason) }
    }
}
