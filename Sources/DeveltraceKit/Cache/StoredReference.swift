import Foundation
import SystemPackage

/// A reference build as the cache keeps it: its key, what it observed
/// (trace, processes, log, status) and the fingerprints of the host files it
/// depended on. Its modules lie beside it, as files. Encoded as JSON.
struct StoredReference: Codable {
    /// Bumped when the encoding changes: older entries are misses.
    static let format = 2

    struct Access: Codable {
        var seq: Int
        var pid: Int32
        var process: Int32
        var syscall: String
        var path: RawPath
        var raw: RawPath?
        var intent: AccessIntent
        var result: String
    }

    struct Process: Codable {
        /// `TracedProcess.id` when it is not the pid (absent otherwise).
        var id: Int32?
        var pid: Int32
        var parent: Int32
        var argv: [RawPath]
        var executable: RawPath?
        var exit: Int32?
    }

    struct Write: Codable {
        var path: RawPath
        var kind: CapturedWrite.Kind
        var directory: Bool
    }

    struct Input: Codable {
        var path: RawPath
        var fingerprint: FileFingerprint
    }

    var format = StoredReference.format
    var key: String
    /// `Status.summary`.
    var status: String
    var exitStatus: Int32
    var termination: String
    var accesses: [Access]
    var processes: [Process]
    var writes: [Write]
    var notes: [String]
    var commandPid: Int32
    var log: String
    var moduleInSandbox: RawPath
    /// Module names (the result's keys), in the order of their files
    /// `module-0.ko`, `module-1.ko`, ….
    var modules: [String]
    var inputs: [Input]
    /// When it was built (seconds since 1970), for the report.
    var built: Double
}

extension StoredReference {
    /// `result` as stored (only completed builds are: a timed-out or
    /// interrupted one says nothing about the next run).
    init?(key: String, result: SampleBuildResult, inputs: [Input], built: Date) {
        guard result.outcome.termination == .completed, result.outcome.launchFailure == nil else { return nil }
        let outcome = result.outcome
        self.key = key
        status = Self.encode(result.status)
        exitStatus = outcome.exitStatus
        termination = "completed"
        accesses = outcome.accesses.map { Access($0) }
        processes = outcome.processes.values.sorted { $0.id < $1.id }.map { Process($0) }
        writes = outcome.writes.map(Write.init)
        notes = outcome.notes
        commandPid = outcome.commandPid
        log = result.log
        moduleInSandbox = result.moduleInSandbox
        modules = result.modules.keys.sorted()
        self.inputs = inputs
        self.built = built.timeIntervalSince1970
    }

    /// The build result again, its modules at `modules` (name → file).
    func result(moduleCopy: RawPath, modules files: [String: RawPath]) -> SampleBuildResult? {
        guard let status = Self.decode(status) else { return nil }
        guard let decoded = Self.decode(accesses) else { return nil }
        let outcome = TraceOutcome(
            accesses: decoded, processes: Self.decode(processes), exitStatus: exitStatus, termination: .completed,
            writes: writes.map(\.decoded), notes: notes,
            launchFailure: nil, commandPid: commandPid,
            statistics: TraceStatistics(seccompStops: 0, syscallExitStops: 0, otherStops: 0, seconds: 0))
        return SampleBuildResult(
            status: status, outcome: outcome, moduleCopy: moduleCopy, moduleInSandbox: moduleInSandbox, log: log, modules: files,
            reused: Date(timeIntervalSince1970: built))
    }

    /// Accesses read back; nil when a result does not parse.
    static func decode(_ accesses: [Access]) -> [FileAccess]? {
        var decoded: [FileAccess] = []
        decoded.reserveCapacity(accesses.count)
        for access in accesses {
            guard let result = AccessResult(name: access.result) else { return nil }
            decoded.append(
                FileAccess(
                    pid: access.pid, process: access.process, syscall: access.syscall, path: access.path,
                    rawPath: access.raw ?? access.path, intent: access.intent, result: result, sequence: access.seq))
        }
        return decoded
    }

    /// Processes read back, by pid.
    static func decode(_ processes: [Process]) -> [Int32: TracedProcess] {
        Dictionary(
            processes.map {
                (
                    $0.id ?? $0.pid,
                    TracedProcess(
                        id: $0.id ?? $0.pid, pid: $0.pid, parent: $0.parent, argv: $0.argv, executable: $0.executable, exitStatus: $0.exit)
                )
            }, uniquingKeysWith: { first, _ in first })
    }

    /// The status as the report writes it (`Status.summary`).
    static func encode(_ status: SampleBuildResult.Status) -> String { status.summary }

    /// `Status.summary` read back, details included.
    static func decode(_ summary: String) -> SampleBuildResult.Status? {
        switch SampleBuildResult.State(summary: summary) {
        case .succeeded: return .succeeded
        case .timedOut: return .timedOut
        case .skipped: return .skipped(reason: String(summary.dropFirst("skipped: ".count)))
        case .brokenConfiguration: return .brokenConfiguration(String(summary.dropFirst("broken dkms.conf: ".count)))
        case .failed:
            guard summary.hasPrefix("failed (exit "), summary.hasSuffix(")") else { return nil }
            return Int32(summary.dropFirst("failed (exit ".count).dropLast()).map { .failed(exitStatus: $0) }
        }
    }
}

extension StoredReference.Access {
    /// `access` as stored, its pids through `pid` (records renumber them).
    init(_ access: FileAccess, pid: (Int32) -> Int32 = { $0 }) {
        self.init(
            seq: access.sequence, pid: pid(access.pid), process: pid(access.process), syscall: access.syscall, path: access.path,
            raw: access.rawPath == access.path ? nil : access.rawPath, intent: access.intent, result: access.result.description)
    }
}

extension StoredReference.Process {
    init(_ process: TracedProcess, pid: (Int32) -> Int32 = { $0 }) {
        self.init(
            id: process.id == process.pid ? nil : pid(process.id), pid: pid(process.pid), parent: pid(process.parent), argv: process.argv,
            executable: process.executable, exit: process.exitStatus)
    }
}

extension StoredReference.Write {
    init(_ write: CapturedWrite) { self.init(path: write.path, kind: write.kind, directory: write.isDirectory) }
    var decoded: CapturedWrite { CapturedWrite(path: path, kind: kind, isDirectory: directory) }
}

/// Paths in stored JSON: the text when it is UTF-8 (and cannot be taken for
/// the other form), else `b64:` and the bytes in base64. Byte for byte
/// either way.
extension RawPath: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if text.hasPrefix("b64:") {
            guard let data = Data(base64Encoded: String(text.dropFirst(4))) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad base64 path"))
            }
            self.init(bytes: Array(data))
        } else {
            self.init(text)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let text = utf8String, !text.hasPrefix("b64:") {
            try container.encode(text)
        } else {
            try container.encode("b64:" + Data(bytes).base64EncodedString())
        }
    }
}
