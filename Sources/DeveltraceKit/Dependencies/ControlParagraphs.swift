import Foundation

/// Debian control data (`/var/lib/dpkg/status`, a `.deb`'s `control`, an
/// archive's `Packages`): paragraphs of `Field: value` lines separated by
/// blank lines, a value continued on lines that start with a space or tab.
enum ControlParagraphs {
    /// The paragraphs of `text`, each field name as written (Debian field
    /// names are case-insensitive; dpkg writes them capitalised).
    static func parse(_ text: String) -> [[String: String]] {
        // On the bytes: a host's status file is some 700 KB, and walking it
        // by `Character` took tens of milliseconds of every check.
        let bytes = Array(text.utf8)
        let space = UInt8(ascii: " ")
        let tab = UInt8(ascii: "\t")
        func trimmed(_ slice: ArraySlice<UInt8>) -> Substring {
            var slice = slice
            while let first = slice.first, first == space || first == tab { slice.removeFirst() }
            while let last = slice.last, last == space || last == tab { slice.removeLast() }
            return Substring(decoding: slice, as: UTF8.self)
        }
        var paragraphs: [[String: String]] = []
        var current: [String: String] = [:]
        var field: String? = nil
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 10 { end += 1 }
            let line = bytes[start..<end]
            start = end + 1
            if line.allSatisfy({ $0 == space || $0 == tab }) {
                if !current.isEmpty { paragraphs.append(current) }
                current = [:]
                field = nil
            } else if line.first == space || line.first == tab {
                if let field { current[field, default: ""] += "\n" + trimmed(line) }
            } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                let name = String(decoding: line[..<colon], as: UTF8.self)
                current[name] = String(trimmed(line[(colon + 1)...]))
                field = name
            }
        }
        if !current.isEmpty { paragraphs.append(current) }
        return paragraphs
    }
}
