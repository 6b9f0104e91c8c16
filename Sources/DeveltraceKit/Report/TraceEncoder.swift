/// Writes a trace as JSON Lines or as text.
///
/// JSON Lines: one object per line, each with a `kind`:
/// - `access`: `seq`, `pid`, `process`, `syscall`, `path`, `intent`, `result`
///   (`ok` or the errno name), and `raw` when the call named the path
///   differently (relative, with `.` or `//`);
/// - `process`: `pid`, `parent`, `argv`, `exit`, and `id` when a pid came
///   back in the trace for another process (a long build wraps around
///   `pid_max`): then that process's accesses and children name it by `id`
///   (a number above any pid), everywhere else `process` and `parent` are
///   pids;
/// - `write`: `path`, `change` (`created`, `modified`, `deleted`), `directory`;
/// - `note`, and a last `exit` line: `status`, `termination`.
///
/// Paths that are not valid UTF-8 are written as a string with U+FFFD in
/// place of the bad bytes plus a `<key>Base64` member with the exact bytes.
public enum TraceFormat: String, Sendable, CaseIterable {
    case text, jsonl
}

public struct TraceEncoder: Sendable {
    public var format: TraceFormat

    public init(format: TraceFormat) { self.format = format }

    public func encode(_ access: FileAccess) -> [UInt8] {
        switch format {
        case .jsonl:
            var json = JSONText()
            json.raw("{\"kind\":\"access\",\"seq\":")
            json.integer(access.sequence)
            json.raw(",\"pid\":")
            json.integer(access.pid)
            json.raw(",\"process\":")
            json.integer(access.process)
            json.raw(",\"syscall\":")
            json.string(access.syscall)
            json.raw(",")
            json.path("path", access.path)
            if access.rawPath != access.path {
                json.raw(",")
                json.path("raw", access.rawPath)
            }
            json.raw(",\"intent\":\"")
            json.raw(access.intent.rawValue)
            json.raw("\",\"result\":\"")
            json.raw(access.result.description)
            json.raw("\"}\n")
            return json.bytes
        case .text:
            return Array("\(access.pid) \(access.syscall) \(access.intent.rawValue) \(access.result) \(access.path)\n".utf8)
        }
    }

    public func encodeEnd(_ outcome: TraceOutcome) -> [UInt8] {
        var out: [UInt8] = []
        switch format {
        case .jsonl:
            for process in outcome.processes.values.sorted(by: { $0.id < $1.id }) {
                var json = JSONText()
                json.raw("{\"kind\":\"process\",\"pid\":\(process.pid),")
                if process.id != process.pid { json.raw("\"id\":\(process.id),") }
                json.raw("\"parent\":\(process.parent),\"argv\":[")
                for (i, argument) in process.argv.enumerated() {
                    if i > 0 { json.raw(",") }
                    json.string(argument.bytes)
                }
                json.raw("]")
                if let status = process.exitStatus { json.raw(",\"exit\":\(status)") }
                json.raw("}\n")
                out += json.bytes
            }
            for write in outcome.writes {
                var json = JSONText()
                json.raw("{\"kind\":\"write\",")
                json.path("path", write.path)
                json.raw(",\"change\":\"\(write.kind.rawValue)\",\"directory\":\(write.isDirectory)}\n")
                out += json.bytes
            }
            for note in outcome.notes {
                var json = JSONText()
                json.raw("{\"kind\":\"note\",\"text\":")
                json.string(note)
                json.raw("}\n")
                out += json.bytes
            }
            out += Array("{\"kind\":\"exit\",\"status\":\(outcome.exitStatus),\"termination\":\"\(outcome.termination.name)\"}\n".utf8)
        case .text:
            for write in outcome.writes {
                out += Array("write \(write.kind.rawValue)\(write.isDirectory ? " directory" : "") \(write.path)\n".utf8)
            }
            for note in outcome.notes { out += Array("note \(note)\n".utf8) }
            let failures = outcome.accesses.lazy.filter { !$0.result.isOK }.count
            out += Array(
                "# \(outcome.accesses.count) accesses (\(failures) failed) by \(outcome.processes.count) processes; \(outcome.writes.count) writes caught; exit status \(outcome.exitStatus) (\(outcome.termination.name))\n"
                    .utf8)
        }
        return out
    }
}

extension Termination {
    public var name: String {
        switch self {
        case .completed: return "completed"
        case .timedOut: return "timeout"
        case .interrupted: return "interrupted"
        }
    }
}
