import Foundation

/// One entry of a Debian relationship field (`Depends`, `Pre-Depends`):
/// alternatives separated by `|`, any of which satisfies it.
///
/// `gcc-12 (>= 12.2) | c-compiler, libc6:any` is two relations, the first
/// with two alternatives. Version constraints are kept as written but not
/// evaluated: develtrace asks which installed package a declaration brings
/// in, not whether its version would do (a build with the wrong version
/// fails or differs, and the experiment shows that).
struct PackageRelation: Sendable, Hashable {
    struct Alternative: Sendable, Hashable {
        /// The package (or virtual package) name.
        var name: String
        /// The architecture qualifier after `:` (`any`, `native`, `amd64`).
        var architecture: String?
        /// The version constraint, as written inside the parentheses.
        var version: String?
    }

    var alternatives: [Alternative]

    /// The same relation for a cross build: each alternative's cross
    /// package (`NAME-TRIPLET`) first, then the alternative itself.
    func crossing(_ triplet: String) -> PackageRelation {
        PackageRelation(
            alternatives: alternatives.flatMap { [Alternative(name: "\($0.name)-\(triplet)", version: $0.version), $0] })
    }

    /// Parses a relationship field; architecture restrictions (`[amd64]`)
    /// and build profiles (`<!nocheck>`) are dropped.
    static func parse(_ field: String) -> [PackageRelation] {
        field.split(separator: ",").compactMap { entry in
            let alternatives = entry.split(separator: "|").compactMap { text -> Alternative? in
                var rest = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
                let nameEnd = rest.firstIndex { $0 == " " || $0 == "(" || $0 == "[" || $0 == "<" || $0 == "\n" } ?? rest.endIndex
                var name = String(rest[..<nameEnd])
                rest = rest[nameEnd...]
                guard !name.isEmpty else { return nil }
                var architecture: String? = nil
                if let colon = name.firstIndex(of: ":") {
                    architecture = String(name[name.index(after: colon)...])
                    name = String(name[..<colon])
                }
                var version: String? = nil
                if let open = rest.firstIndex(of: "("), let close = rest[open...].firstIndex(of: ")") {
                    version = rest[rest.index(after: open)..<close].trimmingCharacters(in: .whitespaces)
                }
                return Alternative(name: name, architecture: architecture, version: version)
            }
            return alternatives.isEmpty ? nil : PackageRelation(alternatives: alternatives)
        }
    }
}
