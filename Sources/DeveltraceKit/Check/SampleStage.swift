/// What a sample's closure carries from one candidate round to the next.
struct ClosureState {
    /// The reference build and the candidate rounds so far.
    var observation: SampleObservation
    /// Tree paths copied into the closure layers.
    var added = Set<RawPath>()
    /// Where each added tree path lies in the closure layers (copies that
    /// succeeded).
    var closurePlaces: [RawPath: RawPath] = [:]
    var failedRounds = Set<Int>()
    var differingRounds = Set<Int>()
    /// Rebuilds made to tell severities apart (`SeverityExperiment`).
    var rebuilds = 0
    /// Rebuilds made with system packages hidden (`holdOutPackages`).
    var dependencyRebuilds = 0
    /// What went wrong without stopping the sample (a failed copy).
    var warnings: [String] = []
}

/// Where one sample is in its builds. A sample's reference build and its
/// first candidate round run side by side, in either order; closure rounds
/// follow one at a time. `transition` is the whole protocol, pure; the
/// check runner executes its commands.
enum SampleStage {
    /// Neither the reference build nor the first candidate round has ended.
    case started
    /// The first candidate round ended before the reference build: its
    /// result, or why it could not run.
    case candidateFirst(Result<SampleBuildResult, any Error>)
    /// The reference build succeeded; a candidate round is being built.
    case awaitingRound(ClosureState)
    /// A closure step is running (it holds the state).
    case closing
    /// Nothing more to build: broken (the reference build failed) or
    /// classified.
    case done(SampleOutcome)

    enum Event {
        case referenceBuilt(SampleObservation)
        case candidateBuilt(Result<SampleBuildResult, any Error>)
        /// The closure step queued the next round.
        case nextRound(ClosureState)
        case classified(SampleOutcome)
    }

    enum Command {
        /// Compare, then add what is missing or classify.
        case closureStep(SampleBuildResult, ClosureState)
        /// A candidate round could not run, for a sample known to be good.
        case fail(any Error)
    }

    /// A transition the protocol has no place for (a defect).
    struct UnexpectedEvent: Error, CustomStringConvertible {
        var description: String
    }

    var isDone: Bool {
        if case .done = self { return true }
        return false
    }

    /// The next stage and what to do. Before the reference build is known,
    /// the sample may turn out to be broken, which matters more than why a
    /// candidate round could not run; once it is broken, candidate results
    /// go nowhere.
    static func transition(_ stage: SampleStage, _ event: Event) -> (SampleStage, Command?) {
        switch (stage, event) {
        case (.started, .referenceBuilt(let observation)):
            guard observation.reference.status.isSuccess else { return (.done(.broken(observation)), nil) }
            return (.awaitingRound(ClosureState(observation: observation)), nil)
        case (.started, .candidateBuilt(let result)):
            return (.candidateFirst(result), nil)
        case (.candidateFirst(let result), .referenceBuilt(let observation)):
            guard observation.reference.status.isSuccess else { return (.done(.broken(observation)), nil) }
            return (.closing, command(for: result, state: ClosureState(observation: observation)))
        case (.awaitingRound(let state), .candidateBuilt(let result)):
            return (.closing, command(for: result, state: state))
        case (.done, .candidateBuilt):
            return (stage, nil)
        case (.closing, .nextRound(let state)):
            return (.awaitingRound(state), nil)
        case (.closing, .classified(let outcome)):
            return (.done(outcome), nil)
        default:
            return (stage, .fail(UnexpectedEvent(description: "sample stage \(stage.name) got \(event.name)")))
        }
    }

    private static func command(for result: Result<SampleBuildResult, any Error>, state: ClosureState) -> Command {
        switch result {
        case .success(let build): return .closureStep(build, state)
        case .failure(let error): return .fail(error)
        }
    }

    var name: String {
        switch self {
        case .started: return "started"
        case .candidateFirst: return "candidate-first"
        case .awaitingRound: return "awaiting-round"
        case .closing: return "closing"
        case .done: return "done"
        }
    }
}

extension SampleStage.Event {
    var name: String {
        switch self {
        case .referenceBuilt: return "reference-built"
        case .candidateBuilt: return "candidate-built"
        case .nextRound: return "next-round"
        case .classified: return "classified"
        }
    }
}

extension SampleOutcome {
    /// A sample whose reference build failed: no candidate rounds, no
    /// findings.
    static func broken(_ observation: SampleObservation) -> SampleOutcome {
        SampleOutcome(observation: observation, findings: [], treeFilesUsed: [], candidateUsed: [])
    }
}
