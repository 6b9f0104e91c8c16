/// What makes `develtrace check` exit 1: findings matching any of its rules.
public struct Gate: Sendable, Hashable {
    /// A class, and the least severity that fails (nil: any severity).
    public struct Rule: Sendable, Hashable, CustomStringConvertible {
        public var findingClass: FindingClass
        public var minimumSeverity: Severity?

        /// Parses `CLASS` or `CLASS:SEVERITY` (`missing`, `different:divergent`).
        public init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard let first = parts.first, let findingClass = FindingClass(rawValue: first) else { return nil }
            self.findingClass = findingClass
            if parts.count == 2 {
                guard let severity = Severity(rawValue: parts[1]) else { return nil }
                minimumSeverity = severity
            } else {
                minimumSeverity = nil
            }
        }

        public init(_ findingClass: FindingClass, _ minimumSeverity: Severity? = nil) {
            self.findingClass = findingClass
            self.minimumSeverity = minimumSeverity
        }

        public func matches(_ finding: Finding) -> Bool {
            finding.class == findingClass && finding.severity >= (minimumSeverity ?? .benign)
        }

        public var description: String { findingClass.rawValue + (minimumSeverity.map { ":\($0.rawValue)" } ?? "") }
    }

    public var rules: [Rule]

    /// The default: any missing file, and any fatal finding but `unused`.
    public static let standard = Gate(
        rules: [.init(.missing)] + FindingClass.allCases.filter { $0 != .missing && $0 != .unused }.map { .init($0, .fatal) })

    public init(rules: [Rule]) { self.rules = rules }

    public func fails(_ findings: [Finding]) -> Bool {
        findings.contains { finding in rules.contains { $0.matches(finding) } }
    }
}
