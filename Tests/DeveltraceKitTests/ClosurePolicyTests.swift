import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    @Suite struct ClosureDecisions {
        static let a = RawPath("include/linux/a.h")
        static let b = RawPath("include/linux/b.h")
        static let c = RawPath("scripts/module.lds")

        @Test("probed files come first; what only the reference used waits for a failing round that probed nothing new")
        func order() {
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [Self.b, Self.a], usedAbsent: { [Self.c] }, added: [], roundSucceeded: false, round: 1, maxRounds: 10)
                    == .nextRound(adding: [Self.a, Self.b]))
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [Self.a], usedAbsent: { [Self.a, Self.c] }, added: [Self.a], roundSucceeded: false, round: 2,
                    maxRounds: 10) == .nextRound(adding: [Self.c]))
            // A round that built: files only the reference used may be elsewhere (relocated).
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [Self.a], usedAbsent: { [Self.c] }, added: [Self.a], roundSucceeded: true, round: 2, maxRounds: 10)
                    == .classify)
        }

        @Test("a build that fails at each first missing file: after three failed rounds in a row, what only the reference used comes too")
        func serialDiscovery() {
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [Self.a], usedAbsent: { [Self.b, Self.c] }, added: [], roundSucceeded: false, round: 2, maxRounds: 10,
                    failedInARow: 2) == .nextRound(adding: [Self.a]))
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [Self.a], usedAbsent: { [Self.b, Self.c] }, added: [Self.c], roundSucceeded: false, round: 3,
                    maxRounds: 10, failedInARow: 3) == .nextRound(adding: [Self.a, Self.b]))
            // A round that built still leaves them to be found elsewhere.
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [Self.a], usedAbsent: { [Self.b] }, added: [], roundSucceeded: true, round: 4, maxRounds: 10,
                    failedInARow: 0) == .nextRound(adding: [Self.a]))
        }

        @Test("after four failed rounds in a row, the kin of the newly probed files come too, and only then")
        func kinAfterSerialRounds() {
            let sh = RawPath("scripts/as-version.sh")
            // The runner's kin leave out what closure put beside them already.
            let kin: (Set<RawPath>) -> Set<RawPath> = { fresh in
                fresh == [sh] ? [RawPath("scripts/cc-version.sh")] : []
            }
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [sh], usedAbsent: { [] }, added: [], roundSucceeded: false, round: 3, maxRounds: 10, failedInARow: 3,
                    kin: kin) == .nextRound(adding: [sh]))
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [sh], usedAbsent: { [] }, added: [Self.c], roundSucceeded: false, round: 4, maxRounds: 10,
                    failedInARow: 4, kin: kin) == .nextRound(adding: [sh, RawPath("scripts/cc-version.sh")]))
            // Not for files probed in earlier rounds, nor after a round that built.
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [sh], usedAbsent: { [] }, added: [sh], roundSucceeded: false, round: 5, maxRounds: 10,
                    failedInARow: 5, kin: kin) == .classify)
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [sh], usedAbsent: { [] }, added: [], roundSucceeded: true, round: 5, maxRounds: 10, failedInARow: 0,
                    kin: kin) == .nextRound(adding: [sh]))
        }

        @Test("directories looked for come only when a failed round leaves nothing else to add")
        func directories() {
            let include = RawPath("security/selinux/include")
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [], usedAbsent: { [] }, added: [], roundSucceeded: false, round: 8, maxRounds: 10,
                    absentDirectories: { [include] }) == .nextRound(adding: [include]))
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [Self.a], usedAbsent: { [] }, added: [], roundSucceeded: false, round: 2, maxRounds: 10,
                    absentDirectories: { [include] }) == .nextRound(adding: [Self.a]))
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [], usedAbsent: { [] }, added: [include], roundSucceeded: false, round: 9, maxRounds: 10,
                    absentDirectories: { [include] }) == .classify, "made once")
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [], usedAbsent: { [] }, added: [], roundSucceeded: true, round: 3, maxRounds: 10,
                    absentDirectories: { [include] }) == .classify, "a round that built needs nothing")
        }

        @Test("a file's kin share its suffix; no suffix, a leading dot only, or a crowded directory: none")
        func kinOfAFile() {
            let names = ["as-version.sh", "cc-version.sh", "Makefile.build", "ld-version.sh", "sign-file", "vmlinux", ".gitignore"]
                .map(RawPath.init)
            #expect(
                ClosurePolicy.kin(of: RawPath("as-version.sh"), among: names) == [RawPath("cc-version.sh"), RawPath("ld-version.sh")])
            #expect(ClosurePolicy.kin(of: RawPath("vmlinux"), among: names + [RawPath("sign-file")]).isEmpty)
            #expect(ClosurePolicy.kin(of: RawPath(".config"), among: names + [RawPath(".gitignore")]).isEmpty)
            #expect(
                ClosurePolicy.kin(of: RawPath(".conf.o.cmd"), among: [RawPath(".expr.o.cmd"), RawPath("conf.o")])
                    == [RawPath(".expr.o.cmd")])
            let crowd = (0...ClosurePolicy.kinPerDirectory).map { RawPath("h\($0).h") }
            #expect(ClosurePolicy.kin(of: RawPath("a.h"), among: crowd).isEmpty)
            #expect(ClosurePolicy.kin(of: RawPath("a.h"), among: Array(crowd.dropFirst())).count == ClosurePolicy.kinPerDirectory)
        }

        @Test("closure ends when nothing new is missing or the rounds are used up; the reference-only set is not asked for needlessly")
        func end() {
            #expect(
                ClosurePolicy.decide(probedAbsent: [], usedAbsent: { [] }, added: [], roundSucceeded: false, round: 1, maxRounds: 10)
                    == .classify)
            #expect(
                ClosurePolicy.decide(
                    probedAbsent: [Self.a], usedAbsent: { [] }, added: [], roundSucceeded: false, round: 10, maxRounds: 10) == .classify)
            #expect(
                ClosurePolicy.decide(probedAbsent: [Self.a], usedAbsent: { [] }, added: [], roundSucceeded: false, round: 1, maxRounds: 0)
                    == .classify, "at least one round")
            var asked = false
            _ = ClosurePolicy.decide(
                probedAbsent: [Self.a],
                usedAbsent: {
                    asked = true
                    return []
                }, added: [], roundSucceeded: false, round: 1, maxRounds: 10)
            #expect(!asked)
        }
    }
}

extension Unit {
    /// Closure's additions carried out: every failure is a warning naming the
    /// sample and the path, and the rest still land.
    @Suite struct ClosureLayerApplying {
        /// Records what it was asked; fails for the paths it is told.
        final class Writer: ClosureLayerWriter {
            struct Refused: Error, CustomStringConvertible {
                var description: String
            }
            var failing: Set<RawPath>
            var done: [String] = []
            init(failing: Set<RawPath>) { self.failing = failing }

            func makeDirectories(_ path: RawPath) throws {
                if failing.contains(path) { throw Refused(description: "mkdir \(path): Permission denied") }
                done.append("mkdir \(path)")
            }
            func write(_ text: String, to path: RawPath) throws {
                if failing.contains(path) { throw Refused(description: "write \(path): No space left on device") }
                done.append("write \(path) \(text.count)")
            }
            func copy(_ source: RawPath, to destination: RawPath) throws {
                if failing.contains(destination) { throw Refused(description: "cp: cannot stat '\(source)'") }
                done.append("copy \(source) \(destination)")
            }
        }

        static let additions: [ClosureAddition] = [
            .copy(path: RawPath("include/a.h"), from: RawPath("/tree/include/a.h"), at: RawPath("/c/0/include/a.h")),
            .copy(path: RawPath("include/b.h"), from: RawPath("/tree/include/b.h"), at: RawPath("/c/0/include/b.h")),
            .directory(path: RawPath("security/x/include"), at: RawPath("/c/0/security/x/include")),
            .text(path: RawPath("Makefile"), "include /src/Makefile\n", at: RawPath("/c/1/Makefile")),
        ]

        @Test("all land: each file placed, the directory made but placed nowhere, no warning")
        func allLand() {
            let writer = Writer(failing: [])
            let applied = ClosureLayer.apply(Self.additions, sample: "hello", writer: writer)
            #expect(applied.warnings.isEmpty)
            #expect(
                applied.placed == [
                    RawPath("include/a.h"): RawPath("/c/0/include/a.h"), RawPath("include/b.h"): RawPath("/c/0/include/b.h"),
                    RawPath("Makefile"): RawPath("/c/1/Makefile"),
                ])
            #expect(writer.done.contains("copy /tree/include/a.h /c/0/include/a.h"))
            #expect(writer.done.contains("mkdir /c/0/security/x/include"))
            #expect(writer.done.contains("write /c/1/Makefile 22"))
        }

        @Test("a failed copy, write or mkdir is a warning in the result, and the others still land")
        func failures() {
            let writer = Writer(failing: [RawPath("/c/0/include/a.h"), RawPath("/c/0/security/x/include"), RawPath("/c/1/Makefile")])
            let applied = ClosureLayer.apply(Self.additions, sample: "hello", writer: writer)
            #expect(applied.placed == [RawPath("include/b.h"): RawPath("/c/0/include/b.h")])
            #expect(
                applied.warnings == [
                    "hello: closure could not add include/a.h (cp: cannot stat '/tree/include/a.h'); later rounds ran without it",
                    "hello: closure could not make the directory security/x/include",
                    "hello: closure could not add Makefile (write /c/1/Makefile: No space left on device); later rounds ran without it",
                ])
        }

        @Test("the live writer: cp's own complaint is the warning's reason")
        func liveCopyFailure() throws {
            let work = try Harness.workDirectory("closure-layer")
            defer { try? FileManager.default.removeItem(at: work) }
            let applied = ClosureLayer.apply(
                [.copy(path: RawPath("a.h"), from: RawPath("\(work.path)/absent.h"), at: RawPath("\(work.path)/layer/a.h"))],
                sample: "s", writer: LiveClosureLayerWriter())
            #expect(applied.placed.isEmpty)
            #expect(applied.warnings.count == 1)
            #expect(applied.warnings.first?.contains("absent.h") == true, "\(applied.warnings)")
            #expect(applied.warnings.first?.contains("later rounds ran without it") == true)
        }
    }
}
