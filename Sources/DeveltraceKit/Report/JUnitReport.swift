/// JUnit XML, as GitLab, Jenkins and GitHub test reporters read it: one test
/// suite per sample, with one test case for its builds and one per finding
/// class. A class fails a sample's suite when it has a new finding that
/// fails the result's gate (by default any `missing` file, any `fatal`
/// finding); the other findings, and those a baseline knows, are listed in
/// the test case's output. With a baseline, a last suite lists what it
/// fixed.
struct JUnitReport {
    let result: CheckResult

    static let classes: [FindingClass] = [.missing, .relocated, .different, .treeWrite, .unrunnable, .extra, .outside, .dependency]

    func render() -> String {
        var suites: [String] = []
        var totalTests = 0
        var totalFailures = 0
        var totalSkipped = 0
        for sample in result.samples {
            var cases: [String] = []
            var failures = 0
            var skipped = 0
            let suiteName = "develtrace.\(sample.name)"

            // The builds themselves.
            var build = "    <testcase classname=\"\(xml(suiteName))\" name=\"build\">\n"
            if sample.referenceState == .skipped || sample.candidateState == .skipped {
                build +=
                    "      <skipped message=\"\(xml(sample.referenceState == .skipped ? sample.reference : sample.candidate))\"/>\n"
                skipped += 1
            } else if sample.referenceState != .succeeded {
                build += "      <error message=\"reference build \(xml(sample.reference)): the sample is broken\" type=\"broken-sample\">"
                build += xml(sample.log ?? "") + "</error>\n"
                failures += 1
            } else if sample.candidateState != .succeeded {
                build += "      <failure message=\"candidate build \(xml(sample.candidate)) after \(sample.rounds) rounds\" type=\"build\">"
                build += xml(sample.log ?? "") + "</failure>\n"
                failures += 1
            }
            build +=
                "      <system-out>reference \(xml(sample.reference)); candidate \(xml(sample.candidate)) after \(sample.rounds) round\(sample.rounds == 1 ? "" : "s")</system-out>\n"
            build += "    </testcase>\n"
            cases.append(build)

            for findingClass in Self.classes {
                // Each finding as this sample saw it (its own severity).
                let findings = result.findings.filter { $0.class == findingClass && $0.samples.contains(sample.name) }.map {
                    finding in
                    var own = finding
                    own.severity = finding.severityBySample[sample.name] ?? finding.severity
                    return own
                }
                let failing = findings.filter { result.failsGate($0) }
                var testCase = "    <testcase classname=\"\(xml(suiteName))\" name=\"\(findingClass.rawValue)\">\n"
                let lines = findings.map { line($0, sample: sample.name) }.joined(separator: "\n")
                if !failing.isEmpty {
                    testCase += "      <failure message=\"\(failing.count) \(findingClass.rawValue) file\(failing.count == 1 ? "" : "s")\""
                    testCase += " type=\"\(findingClass.rawValue)\">\(xml(lines))</failure>\n"
                    failures += 1
                } else if !findings.isEmpty {
                    testCase += "      <system-out>\(xml(lines))</system-out>\n"
                }
                testCase += "    </testcase>\n"
                cases.append(testCase)
            }
            totalTests += cases.count
            totalFailures += failures
            totalSkipped += skipped
            var suite =
                "  <testsuite name=\"\(xml(suiteName))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\">\n"
            suite += cases.joined()
            suite += "  </testsuite>\n"
            suites.append(suite)
        }
        if let baseline = result.baseline {
            let fixed = baseline.fixed.map(\.description).joined(separator: "\n")
            var suite = "  <testsuite name=\"develtrace.baseline\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\">\n"
            suite += "    <testcase classname=\"develtrace.baseline\" name=\"fixed\">\n"
            suite +=
                "      <system-out>\(xml("\(baseline.fixed.count) fixed since \(baseline.source)" + (fixed.isEmpty ? "" : "\n" + fixed)))</system-out>\n"
            suite += "    </testcase>\n  </testsuite>\n"
            suites.append(suite)
            totalTests += 1
        }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out +=
            "<testsuites name=\"develtrace check\" tests=\"\(totalTests)\" failures=\"\(totalFailures)\" errors=\"0\" skipped=\"\(totalSkipped)\">\n"
        out += suites.joined()
        out += "</testsuites>\n"
        return out
    }

    /// One finding with its first piece of evidence from this sample.
    func line(_ finding: Finding, sample: String) -> String {
        var text = "\(finding.path) [\(finding.severity.rawValue), round \(finding.round)\(finding.baseline == .known ? ", known" : "")]"
        if let detail = finding.detail { text += " \(detail)" }
        if let evidence = finding.evidence.first(where: { $0.sample == sample }) {
            text += " — \(evidence.build) pid \(evidence.pid) \(evidence.syscall) \(evidence.errno) \(evidence.path)"
            if let program = evidence.argv.first { text += " by \(program)" }
        }
        return text
    }

    /// XML text or attribute content: markup escaped, characters XML 1.0
    /// cannot carry dropped.
    func xml(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\n", "\t", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value >= 0x20 && scalar.value != 0xFFFE && scalar.value != 0xFFFF { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
