import Foundation

/// Debian control data (`/var/lib/dpkg/status`, a `.deb`'s `control`, an
/// archive's `Packages`): paragraphs of `Field: value` lines separated by
/// blank lines, a value continued on lines that start with a space or tab.
enum ControlParagraphs {
    /// The paragraphs of `text`, each field name as written (Debian field
    /// names are case-insensitive; dpkg writes them capitalised).
    static func parse(_ text: String) -> [[String: String]] {
        var paragraphs: [[String: String]] = []
        var current: [String: String] = [:]
        var field: String? = nil
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                if !current.isEmpty { paragraphs.append(current) }
                current = [:]
                field = nil
            } else if line.first == " " || line.first == "\t" {
                if let field { current[field, default: ""] += "\n" + line.trimmingCharacters(in: .whitespaces) }
            } else if let colon = line.firstIndex(of: ":") {
                let name = String(line[..<colon])
                current[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                field = name
            }
        }
        if !current.isEmpty { paragraphs.append(current) }
        return paragraphs
    }
}
