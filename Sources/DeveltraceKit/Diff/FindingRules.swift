import Foundation

/// The classifier's rules, one per kind of evidence: what the candidate
/// lacked (`missing`, `relocated`, a `different` file read from elsewhere),
/// what its files held (`different`, `extra`), and what the candidate
/// rounds did (`tree-write`, `unrunnable`, `outside`). Each reads only the
/// `Needs` of the traces and the classifier's `FileFacts`.
extension Classifier {
    /// The findings of one sample; `severity(round)` says how much a round's
    /// outcome made each finding matter. A missing file takes the severity of
    /// the round that lacked it; the other classes that of the last round
    /// that showed them, once closure had restored everything missing (an
    /// extra file did not make a build fail that a missing header broke).
    func findings(of observation: SampleObservation, needs: Needs, severity: (Int) -> Severity) -> [Finding] {
        let lacked = absenceFindings(of: observation, needs: needs, severity: severity)
        return lacked.findings
            + contentFindings(of: observation, needs: needs, relocationTargets: lacked.relocationTargets, severity: severity)
            + observedFindings(of: observation, needs: needs, severity: severity)
    }

    /// `missing`, `relocated`, and `different` for a file the build looked
    /// for here and read, changed, from elsewhere; with the places the
    /// candidate build used instead (which are no `extra`).
    func absenceFindings(of observation: SampleObservation, needs: Needs, severity: (Int) -> Severity) -> (
        findings: [Finding], relocationTargets: Set<RawPath>
    ) {
        let name = observation.sample.name
        let show = { (seen: Seen) in self.evidence(seen, in: observation) }
        var findings: [Finding] = []
        let lastRound = observation.rounds.count
        let absent = absent(needs, upToRound: lastRound)
        var relocationTargets = Set<RawPath>()
        for (path, substitute) in absent {
            let probes = needs.candidateProbed[path] ?? []
            // Which candidate round lacked it: the first that looked for it,
            // or, for a file closure added after a build failed without
            // looking for anything new, the round before the first that used
            // it. A file no candidate round looked for or used is no finding:
            // that build did not need it, or never got far enough to tell.
            let firstUse = needs.candidateUsed[path]?.filter { $0.round > 1 }.map(\.round).min()
            guard let round = probes.map(\.round).min() ?? firstUse.map({ $0 - 1 }) ?? (substitute != nil ? 1 : nil) else { continue }
            var evidence = probes.prefix(3).map(show)
            evidence += (needs.referenceUsed[path] ?? []).prefix(2).map(show)
            // Neither looked for nor used by the reference: a kin closure
            // added, known by the round that used it.
            let kinUse = probes.isEmpty && needs.referenceUsed[path] == nil
            if kinUse { evidence += (needs.candidateUsed[path] ?? []).filter { $0.round > 1 }.prefix(2).map(show) }
            if let substitute {
                relocationTargets.insert(substitute)
                findings.append(
                    Finding(
                        path: path.description, class: .relocated, severity: severity(lastRound), samples: [name], round: round,
                        detail: "the candidate build used \(substitute) (identical content)", evidence: evidence))
            } else if !probes.isEmpty, let stand = standIn(for: path, needs: needs) {
                // Looked for here, read from elsewhere with other content:
                // the package moved the file and changed it.
                relocationTargets.insert(stand.path)
                findings.append(
                    Finding(
                        path: path.description, class: .different, severity: severity(stand.use.round), samples: [name], round: round,
                        detail: "the candidate build used \(stand.path) instead, whose content differs from the full tree's",
                        evidence: evidence + [show(stand.use)]))
            } else {
                findings.append(
                    Finding(
                        path: path.description, class: .missing, severity: severity(round), samples: [name], round: round,
                        detail: kinUse
                            ? "\(name) never looked for it: closure added it beside a file of its kind that a round lacked" : nil,
                        evidence: evidence))
            }
        }
        return (findings, relocationTargets)
    }

    /// `different` (a file the candidate holds at the tree's path with
    /// other content) and `extra` (one the full tree has not).
    func contentFindings(
        of observation: SampleObservation, needs: Needs, relocationTargets: Set<RawPath>, severity: (Int) -> Severity
    ) -> [Finding] {
        let name = observation.sample.name
        let show = { (seen: Seen) in self.evidence(seen, in: observation) }
        var findings: [Finding] = []
        // A split package's object-tree Makefile is kbuild's wrapper, not
        // the kernel's Makefile: it is not compared with the tree's.
        let wrapper = layout.objectTreeMakefile
        for (path, uses) in needs.candidateUsed {
            let made = { (use: Seen) in needs.created.contains(use.access.path) }
            // Programs are compared by whether they run (unrunnable), not by
            // their bytes: two builds of a host tool never match.
            let dataReads = uses.filter {
                $0.access.intent == .read && !made($0) && (wrapper == nil || $0.access.path.resolvingDotDot() != wrapper)
            }
            let reads = uses.filter { ($0.access.intent == .read || $0.access.intent == .exec) && !made($0) }
            guard let first = reads.first else { continue }
            if let treeFile = treeHostPath(of: path), needs.referenceUsed[path] != nil {
                // A program is not data, even when a shell reads it after
                // its exec failed.
                let executed =
                    needs.unrunnable[path] != nil || uses.contains { $0.access.intent == .exec }
                    || needs.referenceUsed[path]!.contains { $0.access.intent == .exec }
                guard !executed, !dataReads.isEmpty, let expected = facts.content(of: treeFile) else { continue }
                var sawSame = false
                var differing: [Seen] = []
                for use in dataReads {
                    guard let file = candidateContentFile(use.access.path), let actual = facts.content(of: file) else { continue }
                    if actual == expected { sawSame = true } else { differing.append(use) }
                }
                if !sawSame, let use = differing.first {
                    findings.append(
                        Finding(
                            path: path.description, class: .different, severity: severity(differing.map(\.round).max() ?? use.round),
                            samples: [name], round: use.round,
                            detail: "content differs from the full tree's", evidence: differing.prefix(3).map(show)))
                }
            } else if !treeContains(path), !relocationTargets.contains(path), isCandidateFile(first.access.path) {
                findings.append(
                    Finding(
                        path: path.description, class: .extra, severity: severity(reads.map(\.round).max() ?? first.round), samples: [name],
                        round: first.round,
                        detail: "the full tree has no such file", evidence: reads.prefix(3).map(show)))
            }
        }
        return findings
    }

    /// `tree-write`, `unrunnable` and `outside`: what candidate rounds did.
    func observedFindings(of observation: SampleObservation, needs: Needs, severity: (Int) -> Severity) -> [Finding] {
        let name = observation.sample.name
        let show = { (seen: Seen) in self.evidence(seen, in: observation) }
        var findings: [Finding] = []
        // Classes seen in candidate rounds: found in the first round that showed
        // them, as severe as the last.
        func observed(_ kind: FindingClass, _ path: RawPath, rounds: [Int], detail: String, evidence: [Seen]) -> Finding {
            Finding(
                path: path.description, class: kind, severity: severity(rounds.max()!), samples: [name], round: rounds.min()!,
                detail: detail, evidence: evidence.prefix(3).map(show))
        }
        for (path, writes) in needs.treeWrites {
            let first = writes.min { $0.round < $1.round }!
            let evidence = writes.compactMap { write in write.access.map { (write.round, $0) } }
            findings.append(observed(.treeWrite, path, rounds: writes.map(\.round), detail: first.detail, evidence: evidence))
        }
        for (path, failures) in needs.unrunnable {
            let first = failures.min { $0.round < $1.round }!
            findings.append(
                observed(
                    .unrunnable, path, rounds: failures.map(\.round), detail: first.detail, evidence: failures.map { ($0.round, $0.access) }
                ))
        }
        for (path, accesses) in needs.outside {
            findings.append(
                observed(.outside, path, rounds: accesses.map(\.round), detail: "the build reached into the full tree", evidence: accesses))
        }
        return findings
    }
}
