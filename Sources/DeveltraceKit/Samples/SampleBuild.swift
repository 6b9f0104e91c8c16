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
    /// When the recorded build reused in its place was made (a reference
    /// build taken from the cache), or nil for a build of this run.
    public var reused: Date? = nil
    /// The sandbox the build ran in (nil for a reused one).
    public var sandbox: SandboxConfiguration? = nil
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
    /// The other DKMS samples of the run: their sources are in `/usr/src`
    /// as on a host where all those packages are installed (a `dkms.conf`
    /// may take another package's sources from there: west-chamber's
    /// takes xtables-addons').
    var neighbours: [Sample] = []
    /// The machine to build for, when not this one (`check --arch`).
    var architecture: TargetArchitecture? = nil
    /// `TraceRequest.usesListener`.
    var usesListener = true
    /// `TraceRequest.usesRecorder`.
    var usesRecorder = true
    /// `TraceRequest.followsInKernel`.
    var followsInKernel = true
    /// The pair DKMS signs with, placed in the build's DKMS tree (nil: DKMS
    /// makes one, as on a host's first DKMS build).
    var signingKey: DkmsSigningKey? = nil

    func run(cancel: CancellationHandle) throws -> SampleBuildResult {
        let copy = scratch.appending(RawPath("\(label)-\(sample.name)"))
        let driver = scratch.appending(RawPath("driver.sh"))
        if !FileManager.default.fileExists(atPath: driver.description) {
            try SampleDriver.script.write(toFile: driver.description, atomically: true, encoding: .utf8)
        }
        var configuration = sandbox
        let inside: RawPath
        if sample.kind == .dkms, let name = sample.packageName, let version = sample.packageVersion {
            // DKMS copies the source from /usr/src/NAME-VERSION into its own
            // tree (an empty directory of this build's) and builds there. The
            // source is this build's copy, writable and the sandbox root's, as
            // a host's /usr/src is root's.
            let source = scratch.appending(RawPath("\(label)-\(sample.name)-source"))
            try copySample(to: source)
            try StagedCandidate.makeDirectory(copy)
            _ = signingKey?.place(in: copy)
            inside = SampleDriver.dkmsTree.appending(RawPath("\(name)/\(version)/build"))
            configuration.binds.append(.init(source: copy, target: SampleDriver.dkmsTree, readOnly: false))
            configuration.binds.append(.init(source: source, target: RawPath("/usr/src/\(name)-\(version)"), readOnly: false))
            var placed: Set<String> = ["\(name)-\(version)"]
            for other in neighbours where other.kind == .dkms {
                guard let otherName = other.packageName, let otherVersion = other.packageVersion,
                    placed.insert("\(otherName)-\(otherVersion)").inserted
                else { continue }
                configuration.binds.append(.init(source: other.path, target: RawPath("/usr/src/\(otherName)-\(otherVersion)")))
            }
        } else {
            try copySample(to: copy)
            inside = sample.buildDirectory
            configuration.binds.append(.init(source: copy, target: inside, readOnly: false))
        }
        configuration.binds.append(.init(source: driver, target: RawPath("/develtrace-driver.sh"), readOnly: true))
        configuration = configuration.hidingHostKernels()

        let logPath = scratch.appending(RawPath("\(label)-\(sample.name).log"))
        // Both must open: -1 would mean "inherit develtrace's own", and the
        // build's output would pour into develtrace's standard output (and
        // into a JSON report written there).
        let logFile: OwnedDescriptor
        do throws(Errno) { logFile = try OwnedDescriptor.open(logPath, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644) } catch {
            throw SandboxError.preparation(logPath, error)
        }
        let nullFile: OwnedDescriptor
        do throws(Errno) { nullFile = try OwnedDescriptor.open(RawPath("/dev/null"), O_RDONLY) } catch {
            throw SandboxError.preparation(RawPath("/dev/null"), error)
        }
        let logFD = logFile.raw
        let nullFD = nullFile.raw
        let arguments = [
            "/bin/bash", "/develtrace-driver.sh", kernelRelease, kbuildDir.description, inside.description, sample.kind.rawValue,
            sample.packageName ?? "", sample.packageVersion ?? "", architecture?.machine ?? "",
        ]
        let environment =
            [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
            ] + (architecture?.environment ?? [])
        var request = TraceRequest(
            program: RawPath("/bin/bash"), arguments: arguments.map(RawPath.init), environment: environment.map(RawPath.init),
            workingDirectory: sample.kind == .dkms ? SampleDriver.dkmsTree : inside, sandbox: configuration, cpu: cpu,
            standardInput: nullFD, standardOutput: logFD,
            standardError: logFD)
        request.usesListener = usesListener
        request.usesRecorder = usesRecorder
        request.followsInKernel = followsInKernel
        let session = TraceSession(request: request)
        cancel.register(session)
        defer { cancel.unregister(session) }
        let outcome = try session.run(timeout: timeout)
        // Open for the whole run: the descriptors are the build's output.
        logFile.close()
        nullFile.close()

        let logData = (try? Data(contentsOf: URL(fileURLWithPath: logPath.description))) ?? Data()
        var log = String(decoding: logData.suffix(65536), as: UTF8.self)
        if let failure = outcome.launchFailure { log += "develtrace: \(failure)\n" }
        let modules = Self.modules(in: copy, dkms: sample.kind == .dkms)
        let status: SampleBuildResult.Status
        switch (outcome.termination, outcome.exitStatus) {
        case (.timedOut, _): status = .timedOut
        case (.interrupted, _): status = .failed(exitStatus: outcome.exitStatus)
        case (_, 0): status = .succeeded
        case (_, SampleDriver.skipped) where sample.kind == .dkms:
            status = .skipped(reason: Self.dkmsSaid(log) ?? "a BUILD_EXCLUSIVE directive does not match")
        case (_, SampleDriver.brokenConfiguration) where sample.kind == .dkms:
            status = .brokenConfiguration(Self.dkmsSaid(log) ?? "dkms.conf does not evaluate")
        default: status = .failed(exitStatus: outcome.exitStatus)
        }
        return SampleBuildResult(
            status: status, outcome: outcome, moduleCopy: copy, moduleInSandbox: inside, log: log, modules: modules, sandbox: configuration)
    }

    /// Copies the sample's directory to `destination` (cp -a). cp takes it
    /// through a symlink of develtrace's naming: the directory's own name
    /// may be any bytes, which a command line of strings would not carry.
    private func copySample(to destination: RawPath) throws {
        let link = scratch.appending(RawPath("\(label)-\(sample.name.hashValue & 0xffff)-link"))
        _ = link.withCString { unlink($0) }
        guard link.withCString({ s in sample.path.withCString { symlink($0, s) } }) == 0 else {
            throw InputError.tool("ln", "\(link): \(Errno(rawValue: errno))")
        }
        defer { _ = link.withCString { unlink($0) } }
        let copied = try HostCommand.run(["cp", "-a", "--", link.description + "/.", destination.description])
        guard copied.status == 0 else { throw InputError.tool("cp", StagedCandidate.firstLine(copied.error)) }
    }

    /// The built modules by name: for a DKMS sample, those DKMS filed under
    /// `NAME/VERSION/RELEASE/ARCH/module/` (its build directory is gone by
    /// then); for a Kbuild sample, every `.ko` of the build directory, by
    /// its path there.
    static func modules(in copy: RawPath, dkms: Bool) -> [String: RawPath] {
        var modules: [String: RawPath] = [:]
        try? DirectoryWalk.walk(copy) { entry in
            let relative = entry.relativePath
            guard entry.isRegularFile, relative.description.hasSuffix(".ko") else { return true }
            if !dkms {
                modules[relative.description] = copy.appending(relative)
            } else if case let parts = relative.bytes.split(separator: UInt8(ascii: "/")), parts.count == 6,
                parts[4].elementsEqual("module".utf8)
            {
                modules[relative.lastComponent.description] = copy.appending(relative)
            }
            return true
        }
        return modules
    }

    /// What DKMS gave as the reason it stopped: the first line of its last
    /// `Error!` message, or of the first `dkms.conf: Error!` (`read_conf`
    /// says there what is wrong with the file, then DKMS only says "Bad conf
    /// file").
    static func dkmsSaid(_ log: String) -> String? {
        let lines = log.split(separator: "\n").map(String.init)
        if let conf = lines.first(where: { $0.hasPrefix("dkms.conf: Error! ") }) {
            return String(conf.dropFirst("dkms.conf: Error! ".count))
        }
        return lines.last(where: { $0.hasPrefix("Error! ") }).map { String($0.dropFirst("Error! ".count)) }
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
