import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// The historical defects of `Machine.Regressions`, classified again
    /// from their recorded traces (`Fixtures/recorded`, gzip'd
    /// `ClassificationRecord`s): no tree, no candidate, no build, no root.
    /// The real-build cases stay; these tell in milliseconds whether a
    /// change to a classification rule changed what a real defect gives.
    @Suite struct RecordedRegressions {
        static func record(_ regression: Machine.Regressions.Case) throws -> ClassificationRecord {
            let directory = Machine.Regressions.records.appendingPathComponent(regression.slug)
            let file = try #require(
                try? FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasSuffix(".json.gz") },
                "no record in \(directory.path): DEVELTRACE_RECORD_CLASSIFICATION=1 swift test --filter Regressions, then gzip them")
            let json = try Harness.capture(["/bin/gzip", "-dc", directory.appendingPathComponent(file).path], in: Harness.packageRoot)
            try #require(json.status == 0, "gzip: \(json.stderr)")
            return try JSONDecoder().decode(ClassificationRecord.self, from: json.stdout)
        }

        @Test("a recorded defect gives the findings it gave in its real build, its own among them", arguments: Machine.Regressions.cases)
        func replayed(_ regression: Machine.Regressions.Case) throws {
            let record = try Self.record(regression)
            #expect(record.format == ClassificationRecord.format)
            let replayed = try #require(try record.replay(), "the record decodes")
            #expect(replayed == record.findings)
            // What the real-build case expects, by class and path (its
            // severity comes from experiments, which need builds).
            let known = Set(Machine.Regressions.debianBaseline.entries.map { "\($0.class?.rawValue ?? "") \($0.path)" })
            let found = replayed.map { $0.split(separator: " ").prefix(2).joined(separator: " ") }.filter { !known.contains($0) }
            let expected = regression.expected.map { $0.split(separator: " ").prefix(2).joined(separator: " ") }
            #expect(Set(found) == Set(expected), "\(replayed)")
        }
    }
}
