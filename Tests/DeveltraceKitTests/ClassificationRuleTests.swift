import Foundation
import SystemPackage
import Testing

@testable import DeveltraceKit

extension Unit {
    /// The classifier's rules on a made-up tree, candidate and trace: every
    /// file answer comes from a table (`TableFileFacts`), so no tree is
    /// built and nothing is read from disk but a sample's directory.
    @Suite struct ClassificationRules {
        static let tree = RawPath("/tree")
        static let candidateRoot = RawPath("/cand")

        static func access(_ path: String, _ intent: AccessIntent, _ result: AccessResult = .ok, pid: Int32 = 10, seq: Int)
            -> FileAccess
        {
            let syscall = intent == .exec ? "execve" : intent == .stat ? "newfstatat" : "openat"
            return FileAccess(
                pid: pid, process: pid, syscall: syscall, path: RawPath(path), rawPath: RawPath(path), intent: intent, result: result,
                sequence: seq)
        }

        static func build(_ accesses: [FileAccess], writes: [CapturedWrite] = [], status: Int32 = 0) -> SampleBuildResult {
            let outcome = TraceOutcome(
                accesses: accesses,
                processes: [10: TracedProcess(pid: 10, parent: 0, argv: [RawPath("make")], executable: RawPath("/usr/bin/make"))],
                exitStatus: status, termination: .completed, writes: writes, notes: [], launchFailure: nil, commandPid: 10,
                statistics: TraceStatistics(seccompStops: 0, syscallExitStops: 0, otherStops: 0, seconds: 0))
            return SampleBuildResult(
                status: status == 0 ? .succeeded : .failed(exitStatus: status), outcome: outcome, moduleCopy: RawPath("/nowhere"),
                moduleInSandbox: RawPath("/build"), log: "", modules: [:])
        }

        static func classifier() throws -> Classifier {
            let x86: ElfMachine = .x86_64
            let files = TableFileFacts([
                // The full tree.
                RawPath("/tree/Makefile"): .file(Array("all:\n".utf8)),
                RawPath("/tree/include/linux/a.h"): .file(Array("#define A\n".utf8)),
                RawPath("/tree/include/linux/b.h"): .file(Array("#define B 1\n".utf8)),
                RawPath("/tree/scripts/module.lds"): .file(Array("SECTIONS {}\n".utf8)),
                RawPath("/tree/scripts/basic/fixdep"): .file(Array("\u{7f}ELF".utf8), machine: x86),
                // The candidate: a.h lacking, b.h changed, module.lds moved
                // (identical), fixdep built for another machine, extra.h its
                // own, and a symlinked scripts directory.
                RawPath("/cand/Makefile"): .file(Array("all:\n".utf8)),
                RawPath("/cand/include/linux/b.h"): .file(Array("#define B 2\n".utf8)),
                RawPath("/cand/arch/x86/module.lds"): .file(Array("SECTIONS {}\n".utf8)),
                RawPath("/cand/scripts"): .symlink(RawPath("../kbuild/scripts")),
                RawPath("/kbuild/scripts/basic/fixdep"): .file(Array("\u{7f}ELF".utf8), machine: .aarch64),
                RawPath("/cand/include/linux/extra.h"): .file(Array("#define X\n".utf8)),
            ])
            let candidate = try StagedCandidate(
                inputs: [.kbuildDirectory(candidateRoot), .kbuildDirectory(RawPath("/kbuild"))], scratch: RawPath("/nonexistent-scratch"))
            let layout = CandidateLayout(
                kbuildDir: candidateRoot,
                roots: [
                    .init(candidate: candidateRoot, tree: RawPath(bytes: [])),
                    .init(candidate: RawPath("/kbuild/scripts"), tree: RawPath("scripts")),
                ],
                kind: "single directory", kernelRelease: nil)
            var classifier = Classifier(tree: BuildTree(describing: tree, release: "1.0"), candidate: candidate, layout: layout)
            classifier.facts = files
            return classifier
        }

        @Test("each class from its rule: missing, different, relocated, unrunnable, extra, tree-write, outside")
        func everyClass() throws {
            let classifier = try Self.classifier()
            let observation = try Self.everyClassObservation()
            let needs = classifier.needs(of: observation)
            let findings = classifier.findings(of: observation, needs: needs) { _ in .fatal }
            let found = Set(findings.map { "\($0.class.rawValue) \($0.path)" })
            #expect(
                found == [
                    "missing include/linux/a.h", "different include/linux/b.h", "relocated scripts/module.lds",
                    "unrunnable scripts/basic/fixdep", "extra include/linux/extra.h", "tree-write include/generated/new.h",
                    "outside include/linux/a.h",
                ], "\(found.sorted())")
            let relocated = try #require(findings.first { $0.class == .relocated })
            #expect(relocated.detail?.contains("arch/x86/module.lds") == true)
            let unrunnable = try #require(findings.first { $0.class == .unrunnable })
            #expect(unrunnable.detail?.contains("AArch64") == true, "\(unrunnable.detail ?? "")")
            let missing = try #require(findings.first { $0.class == .missing })
            #expect(missing.evidence.contains { $0.build == "candidate" && $0.errno == "ENOENT" })
            #expect(missing.evidence.contains { $0.build == "reference" && $0.errno == "ok" })
        }

        /// The trace of `everyClass`: one build of each side that shows
        /// every class.
        static func everyClassObservation() throws -> SampleObservation {
            let reference = Self.build([
                Self.access("/tree/Makefile", .read, seq: 1), Self.access("/tree/include/linux/a.h", .read, seq: 2),
                Self.access("/tree/include/linux/b.h", .read, seq: 3), Self.access("/tree/scripts/module.lds", .read, seq: 4),
                Self.access("/tree/scripts/basic/fixdep", .exec, seq: 5),
            ])
            let round = Self.build(
                [
                    Self.access("/cand/Makefile", .read, seq: 1),
                    Self.access("/cand/include/linux/a.h", .read, .failed(.noSuchFileOrDirectory), seq: 2),
                    Self.access("/cand/include/linux/b.h", .read, seq: 3),
                    Self.access("/cand/scripts/module.lds", .read, .failed(.noSuchFileOrDirectory), seq: 4),
                    Self.access("/cand/arch/x86/module.lds", .read, seq: 5),
                    Self.access("/kbuild/scripts/basic/fixdep", .exec, .failed(.execFormatError), seq: 6),
                    Self.access("/cand/include/linux/extra.h", .read, seq: 7),
                    Self.access("/tree/include/linux/a.h", .read, seq: 8),
                    Self.access("/cand/include/generated/new.h", .create, seq: 9),
                ],
                writes: [CapturedWrite(path: RawPath("/cand/include/generated/new.h"), kind: .created, isDirectory: false)], status: 2)
            let sample = try Sample(path: RawPath(Harness.fixtures.appendingPathComponent("modules/symbols").path))
            return SampleObservation(sample: sample, reference: reference, rounds: [round], comparisons: [])
        }

        @Test("each rule alone gives its own class and no other; a lacking path is exactly one of missing, relocated, different")
        func rulesOneByOne() throws {
            let classifier = try Self.classifier()
            let observation = try Self.everyClassObservation()
            let needs = classifier.needs(of: observation)
            let absence = classifier.absence(in: observation, needs: needs)
            #expect(Set(absence.lacks.map(\.path)) == [RawPath("include/linux/a.h"), RawPath("scripts/module.lds")])
            #expect(absence.relocationTargets == [RawPath("arch/x86/module.lds")])
            let rule = Classifier.RuleInput(
                observation: observation, needs: needs, severity: { $0 == 1 ? .fatal : .benign },
                show: { classifier.evidence($0, in: observation) })
            let byRule: [(FindingClass, [Finding])] = [
                (.missing, classifier.missingFindings(rule, absence)), (.relocated, classifier.relocatedFindings(rule, absence)),
                (.different, classifier.differentFindings(rule, absence)), (.extra, classifier.extraFindings(rule, absence)),
                (.treeWrite, classifier.treeWriteFindings(rule)), (.unrunnable, classifier.unrunnableFindings(rule)),
                (.outside, classifier.outsideFindings(rule)),
            ]
            for (kind, findings) in byRule {
                #expect(findings.count == 1, "\(kind): \(findings.map(\.path))")
                #expect(findings.allSatisfy { $0.class == kind && $0.round == 1 && $0.severity == .fatal && $0.samples == ["symbols"] })
            }
            // The sum of the rules is the classifier's answer.
            let all = classifier.findings(of: observation, needs: needs) { _ in .fatal }
            #expect(all.count == byRule.map(\.1.count).reduce(0, +))
            // Without the moved module.lds, the same lack is a missing file;
            // with it renamed (same name, other content), a different one.
            var table = (classifier.facts as! TableFileFacts).entries
            table[RawPath("/cand/arch/x86/module.lds")] = .file(Array("SECTIONS { /DISCARD/ }\n".utf8))
            var changed = classifier
            changed.facts = TableFileFacts(table)
            let moved = changed.absence(in: observation, needs: needs).lacks.first { $0.path == RawPath("scripts/module.lds") }
            #expect(moved?.substitute == nil && moved?.standIn?.path == RawPath("arch/x86/module.lds"))
            #expect(changed.relocatedFindings(rule, changed.absence(in: observation, needs: needs)).isEmpty)
            #expect(
                changed.differentFindings(rule, changed.absence(in: observation, needs: needs)).map(\.path).sorted() == [
                    "include/linux/b.h", "scripts/module.lds",
                ])
        }

        @Test("unused: the candidate's files no sample used, a file reached through a symlinked root counting as used")
        func unusedRule() throws {
            let classifier = try Self.classifier()
            let files = classifier.candidateFiles()
            #expect(
                files == [
                    RawPath("Makefile"), RawPath("include/linux/b.h"), RawPath("arch/x86/module.lds"), RawPath("scripts"),
                    RawPath("scripts/basic/fixdep"), RawPath("include/linux/extra.h"),
                ], "\(files.sorted())")
            let used: Set<RawPath> = [RawPath("Makefile"), RawPath("scripts/basic/fixdep"), RawPath("include/linux/a.h")]
            let unused = Classifier.unusedFindings(candidateFiles: files, used: used)
            #expect(unused.map(\.path) == ["arch/x86/module.lds", "include/linux/b.h", "include/linux/extra.h", "scripts"])
            #expect(unused.allSatisfy { $0.class == .unused && $0.severity == .benign && $0.samples.isEmpty })
            #expect(Classifier.unusedFindings(candidateFiles: files, used: files).isEmpty)
        }

        @Test("a changed candidate file with the tree's content is no finding; the symlinked directory maps onto its tree path")
        func sameContent() throws {
            var classifier = try Self.classifier()
            var table = (classifier.facts as! TableFileFacts).entries
            table[RawPath("/cand/include/linux/b.h")] = .file(Array("#define B 1\n".utf8))
            table[RawPath("/kbuild/scripts/basic/fixdep")] = .file(Array("\u{7f}ELF".utf8), machine: .x86_64)
            classifier.facts = TableFileFacts(table)
            #expect(classifier.candidateHas(RawPath("scripts/basic/fixdep")))
            #expect(!classifier.candidateHas(RawPath("include/linux/a.h")))
            #expect(classifier.isTreeFile(RawPath("include/linux/a.h")) && classifier.isTreeDirectory(RawPath("include/linux")))
            let reference = Self.build([
                Self.access("/tree/include/linux/b.h", .read, seq: 1), Self.access("/tree/scripts/basic/fixdep", .exec, seq: 2),
            ])
            let round = Self.build([
                Self.access("/cand/include/linux/b.h", .read, seq: 1), Self.access("/kbuild/scripts/basic/fixdep", .exec, seq: 2),
            ])
            let sample = try Sample(path: RawPath(Harness.fixtures.appendingPathComponent("modules/symbols").path))
            let observation = SampleObservation(sample: sample, reference: reference, rounds: [round], comparisons: [])
            let findings = classifier.findings(of: observation, needs: classifier.needs(of: observation)) { _ in .benign }
            #expect(findings.isEmpty, "\(findings.map { "\($0.class.rawValue) \($0.path)" })")
        }
    }
}
