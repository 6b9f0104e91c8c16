@testable import DeveltraceKit

/// Parses `strace -f -xx -y -qq` output into the path accesses develtrace
/// would record: (syscall, absolute path, `ok` or errno name).
///
/// `-xx` prints every string as `\xNN` escapes, so paths come back byte-exact;
/// `-y` decorates directory descriptors and `AT_FDCWD` with their path, which
/// gives the working directory of each call; calls without a dirfd use the
/// last working directory seen for that process (or its parent's).
struct StraceLog {
    struct Access: Hashable, CustomStringConvertible {
        var syscall: String
        var path: RawPath
        var result: String
        var description: String { "\(syscall) \(result) \(path)" }
    }

    private(set) var accesses: [Access] = []
    /// strace's own output, for a failing comparison to show.
    let text: [UInt8]

    /// strace's lines that name one of `syscalls` (as a call or as a
    /// resumption) or a thread's exec ("superseded", "pid changed"), at
    /// most `limit` of them: what a reader of a failed comparison needs.
    func lines(about syscalls: Set<String>, limit: Int = 40) -> [String] {
        let markers = syscalls.flatMap { [" \($0)(", "<... \($0) resumed>"] } + ["superseded by execve", "<pid changed to "]
        return text.split(separator: 10).lazy.map { String(decoding: $0, as: UTF8.self) }
            .filter { line in markers.contains { line.contains($0) } }.prefix(limit).map { $0 }
    }

    init(text: [UInt8], initialDirectory: RawPath) {
        self.text = text
        var cwd: [Int: RawPath] = [:]
        // Each pid's calls strace left "<unfinished ...>", oldest first: a
        // leader can hold its own (clone3, wait4) and a thread's exec at once.
        var unfinished: [Int: [[UInt8]]] = [:]
        var parentCwd: [Int: RawPath] = [:]
        let table = Dictionary(
            PathSyscall.table.flatMap { call in ([call.name] + call.aliases).map { ($0, call) } },
            uniquingKeysWith: { a, _ in a })
        var first = true
        for rawLine in text.split(separator: 10) {
            var line = Array(rawLine)
            guard let space = line.firstIndex(of: 32), let pid = Int(String(decoding: line[..<space], as: UTF8.self)) else { continue }
            var body = Array(line[space...].drop { $0 == 32 })
            if first {
                cwd[pid] = initialDirectory
                first = false
            }
            let unfinishedMarker = Array(" <unfinished ...>".utf8)
            if body.ends(with: unfinishedMarker) {
                unfinished[pid, default: []].append(Array(body.dropLast(unfinishedMarker.count)))
                continue
            }
            // An exec by a thread other than the leader: the call resumes
            // under the leader's pid ("<pid changed to 4729 ...>").
            let changedMarker = Array(" <pid changed to ".utf8)
            if body.ends(with: Array(" ...>".utf8)), let marker = body.lastRange(of: changedMarker),
                let leader = Int(String(decoding: body[marker.upperBound...].prefix { $0 != 32 }, as: UTF8.self))
            {
                unfinished[leader, default: []].append(Array(body[..<marker.lowerBound]))
                continue
            }
            // The same exec, as strace prints it when it saw the leader go
            // first: "1196 +++ superseded by execve in pid 1197 +++", then
            // "1196 <... execve resumed>) = 0". The leader's own unfinished
            // call (the clone3 that made the thread) may still resume after
            // this line, as "<... clone3 resumed> <unfinished ...>) = ?".
            let supersededMarker = Array("+++ superseded by execve in pid ".utf8)
            if body.starts(with: supersededMarker),
                let thread = Int(String(decoding: body[supersededMarker.count...].prefix { $0 != 32 }, as: UTF8.self))
            {
                if let calls = unfinished.removeValue(forKey: thread) { unfinished[pid, default: []] += calls }
                continue
            }
            if body.starts(with: Array("<... ".utf8)), let close = body.firstIndex(of: 62) {
                // "<... NAME resumed>": the call of that name this pid left
                // unfinished; for an exec this pid has none of, while it has
                // another call unfinished, another thread's unfinished exec (in
                // what order strace prints a thread's exec and the leader's own
                // calls depends on timing: CI lost one `execve /bin/cat` of the
                // `multi` fixture under load, as the leader's `futex` would
                // here).
                let name = Array(body[5...].prefix { $0 != 32 }) + [40]
                var call: [UInt8]? = nil
                if let index = unfinished[pid]?.lastIndex(where: { $0.starts(with: name) }) {
                    call = unfinished[pid]?.remove(at: index)
                } else if unfinished[pid]?.isEmpty == false, name.starts(with: Array("execve".utf8)),
                    let thread = unfinished.first(where: { $0.key != pid && $0.value.contains { $0.starts(with: name) } })?.key,
                    let index = unfinished[thread]?.lastIndex(where: { $0.starts(with: name) })
                {
                    call = unfinished[thread]?.remove(at: index)
                }
                if unfinished[pid]?.isEmpty == true { unfinished[pid] = nil }
                body = (call ?? []) + body[(close + 1)...]
            }
            line = body
            guard let open = line.firstIndex(of: 40) else { continue }
            let name = String(decoding: line[..<open], as: UTF8.self)
            // strace pads short calls: ")          = 0".
            guard let equals = line.lastRange(of: Array(" = ".utf8)) else { continue }
            var close = equals.lowerBound
            while close > open && line[close - 1] == 32 { close -= 1 }
            guard close > open, line[close - 1] == 41 else { continue }
            let arguments = Self.splitArguments(Array(line[(open + 1)..<(close - 1)]))
            let resultText = Array(line[equals.upperBound...])
            let result: String
            if resultText.starts(with: Array("-1 ".utf8)) {
                result = String(decoding: resultText.dropFirst(3).prefix { $0 != 32 }, as: UTF8.self)
            } else if resultText.first == 63 {
                continue // "= ?": the process went away mid-call
            } else {
                result = "ok"
            }

            // Working directory bookkeeping.
            if let decorated = arguments.first.flatMap(Self.decoration), arguments.first?.starts(with: Array("AT_FDCWD".utf8)) == true {
                cwd[pid] = decorated
            }
            if cwd[pid] == nil { cwd[pid] = parentCwd[pid] ?? initialDirectory }
            if ["clone", "clone3", "fork", "vfork"].contains(name),
                let child = Int(String(decoding: resultText.prefix { $0 != 32 }, as: UTF8.self))
            {
                parentCwd[child] = cwd[pid]
            }

            guard let call = table[name] else { continue }
            for operand in call.operands {
                guard operand.pathArgument < arguments.count, let path = Self.string(arguments[operand.pathArgument]) else { continue }
                if let flagsIndex = call.atFlagsArgument, flagsIndex < arguments.count,
                    String(decoding: arguments[flagsIndex], as: UTF8.self).contains("AT_EMPTY_PATH")
                {
                    // Documented exception: the filter does not stop on
                    // fstat-style calls (AT_EMPTY_PATH); empty paths name no file.
                    if call.filterSkipsEmptyPathFlag || (path.isEmpty && name != "execveat") { continue }
                }
                var base = cwd[pid] ?? initialDirectory
                if let dirfdIndex = operand.dirfdArgument, let decorated = Self.decoration(arguments[dirfdIndex]) {
                    base = decorated
                }
                accesses.append(Access(syscall: call.name, path: path.absolute(relativeTo: base), result: result))
            }
            if name == "chdir" && result == "ok", let path = arguments.first.flatMap(Self.string) {
                cwd[pid] = path.absolute(relativeTo: cwd[pid] ?? initialDirectory)
            }
        }
    }

    /// Top-level comma-separated arguments (quotes, brackets, braces, angle
    /// brackets and parentheses nest).
    static func splitArguments(_ text: [UInt8]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var depth = 0
        var inString = false
        var current: [UInt8] = []
        var i = 0
        while i < text.count {
            let c = text[i]
            if inString {
                current.append(c)
                if c == 92, i + 1 < text.count {
                    current.append(text[i + 1])
                    i += 2
                    continue
                }
                if c == 34 { inString = false }
            } else if c == 34 {
                inString = true
                current.append(c)
            } else if c == 91 || c == 123 || c == 40 || c == 60 {
                depth += 1
                current.append(c)
            } else if c == 93 || c == 125 || c == 41 || c == 62 {
                depth -= 1
                current.append(c)
            } else if c == 44 && depth == 0 {
                result.append(current)
                current = []
                if i + 1 < text.count && text[i + 1] == 32 { i += 1 }
            } else {
                current.append(c)
            }
            i += 1
        }
        if !current.isEmpty { result.append(current) }
        return result
    }

    /// `"\x2f\x65..."` → bytes; nil for anything that is not a string (NULL).
    static func string(_ argument: [UInt8]) -> RawPath? {
        guard argument.first == 34, let end = argument.lastIndex(of: 34), end > 0 else { return nil }
        return RawPath(bytes: unescape(Array(argument[1..<end])))
    }

    /// `3<\x2f…>` or `AT_FDCWD<\x2f…>` → the decorated path.
    static func decoration(_ argument: [UInt8]) -> RawPath? {
        guard let open = argument.firstIndex(of: 60), argument.last == 62 else { return nil }
        return RawPath(bytes: unescape(Array(argument[(open + 1)..<(argument.count - 1)])))
    }

    static func unescape(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < text.count {
            if text[i] == 92, i + 3 < text.count, text[i + 1] == 120,
                let value = UInt8(String(decoding: text[(i + 2)..<(i + 4)], as: UTF8.self), radix: 16)
            {
                out.append(value)
                i += 4
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }

    func lastRange(of needle: [UInt8]) -> Range<Int>? {
        guard count >= needle.count else { return nil }
        var i = count - needle.count
        while i >= 0 {
            if Array(self[i..<(i + needle.count)]) == needle { return i..<(i + needle.count) }
            i -= 1
        }
        return nil
    }
}
