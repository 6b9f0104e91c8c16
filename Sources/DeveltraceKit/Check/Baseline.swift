import Foundation

/// Findings a gate already knows about: a previous result (`--baseline
/// OLD.json`) or an allowlist file. Known findings are reported but do not
/// fail the gate; baseline entries that match nothing any more are reported
/// as fixed.
///
/// The allowlist is one entry per line: `PATH` (any class) or `CLASS PATH`,
/// where `PATH` is tree-relative and may use shell wildcards (`*` also
/// crosses `/`). `#` starts a comment line; blank lines are ignored.
///
///     # Debian ships module.lds under arch/x86 (benign)
///     relocated scripts/module.lds
///     extra .kernelvariables
public struct Baseline: Sendable {
    /// One thing the baseline knows.
    public struct Entry: Sendable, Hashable, Codable, CustomStringConvertible {
        /// nil: any class (an allowlist line without one).
        public var `class`: FindingClass?
        /// A tree-relative path or, from an allowlist, a pattern.
        public var path: String
        /// The severity it had in the baseline result.
        public var severity: Severity?

        public init(class findingClass: FindingClass?, path: String, severity: Severity? = nil) {
            self.class = findingClass
            self.path = path
            self.severity = severity
        }

        public var description: String { (self.class.map { "\($0.rawValue) " } ?? "") + path }

        func matches(_ finding: Finding, pattern: Bool) -> Bool {
            if let findingClass = self.class, findingClass != finding.class { return false }
            if !pattern { return path == finding.path }
            return fnmatch(path, finding.path, 0) == 0
        }
    }

    /// The file it came from, as given.
    public var source: String
    public var entries: [Entry]
    /// Entries are shell patterns (an allowlist), not exact paths.
    public var isPattern: Bool

    public init(source: String, entries: [Entry], isPattern: Bool) {
        self.source = source
        self.entries = entries
        self.isPattern = isPattern
    }

    /// Reads a saved result (JSON, `{` first) or an allowlist.
    public init(contentsOf path: String) throws(InputError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path, what: "baseline") }
        let text = String(decoding: data, as: UTF8.self)
        if text.drop(while: \.isWhitespace).first == "{" {
            let old: CheckResult
            do {
                old = try JSONDecoder().decode(CheckResult.self, from: data)
            } catch {
                throw .badBaseline(path: path, reason: "not a develtrace check result (JSON, schemaVersion \(CheckResult.schemaVersion))")
            }
            self.init(
                source: path,
                entries: old.findings.filter { $0.class != .unused }.map { Entry(class: $0.class, path: $0.path, severity: $0.severity) },
                isPattern: false)
            return
        }
        var entries: [Entry] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            switch words.count {
            case 1: entries.append(Entry(class: nil, path: words[0]))
            case 2:
                guard let findingClass = FindingClass(rawValue: words[0]) else {
                    throw .badBaseline(
                        path: path,
                        reason:
                            "line \(number + 1): \(words[0]) is not a finding class (\(FindingClass.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                entries.append(Entry(class: findingClass, path: words[1]))
            default:
                throw .badBaseline(path: path, reason: "line \(number + 1): expected PATH or CLASS PATH, got \(words.count) words")
            }
        }
        self.init(source: path, entries: entries, isPattern: true)
    }

    /// Whether the baseline knows this finding.
    public func knows(_ finding: Finding) -> Bool {
        entries.contains { $0.matches(finding, pattern: isPattern) }
    }

    /// Entries no finding matches any more.
    public func fixed(by findings: [Finding]) -> [Entry] {
        entries.filter { entry in !findings.contains { entry.matches($0, pattern: isPattern) } }
            .sorted { ($0.class?.rawValue ?? "", $0.path) < ($1.class?.rawValue ?? "", $1.path) }
    }
}
