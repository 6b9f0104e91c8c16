import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// Golden files for every report format, rendered from one saved result
    /// (`Fixtures/golden/check-result.json`, a real check of a mini-tree
    /// candidate with a missing header, a relocated linker script and a changed
    /// header). `DEVELTRACE_RECORD_GOLDEN=1 swift test` re-records them.
    @Suite struct ReportFormatTests {
        static let golden = Harness.fixtures.appendingPathComponent("golden")

        static func result() throws -> CheckResult {
            let data = try Data(contentsOf: golden.appendingPathComponent("check-result.json"))
            return try JSONDecoder().decode(CheckResult.self, from: data)
        }

        static func compare(_ rendered: String, to name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let file = golden.appendingPathComponent(name)
            if ProcessInfo.processInfo.environment["DEVELTRACE_RECORD_GOLDEN"] == "1" {
                try rendered.write(to: file, atomically: true, encoding: .utf8)
            }
            let expected = try String(contentsOf: file, encoding: .utf8)
            #expect(rendered == expected, "\(name) differs; DEVELTRACE_RECORD_GOLDEN=1 re-records it", sourceLocation: sourceLocation)
        }

        @Test("text") func text() throws {
            try Self.compare(CheckReportRenderer(format: .text).render(Self.result()), to: "report.txt")
        }

        @Test("markdown") func markdown() throws {
            try Self.compare(CheckReportRenderer(format: .markdown).render(Self.result()), to: "report.md")
        }

        @Test("list, missing only and several classes with a prefix") func list() throws {
            try Self.compare(CheckReportRenderer(format: .list).render(Self.result()), to: "report.list")
            let renderer = CheckReportRenderer(
                format: .list, classes: [.missing, .relocated, .different], prefix: "/usr/src/kernels/1.0.0-mini")
            try Self.compare(renderer.render(Self.result()), to: "report-prefixed.list")
        }

        @Test("junit: golden, and valid against the JUnit schema (xmllint)") func junit() throws {
            let rendered = CheckReportRenderer(format: .junit).render(try Self.result())
            try Self.compare(rendered, to: "report.junit.xml")
            #expect(rendered.contains("<failure message=\"1 missing file\" type=\"missing\">include/linux/mini.h"))
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-junit-\(UUID().uuidString).xml")
            try rendered.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let schema = Harness.fixtures.appendingPathComponent("junit/junit.xsd").path
            #expect(try Harness.runProcess(["/usr/bin/xmllint", "--noout", "--schema", schema, file.path]) == 0)
            // The validator does fail on a document that breaks the schema.
            try rendered.replacingOccurrences(of: "<testcase classname", with: "<testcase klass").write(
                to: file, atomically: true, encoding: .utf8)
            #expect(try Harness.runProcess(["/usr/bin/xmllint", "--noout", "--schema", schema, file.path]) != 0)
        }

        /// The same result against `baseline.allow`: two findings known, one
        /// new, one entry fixed.
        static func baselineResult() throws -> CheckResult {
            var result = try result()
            let baseline = try Baseline(contentsOf: golden.appendingPathComponent("baseline.allow").path)
            result.evaluate(gate: .standard, baseline: Baseline(source: "baseline.allow", entries: baseline.entries, isPattern: true))
            return result
        }

        @Test("with a baseline: text, markdown and junit (schema-valid)") func withBaseline() throws {
            let result = try Self.baselineResult()
            #expect(result.findings.map { $0.baseline } == [.new, .known, .known])
            #expect(result.exitStatus == 1, "the missing header is new")
            try Self.compare(CheckReportRenderer(format: .text).render(result), to: "report-baseline.txt")
            try Self.compare(CheckReportRenderer(format: .markdown).render(result), to: "report-baseline.md")
            let junit = CheckReportRenderer(format: .junit).render(result)
            try Self.compare(junit, to: "report-baseline.junit.xml")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-junit-\(UUID().uuidString).xml")
            try junit.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let schema = Harness.fixtures.appendingPathComponent("junit/junit.xsd").path
            #expect(try Harness.runProcess(["/usr/bin/xmllint", "--noout", "--schema", schema, file.path]) == 0)
        }

        @Test("json round-trips byte for byte") func json() throws {
            let original = try String(contentsOf: Self.golden.appendingPathComponent("check-result.json"), encoding: .utf8)
            #expect(CheckReportRenderer(format: .json).render(try Self.result()) == original)
        }

        @Test("the Markdown report renders to HTML with the missing-files table (python3-markdown)")
        func markdownRenders() throws {
            let markdown = CheckReportRenderer(format: .markdown).render(try Self.result())
            let input = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-report-\(UUID().uuidString).md")
            let output = input.appendingPathExtension("html")
            try markdown.write(to: input, atomically: true, encoding: .utf8)
            defer {
                try? FileManager.default.removeItem(at: input)
                try? FileManager.default.removeItem(at: output)
            }
            let status = try Harness.runProcess([
                "/usr/bin/python3", "-c",
                "import markdown,sys; open(sys.argv[2],'w').write(markdown.markdown(open(sys.argv[1]).read(), extensions=['tables','fenced_code']))",
                input.path, output.path,
            ])
            #expect(status == 0)
            let html = try String(contentsOf: output, encoding: .utf8)
            #expect(html.contains("<table>"))
            #expect(html.contains("<th>errno</th>"))
            #expect(html.contains("<td><code>include/linux/mini.h</code></td>"))
            #expect(html.contains("<td>ENOENT</td>"))
        }
    }
}
