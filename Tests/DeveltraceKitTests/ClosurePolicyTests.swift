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
