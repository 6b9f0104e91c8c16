import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct SeverityExperimentPolicy {
        static func finding(_ path: String, _ severity: Severity, round: Int, _ kind: FindingClass = .missing) -> Finding {
            Finding(path: path, class: kind, severity: severity, samples: ["s"], round: round, detail: nil, evidence: [])
        }

        @Test("only added files that share a non-benign round with another finding are tested, in order, bounded")
        func contested() {
            let findings = [
                Self.finding("vmlinux", .divergent, round: 1), Self.finding(".config", .divergent, round: 1),
                Self.finding("alone.h", .fatal, round: 2), Self.finding("ok.h", .benign, round: 3),
                Self.finding("ok2.h", .benign, round: 3),
                Self.finding("x.h", .divergent, round: 4), Self.finding("x.h", .divergent, round: 4, .different),
                Self.finding("not-added.h", .divergent, round: 1),
            ]
            let added: Set<String> = ["vmlinux", ".config", "alone.h", "ok.h", "ok2.h", "x.h"]
            #expect(SeverityExperiment.contested(findings, added: added).map(\.path) == [".config", "vmlinux", "x.h"])
            #expect(SeverityExperiment.contested(findings, added: added, limit: 1).map(\.path) == [".config"])
            #expect(SeverityExperiment.contested([Self.finding("a", .fatal, round: 1)], added: ["a"]).isEmpty)
        }

        @Test("the verdict: failed without it is fatal, different modules divergent, else benign")
        func verdict() {
            #expect(SeverityExperiment.verdict(withoutFile: false, modulesDiffer: false) == .fatal)
            #expect(SeverityExperiment.verdict(withoutFile: false, modulesDiffer: true) == .fatal)
            #expect(SeverityExperiment.verdict(withoutFile: true, modulesDiffer: true) == .divergent)
            #expect(SeverityExperiment.verdict(withoutFile: true, modulesDiffer: false) == .benign)
        }
    }
}
