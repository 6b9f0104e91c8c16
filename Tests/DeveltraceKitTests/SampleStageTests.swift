import Foundation
import Testing

@testable import DeveltraceKit

extension Unit {
    /// The protocol of a sample's builds, without building anything.
    @Suite struct SampleStages {
        struct Broke: Error {}

        static func build(_ status: SampleBuildResult.Status) -> SampleBuildResult {
            let outcome = TraceOutcome(
                accesses: [], processes: [:], exitStatus: status == .succeeded ? 0 : 2, termination: .completed, writes: [], notes: [],
                launchFailure: nil, commandPid: 1,
                statistics: TraceStatistics(seccompStops: 0, syscallExitStops: 0, otherStops: 0, seconds: 0))
            return SampleBuildResult(
                status: status, outcome: outcome, moduleCopy: RawPath("/s/copy"), moduleInSandbox: RawPath("/b"), log: "", modules: [:])
        }

        static func observation(_ status: SampleBuildResult.Status) throws -> SampleObservation {
            let sample = try Sample(directory: Harness.fixtures.appendingPathComponent("minikernel-modules/hello").path)
            return SampleObservation(sample: sample, reference: build(status), rounds: [], comparisons: [])
        }

        @Test("a trace's notes become the sample's warnings, named by build; none without notes")
        func traceWarnings() throws {
            var observation = try Self.observation(.succeeded)
            #expect(observation.traceWarnings.isEmpty)
            observation.rounds = [Self.build(.failed(exitStatus: 2)), Self.build(.succeeded)]
            observation.reference.outcome.notes = ["the in-kernel recorder lost 3 calls: its ring buffer was full"]
            observation.rounds[1].outcome.notes = ["the in-kernel recorder had no room for 1 tasks"]
            #expect(
                observation.traceWarnings == [
                    "hello: reference build: the in-kernel recorder lost 3 calls: its ring buffer was full",
                    "hello: candidate round 2: the in-kernel recorder had no room for 1 tasks",
                ])
            #expect(observation.withoutTraces().traceWarnings == observation.traceWarnings, "kept once the traces are dropped")
        }

        @Test("reference first, then the candidate round: on to closure with the round")
        func referenceFirst() throws {
            var (stage, command) = SampleStage.transition(.started, .referenceBuilt(try Self.observation(.succeeded)))
            #expect(stage.name == "awaiting-round")
            #expect(command == nil)
            (stage, command) = SampleStage.transition(stage, .candidateBuilt(.success(Self.build(.failed(exitStatus: 2)))))
            #expect(stage.name == "closing")
            guard case .closureStep(let round, let state) = command else {
                Issue.record("expected a closure step, got \(String(describing: command))")
                return
            }
            #expect(round.status == .failed(exitStatus: 2))
            #expect(state.observation.rounds.isEmpty && state.added.isEmpty)
        }

        @Test("candidate round first: parked until the reference is known; a good reference releases it")
        func candidateFirst() throws {
            var (stage, command) = SampleStage.transition(.started, .candidateBuilt(.success(Self.build(.succeeded))))
            #expect(stage.name == "candidate-first")
            #expect(command == nil)
            (stage, command) = SampleStage.transition(stage, .referenceBuilt(try Self.observation(.succeeded)))
            #expect(stage.name == "closing")
            if case .closureStep = command {} else { Issue.record("expected a closure step") }
        }

        @Test("a broken sample: done at once, and a candidate result, even an error, goes nowhere")
        func broken() throws {
            let (parked, _) = SampleStage.transition(.started, .candidateBuilt(.failure(Broke())))
            var (stage, command) = SampleStage.transition(parked, .referenceBuilt(try Self.observation(.failed(exitStatus: 2))))
            #expect(stage.isDone)
            #expect(command == nil, "the broken sample matters more than why its candidate could not run")
            (stage, command) = SampleStage.transition(.started, .referenceBuilt(try Self.observation(.timedOut)))
            #expect(stage.isDone)
            (stage, command) = SampleStage.transition(stage, .candidateBuilt(.success(Self.build(.succeeded))))
            #expect(stage.isDone)
            #expect(command == nil)
        }

        @Test("a candidate round that could not run fails the check once the sample is known to be good")
        func candidateError() throws {
            let (parked, _) = SampleStage.transition(.started, .candidateBuilt(.failure(Broke())))
            let (_, command) = SampleStage.transition(parked, .referenceBuilt(try Self.observation(.succeeded)))
            guard case .fail(let error) = command else {
                Issue.record("expected the error back")
                return
            }
            #expect(error is Broke)
        }

        @Test("closure goes round and ends classified; events out of order are a defect, not ignored")
        func rounds() throws {
            let observation = try Self.observation(.succeeded)
            let state = ClosureState(observation: observation)
            var (stage, command) = SampleStage.transition(.closing, .nextRound(state))
            #expect(stage.name == "awaiting-round")
            #expect(command == nil)
            (stage, _) = SampleStage.transition(stage, .candidateBuilt(.success(Self.build(.succeeded))))
            (stage, command) = SampleStage.transition(stage, .classified(.broken(observation)))
            #expect(stage.isDone)
            for (from, event) in [
                (SampleStage.started, SampleStage.Event.nextRound(state)), (.closing, .candidateBuilt(.success(Self.build(.succeeded)))),
                (.awaitingRound(state), .referenceBuilt(observation)), (.done(.broken(observation)), .referenceBuilt(observation)),
            ] {
                let (after, command) = SampleStage.transition(from, event)
                #expect(after.name == from.name)
                if case .fail(let error) = command {
                    #expect("\(error)".contains(event.name))
                } else {
                    Issue.record("\(from.name) + \(event.name) must be a defect")
                }
            }
        }
    }
}
