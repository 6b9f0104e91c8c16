import Foundation

/// Output formats of `develtrace check`.
public enum CheckFormat: String, Sendable, CaseIterable {
    /// For people: summary first, findings by class and directory.
    case text
    /// The whole result (schemaVersion 1), stable ordering.
    case json
    /// A bug report to paste into a distribution's tracker.
    case markdown
    /// Tree-relative paths, one per line, of the classes asked for.
    case list
    /// JUnit XML for CI test reporters: a suite per sample, a case per class.
    case junit
}

/// Renders a `CheckResult` for people (text) or programs (JSON).
public struct CheckReportRenderer: Sendable {
    public var format: CheckFormat
    /// ANSI colour for the text format (a terminal).
    public var colour: Bool
    /// For `list`: the classes listed.
    public var classes: Set<FindingClass>
    /// For `list`: a directory to put before each path (the installed
    /// location, `/usr/src/kernels/R`).
    public var prefix: String?

    public init(format: CheckFormat, colour: Bool = false, classes: Set<FindingClass> = [.missing], prefix: String? = nil) {
        self.format = format
        self.colour = colour
        self.classes = classes
        self.prefix = prefix
    }

    public func render(_ result: CheckResult) -> String {
        switch format {
        case .json: return json(result)
        case .text: return text(result)
        case .markdown: return MarkdownReport(result: result).render()
        case .list: return list(result)
        case .junit: return JUnitReport(result: result).render()
        }
    }

    /// Sorted tree-relative paths (with `prefix`), one per line: ready for
    /// `cp --parents`, a `%files` list or a Debian `.install` file.
    public func list(_ result: CheckResult) -> String {
        let paths = Set(
            result.findings.filter { classes.contains($0.class) }.map { finding -> String in
                guard let prefix, !prefix.isEmpty else { return finding.path }
                return prefix.hasSuffix("/") ? prefix + finding.path : prefix + "/" + finding.path
            })
        return paths.sorted().map { $0 + "\n" }.joined()
    }

    /// Stable JSON: sorted keys, sorted arrays (see `CheckResult`).
    public func json(_ result: CheckResult) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(result) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private func paint(_ text: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    public func text(_ result: CheckResult) -> String {
        var out = ""
        let counts = FindingClass.allCases.compactMap { c -> String? in
            guard let n = result.summary[c.rawValue], n > 0 else { return nil }
            return "\(n) \(c.rawValue)"
        }
        let missing = result.summary[FindingClass.missing.rawValue] ?? 0
        let headline = missing == 0 ? "no missing files" : "\(missing) missing file\(missing == 1 ? "" : "s")"
        let rest = counts.filter { !$0.hasSuffix(" missing") }
        out += paint("develtrace check: \(headline)", missing == 0 ? "1;32" : "1;31")
        out += rest.isEmpty ? "" : "; " + rest.joined(separator: ", ")
        out += " (kernel \(result.inputs.kernelRelease), \(result.samples.count) sample\(result.samples.count == 1 ? "" : "s"))\n"
        if let baseline = result.baseline {
            let known = result.findings.filter { $0.baseline == .known }.count
            let new = result.findings.filter { $0.baseline == .new && $0.class != .unused }.count
            out += "against the baseline \(baseline.source): \(new) new, \(known) known, \(baseline.fixed.count) fixed\n"
        }
        for warning in result.warnings { out += paint("warning: ", "1;33") + warning + "\n" }

        for findingClass in FindingClass.allCases {
            let findings = result.findings.filter { $0.class == findingClass }
            guard !findings.isEmpty else { continue }
            out += "\n" + paint("\(findingClass.rawValue) (\(findings.count))", "1") + "\n"
            var byDirectory: [String: [Finding]] = [:]
            for finding in findings {
                let directory = (finding.path as NSString).deletingLastPathComponent
                byDirectory[directory.isEmpty ? "." : directory, default: []].append(finding)
            }
            for directory in byDirectory.keys.sorted() {
                out += "  \(directory)/\n"
                for finding in byDirectory[directory]! {
                    let name = (finding.path as NSString).lastPathComponent
                    out += "    \(name)  [\(finding.severityAndSamples)]"
                    if let detail = finding.detail { out += " — \(detail)" }
                    if finding.baseline == .known { out += paint(" (known)", "2") }
                    out += "\n"
                    for evidence in finding.evidence.prefix(3) {
                        let command = evidence.argv.prefix(6).joined(separator: " ") + (evidence.argv.count > 6 ? " …" : "")
                        let build = evidence.build == "reference" ? "reference" : "candidate round \(evidence.round)"
                        out +=
                            "      \(evidence.sample) \(build): pid \(evidence.pid) \(evidence.syscall) \(evidence.errno) \(evidence.path)\n"
                        if !command.isEmpty { out += "        by: \(command)\n" }
                    }
                }
            }
        }

        if let baseline = result.baseline, !baseline.fixed.isEmpty {
            out += "\n" + paint("fixed since the baseline (\(baseline.fixed.count))", "1") + "\n"
            for entry in baseline.fixed { out += "  \(entry)\n" }
        }

        out += "\n" + paint("samples", "1") + "\n"
        for sample in result.samples {
            let identical = sample.modules.values.allSatisfy(\.isIdentical)
            let modules =
                sample.modules.isEmpty ? "" : (identical ? "; modules identical to the reference" : "; modules differ from the reference")
            let candidate =
                sample.rounds == 0
                ? "\(sample.candidate)"
                : "\(sample.candidate) after \(sample.rounds) round\(sample.rounds == 1 ? "" : "s")"
                    + (sample.severityRebuilds.map { " and \($0) rebuild\($0 == 1 ? "" : "s") holding files out" } ?? "")
                    + (sample.dependencyRebuilds.map { ", \($0) hiding system packages" } ?? "")
            let recorded = sample.referenceRecorded.map { " (recorded \($0))" } ?? ""
            out += "  \(sample.name) (\(sample.kind)): reference \(sample.reference)\(recorded); candidate \(candidate)\(modules)\n"
            for (name, comparison) in sample.modules.sorted(by: { $0.key < $1.key }) where !comparison.isIdentical {
                var parts: [String] = []
                if !comparison.onlyInReference.isEmpty {
                    parts.append("only in reference: \(comparison.onlyInReference.joined(separator: " "))")
                }
                if !comparison.onlyInCandidate.isEmpty {
                    parts.append("only in candidate: \(comparison.onlyInCandidate.joined(separator: " "))")
                }
                if !comparison.differing.isEmpty { parts.append("differing: \(comparison.differing.joined(separator: " "))") }
                if let signature = comparison.signature, signature.count == 2 {
                    parts.append("signature: \(signature[0]) in the reference, \(signature[1]) in the candidate")
                }
                out += "    \(name): \(parts.joined(separator: "; "))\n"
            }
            if let log = sample.log {
                let tail = log.split(separator: "\n").suffix(8).map { "    | \($0)" }.joined(separator: "\n")
                out += tail + "\n"
            }
        }
        if result.unusedFiles > 0 && !result.findings.contains(where: { $0.class == .unused }) {
            out += "\n\(result.unusedFiles) candidate files were used by no sample (--list-unused lists them)\n"
        }
        if let unowned = result.hostFilesNotOwned, !unowned.isEmpty {
            let shown = unowned.prefix(8).joined(separator: ", ") + (unowned.count > 8 ? ", …" : "")
            out += "\n\(unowned.count) host files the candidate builds used are owned by no package: \(shown)\n"
        }
        out +=
            "\ncandidate: \(result.inputs.candidates.joined(separator: " ")) (kbuild dir \(result.inputs.kbuildDir); \(result.inputs.layout))\n"
        for package in result.inputs.packages { out += "  \(package.name) \(package.version)\n" }
        return out
    }
}
