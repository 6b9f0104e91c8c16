/// A bug report for a distribution's tracker, in Markdown (GitHub, GitLab,
/// Debian's and Fedora's trackers render it): title, summary by class and
/// severity, a table of missing files with their evidence, the other
/// findings, the environment and how to reproduce.
struct MarkdownReport {
    let result: CheckResult

    /// The package the report is about: the candidate's packages, or the
    /// candidate path.
    var subject: String {
        let names = result.inputs.packages.map { "\($0.name) \($0.version)" }
        return names.isEmpty ? result.inputs.candidates.joined(separator: ", ") : names.joined(separator: ", ")
    }

    func render() -> String {
        var out = ""
        let missing = result.findings.filter { $0.class == .missing }
        let title = missing.isEmpty ? "no missing files" : "\(missing.count) missing file\(missing.count == 1 ? "" : "s")"
        out += "# \(subject): \(title) (kernel \(result.inputs.kernelRelease))\n\n"
        out += "Found by develtrace \(result.develtraceVersion): \(result.samples.count) sample module"
        out += "\(result.samples.count == 1 ? " was" : "s were") built against the full kernel build tree and against the package, "
        out += "and every file the builds used was traced.\n\n"
        for warning in result.warnings { out += "> **Warning:** \(escape(warning))\n\n" }
        if let baseline = result.baseline {
            let known = result.findings.filter { $0.baseline == .known }.count
            let new = result.findings.filter { $0.baseline == .new && $0.class != .unused }.count
            out += "Against the baseline `\(code(baseline.source))`: **\(new) new**, \(known) known, \(baseline.fixed.count) fixed.\n\n"
        }

        out += "## Summary\n\n| class | fatal | divergent | benign |\n| --- | ---: | ---: | ---: |\n"
        for findingClass in FindingClass.allCases {
            let findings = result.findings.filter { $0.class == findingClass }
            guard !findings.isEmpty else { continue }
            let counts = [Severity.fatal, .divergent, .benign].map { severity in findings.filter { $0.severity == severity }.count }
            out += "| \(findingClass.rawValue) | \(counts[0]) | \(counts[1]) | \(counts[2]) |\n"
        }
        if result.findings.isEmpty { out += "| (none) | 0 | 0 | 0 |\n" }
        out += "\n"

        if !missing.isEmpty {
            out += "## Missing files\n\n"
            let withBaseline = result.baseline != nil
            out += "| file | severity | round | sample | process | syscall | errno |\(withBaseline ? " baseline |" : "")\n"
            out += "| --- | --- | ---: | --- | --- | --- | --- |\(withBaseline ? " --- |" : "")\n"
            for finding in missing {
                let evidence = finding.evidence.first { $0.build == "candidate" } ?? finding.evidence.first
                let command = evidence.map { shortCommand($0.argv) } ?? ""
                out += "| `\(code(finding.path))` | \(finding.severity.rawValue) | \(finding.round) | "
                out += "\(escape(evidence?.sample ?? finding.samples.joined(separator: ", "))) | "
                out += "\(command.isEmpty ? "" : "`\(code(command))`") | \(evidence?.syscall ?? "") | \(evidence?.errno ?? "") |"
                out += withBaseline ? " \(finding.baseline?.rawValue ?? "") |\n" : "\n"
            }
            out += "\n"
        }

        if !missing.isEmpty {
            out += "<details><summary>Evidence: the processes that wanted each missing file</summary>\n\n"
            for finding in missing {
                out += "**`\(code(finding.path))`**\n\n"
                for evidence in finding.evidence.prefix(3) {
                    let build = evidence.build == "reference" ? "reference build" : "candidate build, round \(evidence.round)"
                    out += "- \(escape(evidence.sample)), \(build): pid \(evidence.pid) `\(evidence.syscall)` \(evidence.errno) "
                    out += "`\(code(evidence.path))`\n\n"
                    out += "  ```\n  \(commandLine(evidence.argv).replacingOccurrences(of: "\n", with: " "))\n  ```\n"
                }
                out += "\n"
            }
            out += "</details>\n\n"
        }

        let others = result.findings.filter { $0.class != .missing && $0.class != .unused }
        if !others.isEmpty {
            out += "## Other findings\n\n"
            for finding in others {
                out += "- **\(finding.class.rawValue)** `\(code(finding.path))` (\(escape(finding.severityAndSamples)))"
                if let detail = finding.detail { out += ": \(escape(detail))" }
                if finding.baseline == .known { out += " — known" }
                out += "\n"
            }
            out += "\n"
        }

        if let baseline = result.baseline, !baseline.fixed.isEmpty {
            out += "## Fixed since the baseline\n\n"
            for entry in baseline.fixed { out += "- `\(code(entry.description))`\n" }
            out += "\n"
        }

        out += "## Samples\n\n| sample | kind | reference build | candidate build | rounds |\n| --- | --- | --- | --- | ---: |\n"
        for sample in result.samples {
            out +=
                "| \(escape(sample.name)) | \(sample.kind) | \(escape(sample.reference))\(sample.referenceRecorded.map { " (recorded \($0))" } ?? "") | \(escape(sample.candidate)) | \(sample.rounds) |\n"
        }
        out += "\n## Environment\n\n"
        out += "- kernel release: `\(code(result.inputs.kernelRelease))`\n"
        out += "- full build tree: `\(code(result.inputs.buildTree))`\n"
        for package in result.inputs.packages {
            out +=
                "- package: `\(code(package.name))` \(escape(package.version))\(package.source.map { " (source \(escape($0)))" } ?? "")\n"
        }
        out += "- kbuild directory: `\(code(result.inputs.kbuildDir))` (\(escape(result.inputs.layout)))\n"
        if let compiler = result.inputs.compiler { out += "- compiler: \(escape(compiler))\n" }
        if let dkms = result.inputs.dkms { out += "- dkms: \(escape(dkms))\n" }
        out += "- develtrace: \(result.develtraceVersion)\n\n"
        out += "## How to reproduce\n\n```sh\n\(commandLine(result.inputs.command))\n```\n"
        return out
    }

    /// A command line short enough for a table cell: the program's name and,
    /// for a compiler or linker, the file it was working on (the whole
    /// command is in the evidence section).
    func shortCommand(_ argv: [String]) -> String {
        guard let program = argv.first else { return "" }
        let name = program.split(separator: "/").last.map(String.init) ?? program
        let whole = commandLine([name] + argv.dropFirst())
        if whole.count <= 72 { return whole }
        let optionsWithValue: Set<String> = [
            "-o", "-include", "-MMD", "-MF", "-MT", "-I", "-D", "-dumpdir", "-dumpbase", "-dumpbase-ext", "-T",
        ]
        let sourceSuffixes = [".c", ".S", ".s", ".lds", ".o", ".ko", ".mod", ".h", ".sh", ".symvers"]
        var previous = ""
        for word in argv.dropFirst() {
            defer { previous = word }
            if word.hasPrefix("-") || optionsWithValue.contains(previous) { continue }
            if sourceSuffixes.contains(where: { word.hasSuffix($0) }) { return commandLine([name]) + " … " + commandLine([word]) }
        }
        return String(whole.prefix(70)) + " …"
    }

    /// A shell command line, quoted where a word needs it.
    func commandLine(_ argv: [String]) -> String {
        argv.map { word in
            if !word.isEmpty && word.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }) { return word }
            return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }

    /// Text in a table cell or list item: pipes and angle brackets escaped.
    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }

    /// Text inside backticks: no backticks, pipes escaped (GFM tables).
    func code(_ text: String) -> String {
        text.replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "|", with: "\\|")
    }
}
