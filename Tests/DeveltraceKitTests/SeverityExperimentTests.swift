import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct SeverityExperimentPolicy {
        static func finding(_ path: String, _ severity: Severity, round: Int, _ kind: FindingClass = .missing) -> Finding {
            Finding(path: path, class: kind, severity: severity, samples: ["s"], round: round, detail: nil, evidence: [])
        }

        @Test("only added files that share a non-benign round with another finding are tested, grouped by round, smaller groups first")
        func contested() {
            let findings = [
                Self.finding("vmlinux", .divergent, round: 1), Self.finding(".config", .divergent, round: 1),
                Self.finding("alone.h", .fatal, round: 2), Self.finding("ok.h", .benign, round: 3),
                Self.finding("ok2.h", .benign, round: 3),
                Self.finding("x.h", .divergent, round: 4), Self.finding("x.h", .divergent, round: 4, .different),
                Self.finding("not-added.h", .divergent, round: 1),
            ]
            let added: Set<String> = ["vmlinux", ".config", "alone.h", "ok.h", "ok2.h", "x.h"]
            #expect(SeverityExperiment.contested(findings, added: added).map { $0.map(\.path) } == [["x.h"], [".config", "vmlinux"]])
            #expect(SeverityExperiment.contested([Self.finding("a", .fatal, round: 1)], added: ["a"]).isEmpty)
            // Groups of one size: earlier rounds first.
            let even = [
                Self.finding("b", .fatal, round: 3), Self.finding("c", .fatal, round: 3), Self.finding("d", .fatal, round: 2),
                Self.finding("e", .fatal, round: 2),
            ]
            #expect(
                SeverityExperiment.contested(even, added: ["b", "c", "d", "e"]).map { $0.map(\.path) } == [["d", "e"], ["b", "c"]])
        }

        /// Runs a bisection against an oracle: a held-out group's outcome is
        /// the worst of its members' own (no file stands in for another).
        static func bisect(
            _ groups: [[String]], causes: [String: Severity], limit: Int = SeverityExperiment.limit,
            split: SeverityExperiment.Bisection.Split = .halves
        ) -> (SeverityExperiment.Bisection, [[String]]) {
            var bisection = SeverityExperiment.Bisection(groups: groups, limit: limit, split: split)
            var tested: [[String]] = []
            let rank: [Severity: Int] = [.benign: 0, .divergent: 1, .fatal: 2]
            while let group = bisection.next {
                tested.append(group)
                bisection.record(group.map { causes[$0] ?? .benign }.max { rank[$0]! < rank[$1]! }!)
            }
            return (bisection, tested)
        }

        /// The same, `width` rebuilds at a time (`batch`).
        static func bisectInBatches(
            _ groups: [[String]], causes: [String: Severity], width: Int, limit: Int = SeverityExperiment.limit,
            split: SeverityExperiment.Bisection.Split = .halves
        ) -> (SeverityExperiment.Bisection, [[[String]]]) {
            var bisection = SeverityExperiment.Bisection(groups: groups, limit: limit, split: split)
            var batches: [[[String]]] = []
            let rank: [Severity: Int] = [.benign: 0, .divergent: 1, .fatal: 2]
            while case let batch = bisection.batch(upTo: width), !batch.isEmpty {
                batches.append(batch)
                bisection.record(batch.map { group in (group, group.map { causes[$0] ?? .benign }.max { rank[$0]! < rank[$1]! }!) })
            }
            return (bisection, batches)
        }

        @Test("rebuilt two at a time: the same verdicts as one at a time, in fewer steps, never over the limit")
        func batches() {
            let files = (0..<16).map { "f\($0)" }
            for causes: [String: Severity] in [["f15": .fatal], ["f1": .fatal, "f2": .fatal, "f9": .divergent], [:]] {
                let (serial, tested) = Self.bisect([files, ["g0", "g1", "g2"]], causes: causes)
                let (parallel, batches) = Self.bisectInBatches([files, ["g0", "g1", "g2"]], causes: causes, width: 2)
                #expect(parallel.verdicts == serial.verdicts, "\(causes)")
                #expect(parallel.verdicts.count == 19)
                #expect(batches.allSatisfy { $0.count <= 2 })
                #expect(batches.count < tested.count, "\(batches)")
                // A first half's sibling built beside it is not inferred: at
                // most one rebuild per split more than one at a time.
                #expect(parallel.rebuilds <= 2 * serial.rebuilds)
            }
            // Each package alone, both at once once the group failed.
            let (packages, steps) = Self.bisectInBatches(
                [["binutils", "cpp-12", "gcc-12"]], causes: ["gcc-12": .fatal], width: 2, split: .singles)
            #expect(steps == [[["binutils", "cpp-12", "gcc-12"]], [["binutils"], ["cpp-12"]], [["gcc-12"]]])
            #expect(packages.verdicts == ["binutils": .benign, "cpp-12": .benign, "gcc-12": .fatal])
            let (bounded, boundedSteps) = Self.bisectInBatches(
                [files], causes: Dictionary(uniqueKeysWithValues: files.map { ($0, .fatal) }), width: 2, limit: 5)
            #expect(bounded.rebuilds == 5 && boundedSteps.joined().count == 5)
        }

        @Test("packages: the whole group once; when it changes something, each alone")
        func singles() {
            let none = Self.bisect([["libc6-dev", "pahole"]], causes: [:], split: .singles)
            #expect(none.1 == [["libc6-dev", "pahole"]], "one rebuild when nothing changes")
            #expect(none.0.verdicts == ["libc6-dev": .benign, "pahole": .benign])
            let compiler = Self.bisect(
                [["binutils", "cpp-12", "gcc-12", "libc6-dev"]], causes: ["binutils": .fatal, "cpp-12": .fatal, "gcc-12": .fatal],
                split: .singles)
            #expect(compiler.1 == [["binutils", "cpp-12", "gcc-12", "libc6-dev"], ["binutils"], ["cpp-12"], ["gcc-12"], ["libc6-dev"]])
            #expect(compiler.0.verdicts == ["binutils": .fatal, "cpp-12": .fatal, "gcc-12": .fatal, "libc6-dev": .benign])
            let alone = Self.bisect([["pahole"]], causes: ["pahole": .fatal], split: .singles)
            #expect(alone.1 == [["pahole"]])
        }

        @Test("two files of a round are held out one at a time (no group test first)")
        func pairsOneByOne() {
            let (bisection, tested) = Self.bisect([[".config", "vmlinux"]], causes: ["vmlinux": .divergent])
            #expect(tested == [[".config"], ["vmlinux"]])
            #expect(bisection.verdicts == [".config": .benign, "vmlinux": .divergent])
        }

        @Test("twenty files and one cause: far fewer rebuilds than files, every verdict right")
        func oneCauseAmongMany() {
            let files = (0..<20).map { "scripts/kconfig/f\($0).o" }
            let (bisection, tested) = Self.bisect([files], causes: ["scripts/kconfig/f13.o": .fatal])
            #expect(bisection.rebuilds == tested.count)
            #expect(bisection.rebuilds < 12)
            #expect(bisection.verdicts.count == 20)
            #expect(bisection.verdicts.filter { $0.value != .benign } == ["scripts/kconfig/f13.o": .fatal])
        }

        @Test("binary splitting: when the first half changes nothing, the second is split without a rebuild of its own")
        func secondHalfHoldsTheCause() {
            let files = (0..<16).map { "f\($0)" }
            let (bisection, tested) = Self.bisect([files], causes: ["f15": .fatal])
            // 16 → 8 (benign) → 4 (benign) → 2 (benign) → f14 (benign) → f15.
            #expect(tested.map(\.count) == [16, 8, 4, 2, 1, 1], "\(tested)")
            #expect(bisection.verdicts["f15"] == .fatal && bisection.verdicts.count == 16)
        }

        @Test("several causes of different severities each get their own verdict; a benign group costs one rebuild")
        func severalCauses() {
            let files = (0..<12).map { "f\($0)" }
            let causes: [String: Severity] = ["f1": .fatal, "f2": .fatal, "f9": .divergent]
            let (bisection, _) = Self.bisect([files, ["g0", "g1", "g2"]], causes: causes)
            for file in files + ["g0", "g1", "g2"] { #expect(bisection.verdicts[file] == causes[file] ?? .benign, "\(file)") }
            let (benign, tested) = Self.bisect([["a", "b", "c", "d"]], causes: [:])
            #expect(tested == [["a", "b", "c", "d"]] && benign.verdicts.count == 4)
        }

        @Test("out of rebuilds: what was not told apart has no verdict (it keeps its round's severity)")
        func bounded() {
            let files = (0..<16).map { "f\($0)" }
            let (bisection, tested) = Self.bisect([files], causes: Dictionary(uniqueKeysWithValues: files.map { ($0, .fatal) }), limit: 5)
            #expect(tested.count == 5 && bisection.rebuilds == 5)
            #expect(bisection.next == nil)
            #expect(bisection.verdicts.count < 16)
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
