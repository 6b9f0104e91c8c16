import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// `--baseline`: which findings are known, new and fixed, and what that does
    /// to the gate.
    @Suite struct BaselineTests {
        static func finding(_ kind: FindingClass, _ path: String, _ severity: Severity = .fatal) -> Finding {
            Finding(path: path, class: kind, severity: severity, samples: ["hello"], round: 1, detail: nil, evidence: [])
        }

        static func result(_ findings: [Finding], reference: String = "succeeded") -> CheckResult {
            CheckResult(
                inputs: .init(
                    buildTree: "/tree", sourceTree: nil, kernelRelease: "1.0", candidates: ["/cand"], packages: [], kbuildDir: "/cand",
                    layout: "directory", roots: [["/cand", ""]], command: ["develtrace", "check"], compiler: nil),
                warnings: [],
                samples: [
                    .init(
                        name: "hello", kind: "kbuild", directory: "/m/hello", reference: reference, candidate: "succeeded", rounds: 1,
                        modules: [:], log: nil, treeFilesUsed: [])
                ],
                findings: findings, summary: [:], unusedFiles: 0, exitStatus: 0)
        }

        static func write(_ text: String) throws -> String {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("develtrace-baseline-\(UUID().uuidString)")
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }

        @Test("an allowlist: comments, classes, wildcards that cross directories")
        func allowlist() throws {
            let file = try Self.write(
                """
                # benign on Debian
                relocated scripts/module.lds
                  extra   .kernelvariables
                include/linux/*.h

                missing tools/objtool/objtool
                """)
            defer { unlink(file) }
            let baseline = try Baseline(contentsOf: file)
            #expect(baseline.entries.count == 4)
            #expect(baseline.knows(Self.finding(.relocated, "scripts/module.lds")))
            #expect(!baseline.knows(Self.finding(.missing, "scripts/module.lds")), "the class must match when given")
            #expect(baseline.knows(Self.finding(.missing, "include/linux/mini.h")))
            #expect(baseline.knows(Self.finding(.different, "include/linux/sub/deep.h")), "* crosses /")
            #expect(!baseline.knows(Self.finding(.missing, "include/linux/mini.c")))
            let fixed = baseline.fixed(by: [Self.finding(.relocated, "scripts/module.lds"), Self.finding(.missing, "include/linux/a.h")])
            #expect(fixed.map(\.description) == ["extra .kernelvariables", "missing tools/objtool/objtool"])
        }

        @Test(
            "a bad baseline is refused with the line and the problem",
            arguments: [
                ("missng include/a.h\n", "line 1: missng is not a finding class"),
                ("# ok\nmissing a b\n", "line 2: expected PATH or CLASS PATH, got 3 words"),
                ("{ \"schemaVersion\": 1 }", "not a develtrace check result"),
            ])
        func badBaseline(text: String, message: String) throws {
            let file = try Self.write(text)
            defer { unlink(file) }
            #expect {
                try Baseline(contentsOf: file)
            } throws: { error in
                "\(error)".contains(message) && "\(error)".hasPrefix(file)
            }
            #expect(throws: InputError.self) { try Baseline(contentsOf: "/nonexistent/baseline.json") }
        }

        @Test("against a previous result: known findings do not fail the gate, new ones do, vanished ones are fixed")
        func previousResult() throws {
            var old = Self.result([Self.finding(.missing, "include/linux/a.h"), Self.finding(.relocated, "scripts/module.lds", .benign)])
            old.evaluate(gate: .standard, baseline: nil)
            #expect(old.exitStatus == 1)
            let file = try Self.write(CheckReportRenderer(format: .json).render(old))
            defer { unlink(file) }
            let baseline = try Baseline(contentsOf: file)

            // The same findings again: all known, the gate passes.
            var same = Self.result(old.findings)
            same.evaluate(gate: .standard, baseline: baseline)
            #expect(same.exitStatus == 0)
            #expect(same.findings.allSatisfy { $0.baseline == .known })
            #expect(same.baseline?.fixed == [])

            // A new missing file fails; the vanished relocation is fixed.
            var next = Self.result([Self.finding(.missing, "include/linux/a.h"), Self.finding(.missing, "include/linux/b.h")])
            next.evaluate(gate: .standard, baseline: baseline)
            #expect(next.exitStatus == 1)
            #expect(next.findings.map { $0.baseline } == [.known, .new])
            #expect(next.baseline?.fixed.map(\.description) == ["relocated scripts/module.lds"])
            #expect(next.baseline?.fixed.first?.severity == .benign)
            #expect(
                next.gate == [
                    "missing", "relocated:fatal", "different:fatal", "tree-write:fatal", "unrunnable:fatal", "extra:fatal", "outside:fatal",
                    "dependency:fatal",
                ])

            // A broken sample is exit 3 when no new finding fails the gate.
            var broken = Self.result(old.findings, reference: "failed (exit 2)")
            broken.evaluate(gate: .standard, baseline: baseline)
            #expect(broken.exitStatus == 3)
        }

        @Test("the renderers show known, new and fixed")
        func rendered() throws {
            let baseline = Baseline(
                source: "old.json", entries: [.init(class: .missing, path: "include/a.h"), .init(class: .extra, path: "x.h")],
                isPattern: false)
            var result = Self.result([Self.finding(.missing, "include/a.h"), Self.finding(.missing, "include/b.h")])
            result.evaluate(gate: .standard, baseline: baseline)
            let text = CheckReportRenderer(format: .text).render(result)
            #expect(text.contains("against the baseline old.json: 1 new, 1 known, 1 fixed"))
            #expect(text.contains("a.h  [fatal, round 1, hello] (known)"))
            #expect(text.contains("fixed since the baseline (1)\n  extra x.h"))
            let markdown = CheckReportRenderer(format: .markdown).render(result)
            #expect(markdown.contains("**1 new**, 1 known, 1 fixed"))
            #expect(markdown.contains("| baseline |"))
            #expect(markdown.contains("## Fixed since the baseline\n\n- `extra x.h`"))
            let junit = CheckReportRenderer(format: .junit).render(result)
            #expect(junit.contains("<failure message=\"1 missing file\" type=\"missing\">include/a.h [fatal, round 1, known]\ninclude/b.h"))
            #expect(junit.contains("<testsuite name=\"develtrace.baseline\""))
        }
    }
}

extension Unit {
    /// Combining findings does not depend on how samples were grouped: the
    /// property `develtrace merge` relies on.
    @Suite struct FindingMergeTests {
        @Test("each sample keeps its own severity when the samples disagree; the finding has the worst")
        func ownSeverities() {
            func seen(_ sample: String, _ severity: Severity, _ path: String = ".kernelvariables") -> Finding {
                Finding(path: path, class: .extra, severity: severity, samples: [sample], round: 1, detail: nil, evidence: [])
            }
            let merged = FindingMerge.merge(
                [
                    [seen("make-scripts", .fatal)], [seen("asm", .benign), seen("asm", .benign, "x")], [seen("pre-build", .divergent)],
                    [seen("tracepoint", .benign, "x")],
                ],
                sampleOrder: ["asm", "make-scripts", "pre-build", "tracepoint"])
            let mixed = merged.first { $0.path == ".kernelvariables" }!
            #expect(mixed.severity == .fatal)
            #expect(mixed.severities == ["asm": .benign, "make-scripts": .fatal, "pre-build": .divergent])
            #expect(mixed.severityAndSamples == "fatal, round 1, make-scripts; divergent: pre-build; benign: asm")
            let agreed = merged.first { $0.path == "x" }!
            #expect(agreed.severities == nil && agreed.severityAndSamples == "benign, round 1, asm, tracepoint")
            // A result from elsewhere that names a sample twice is read, not trapped on.
            var twice = seen("asm", .fatal)
            twice.samples = ["asm", "asm"]
            #expect(twice.severityBySample == ["asm": .fatal])
        }

        @Test("per sample, or per shard then merged: the same findings", arguments: [1, 2, 3, 7])
        func groupingDoesNotMatter(seed: UInt64) {
            var random = SplitMix(seed: seed)
            let samples = (0..<7).map { "s\($0)" }
            let paths = ["include/a.h", "include/b.h", "scripts/x", "Makefile"]
            let perSample: [[Finding]] = samples.map { sample in
                paths.filter { _ in random.next() % 2 == 0 }.map { path in
                    Finding(
                        path: path, class: random.next() % 3 == 0 ? .extra : .missing,
                        severity: [Severity.benign, .divergent, .fatal][Int(random.next() % 3)], samples: [sample],
                        round: Int(random.next() % 4) + 1, detail: random.next() % 2 == 0 ? "seen by \(sample)" : nil,
                        evidence: (0..<Int(random.next() % 4)).map { n in
                            Evidence(
                                sample: sample, build: "candidate", round: 1, pid: Int32(n), argv: ["cc1"], syscall: "openat",
                                errno: "ENOENT",
                                path: "/p/\(path)")
                        })
                }
            }
            let whole = FindingMerge.merge(perSample, sampleOrder: samples)
            #expect(!whole.isEmpty)
            for shards in 2...4 {
                let parts = (0..<shards).map { shard in
                    FindingMerge.merge(
                        perSample.enumerated().filter { $0.offset % shards == shard }.map(\.element),
                        sampleOrder: samples.enumerated().filter { $0.offset % shards == shard }.map(\.element))
                }
                let merged = FindingMerge.merge(parts.reversed(), sampleOrder: samples)
                #expect(merged.count == whole.count)
                for (a, b) in zip(merged, whole) where a != b {
                    Issue.record(
                        "\(shards) shards: \(a.class) \(a.path): samples \(a.samples) vs \(b.samples), round \(a.round) vs \(b.round), severity \(a.severity) vs \(b.severity), detail \(a.detail ?? "-") vs \(b.detail ?? "-"), evidence \(a.evidence.map { "\($0.sample):\($0.pid)" }) vs \(b.evidence.map { "\($0.sample):\($0.pid)" })"
                    )
                }
            }
        }
    }
}

/// A small seeded generator (the tests must not depend on the system's).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
