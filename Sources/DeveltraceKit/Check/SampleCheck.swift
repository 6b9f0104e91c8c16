import Foundation

/// One sample's progress through its builds: its stage (`SampleStage`),
/// changed only through `BuildQueue.send`, under the queue's lock (the
/// sample has none of its own).
final class SampleCheck: @unchecked Sendable {
    let sample: Sample
    let scratch: RawPath
    /// Read and written only under `BuildQueue`'s lock.
    fileprivate(set) var stage = SampleStage.started

    /// What its reference build is recorded under, when recording is on.
    let referenceKey: String?
    /// Every DKMS sample of the run (`SampleBuild.neighbours`).
    let neighbours: [Sample]
    /// The queue priority of every build of this sample: its place in the
    /// build order (`BuildOrder`), so that a sample's next build (its
    /// candidate beside its reference, its next closure round) goes before
    /// those of samples queued after it.
    let priority: Int

    init(sample: Sample, scratch: RawPath, neighbours: [Sample] = [], referenceKey: String? = nil, priority: Int = 0) {
        self.sample = sample
        self.priority = priority
        self.scratch = scratch
        self.neighbours = neighbours
        self.referenceKey = referenceKey
    }

    /// Moves the sample on; returns what to do next. Only `BuildQueue.send`
    /// calls it, holding the queue's lock.
    func apply(_ event: SampleStage.Event) -> SampleStage.Command? {
        let (next, command) = SampleStage.transition(stage, event)
        stage = next
        return command
    }
}

/// What checking one sample gave.
struct SampleOutcome {
    var observation: SampleObservation
    var findings: [Finding]
    /// Tree files the reference build used.
    var treeFilesUsed: [String]
    /// Tree paths the candidate builds used.
    var candidateUsed: Set<RawPath>
    /// Rebuilds made to tell severities apart (`SeverityExperiment`).
    var rebuilds = 0
    /// Rebuilds made with system packages hidden.
    var dependencyRebuilds = 0
    /// What went wrong without stopping the sample (a failed closure copy).
    var warnings: [String] = []
    /// Host files the candidate builds used that no package owns.
    var unownedHostFiles: Set<RawPath> = []
    /// Where the candidate holds each of `candidateUsed`
    /// (`CheckRunner.candidateFiles`), found while other builds run.
    var candidateFiles: [String: [CheckResult.CandidateFile]] = [:]
}
