import Foundation

/// Closure's helpers: what it restores and where, and the record of a
/// classification for the tests that replay it.
extension CheckRunner {
    /// What closure restores for a split package's missing object-tree
    /// `Makefile`: the wrapper kbuild writes into an `O=` tree
    /// (`scripts/mkmakefile`), including the source half's. Nil for any
    /// other file, or a single-directory candidate (the kernel's own then).
    static func objectTreeMakefile(for path: RawPath, probe: RawPath, layout: CandidateLayout) -> String? {
        guard path == RawPath("Makefile"), let wrapper = layout.objectTreeMakefile, probe.resolvingDotDot() == wrapper,
            let source = layout.sourceRoots.first
        else { return nil }
        return "include \(source)/Makefile\n"
    }

    /// The kin (`ClosurePolicy.kin`) of files a round newly probed that the
    /// candidate lacks, as tree paths, each with the sandbox path closure
    /// gives it: the directory of the probe that brought it.
    static func kin(of fresh: Set<RawPath>, needs: Classifier.Needs, classifier: Classifier) -> [RawPath: RawPath] {
        var result: [RawPath: RawPath] = [:]
        for path in fresh.sorted() {
            guard let probe = needs.candidateProbed[path]?.first?.access.path, let directory = classifier.tree.hostPath(of: path.parent)
            else { continue }
            var names: [RawPath] = []
            try? DirectoryWalk.walk(directory) { entry in
                if !entry.isDirectory { names.append(entry.relativePath) }
                return false
            }
            for name in ClosurePolicy.kin(of: path.lastComponent, among: names) {
                let relative = path.parent.isEmpty ? name : path.parent.appending(name)
                guard result[relative] == nil, !classifier.candidateHas(relative) else { continue }
                result[relative] = probe.parent.appending(name)
            }
        }
        return result
    }

    /// Writes `observation`'s classification record (`ClassificationRecord`)
    /// into `directory`; a record that cannot be written is a warning.
    func record(
        _ observation: SampleObservation, classifier: Classifier, state: ClosureState, scratch: RawPath, in directory: RawPath
    ) {
        let record = ClassificationRecord(
            observation: observation, classifier: classifier, failedRounds: state.failedRounds, differingRounds: state.differingRounds)
        func real(_ path: String) -> RawPath { RawPath(URL(fileURLWithPath: path).standardizedFileURL.path) }
        var placeholders = [(real(options.buildTree), "/@tree"), (scratch, "/@scratch"), (observation.sample.path, "/@sample")]
        if let source = options.sourceTree { placeholders.append((real(source), "/@source")) }
        for (index, candidate) in options.candidates.enumerated() { placeholders.append((real(candidate), "/@candidate\(index)")) }
        let file = directory.appending(RawPath("\(observation.sample.name).json"))
        do {
            try FileSystem.makeDirectories(directory)
            try record.encoded(placeholders: placeholders).write(to: URL(fileURLWithPath: file.description))
        } catch {
            progress("\(observation.sample.name): cannot write \(file): \(error)")
        }
    }
}
