import Foundation

/// The classifier's rules: one function per finding class, each reading
/// only the `Needs` of the traces, what the candidate lacked (`Absence`,
/// gathered once for the three classes it decides between) and the
/// classifier's `FileFacts`. `dependency` has its own file
/// (`Classifier+Dependencies`).
extension Classifier {
    /// The findings of one sample; `severity(round)` says how much a round's
    /// outcome made each finding matter. A missing file takes the severity of
    /// the round that lacked it; the other classes that of the last round
    /// that showed them, once closure had restored everything missing (an
    /// extra file did not make a build fail that a missing header broke).
    func findings(of observation: SampleObservation, needs: Needs, severity: (Int) -> Severity) -> [Finding] {
        let absence = absence(in: observation, needs: needs)
        return withoutActuallyEscaping(severity) { severity in
            let rule = RuleInput(
                observation: observation, needs: needs, severity: severity, show: { self.evidence($0, in: observation) })
            return missingFindings(rule, absence) + relocatedFindings(rule, absence) + differentFindings(rule, absence)
                + extraFindings(rule, absence) + treeWriteFindings(rule) + unrunnableFindings(rule) + outsideFindings(rule)
        }
    }

    /// What every rule is given: the sample's builds, what they needed, how
    /// severe each round was, and how an access is shown as evidence.
    struct RuleInput {
        var observation: SampleObservation
        var needs: Needs
        var severity: (Int) -> Severity
        var show: (Seen) -> Evidence
        var name: String { observation.sample.name }
    }

    /// The tree paths the candidate lacked, each with what stood in for it:
    /// decided once, then split by the `missing`, `relocated` and
    /// `different` rules (a lacking path is exactly one of them).
    struct Absence {
        struct Lack {
            var path: RawPath
            /// The candidate round that lacked it.
            var round: Int
            var evidence: [Seen]
            /// Neither looked for nor used by the reference: a kin closure added.
            var kinUse: Bool
            /// A file of identical content the candidate build used instead
            /// (its tree path): `relocated`.
            var substitute: RawPath?
            /// A file of the same name, other content, the candidate build
            /// read instead (only for a path it looked for): `different`.
            var standIn: (path: RawPath, use: Seen)?
        }

        var lacks: [Lack]
        /// The places the candidate build used instead (which are no `extra`).
        var relocationTargets: Set<RawPath> {
            Set(lacks.compactMap { $0.substitute ?? $0.standIn?.path })
        }
    }

    /// What the candidate lacked, up to the sample's last round.
    func absence(in observation: SampleObservation, needs: Needs) -> Absence {
        var lacks: [Absence.Lack] = []
        for (path, substitute) in absent(needs, upToRound: observation.rounds.count) {
            let probes = needs.candidateProbed[path] ?? []
            // Which candidate round lacked it: the first that looked for it,
            // or, for a file closure added after a build failed without
            // looking for anything new, the round before the first that used
            // it. A file no candidate round looked for or used is no finding:
            // that build did not need it, or never got far enough to tell.
            let firstUse = needs.candidateUsed[path]?.filter { $0.round > 1 }.map(\.round).min()
            guard let round = probes.map(\.round).min() ?? firstUse.map({ $0 - 1 }) ?? (substitute != nil ? 1 : nil) else { continue }
            var evidence = Array(probes.prefix(3))
            evidence += (needs.referenceUsed[path] ?? []).prefix(2)
            let kinUse = probes.isEmpty && needs.referenceUsed[path] == nil
            if kinUse { evidence += (needs.candidateUsed[path] ?? []).filter { $0.round > 1 }.prefix(2) }
            let standIn = substitute == nil && !probes.isEmpty ? standIn(for: path, needs: needs) : nil
            lacks.append(
                Absence.Lack(path: path, round: round, evidence: evidence, kinUse: kinUse, substitute: substitute, standIn: standIn))
        }
        return Absence(lacks: lacks)
    }

    /// `missing`: a tree file a build needed that the candidate lacks, with
    /// nothing standing in for it.
    func missingFindings(_ rule: RuleInput, _ absence: Absence) -> [Finding] {
        absence.lacks.filter { $0.substitute == nil && $0.standIn == nil }.map { lack in
            Finding(
                path: lack.path.description, class: .missing, severity: rule.severity(lack.round), samples: [rule.name],
                round: lack.round,
                detail: lack.kinUse
                    ? "\(rule.name) never looked for it: closure added it beside a file of its kind that a round lacked" : nil,
                evidence: lack.evidence.map(rule.show))
        }
    }

    /// `relocated`: the candidate has the file, identical, at another path,
    /// and the build used it there.
    func relocatedFindings(_ rule: RuleInput, _ absence: Absence) -> [Finding] {
        absence.lacks.compactMap { lack in
            guard let substitute = lack.substitute else { return nil }
            return Finding(
                path: lack.path.description, class: .relocated, severity: rule.severity(rule.observation.rounds.count),
                samples: [rule.name], round: lack.round, detail: "the candidate build used \(substitute) (identical content)",
                evidence: lack.evidence.map(rule.show))
        }
    }

    /// `different`: a file the candidate holds at the tree's path with other
    /// content; or one the build looked for here and read, changed, from
    /// elsewhere (the package moved the file and changed it).
    func differentFindings(_ rule: RuleInput, _ absence: Absence) -> [Finding] {
        var findings = absence.lacks.compactMap { lack -> Finding? in
            guard let stand = lack.standIn else { return nil }
            return Finding(
                path: lack.path.description, class: .different, severity: rule.severity(stand.use.round), samples: [rule.name],
                round: lack.round, detail: "the candidate build used \(stand.path) instead, whose content differs from the full tree's",
                evidence: (lack.evidence + [stand.use]).map(rule.show))
        }
        let needs = rule.needs
        // A split package's object-tree Makefile is kbuild's wrapper, not
        // the kernel's Makefile: it is not compared with the tree's.
        let wrapper = layout.objectTreeMakefile
        for (path, uses) in needs.candidateUsed {
            guard let referenceUses = needs.referenceUsed[path], let treeFile = treeHostPath(of: path) else { continue }
            // Programs are compared by whether they run (unrunnable), not by
            // their bytes: two builds of a host tool never match. A program
            // is not data, even when a shell reads it after its exec failed.
            let executed =
                needs.unrunnable[path] != nil || uses.contains { $0.access.intent == .exec }
                || referenceUses.contains { $0.access.intent == .exec }
            let dataReads = uses.filter {
                $0.access.intent == .read && !needs.created.contains($0.access.path)
                    && (wrapper == nil || $0.access.path.resolvingDotDot() != wrapper)
            }
            guard !executed, !dataReads.isEmpty, let expected = facts.content(of: treeFile) else { continue }
            var sawSame = false
            var differing: [Seen] = []
            for use in dataReads {
                guard let file = candidateContentFile(use.access.path), let actual = facts.content(of: file) else { continue }
                if actual == expected { sawSame = true } else { differing.append(use) }
            }
            if !sawSame, !differing.isEmpty {
                findings.append(finding(.different, path, shownBy: differing, detail: "content differs from the full tree's", rule))
            }
        }
        return findings
    }

    /// `extra`: a candidate file the build read or ran that the full tree
    /// has not (and that stood in for no file it lacked).
    func extraFindings(_ rule: RuleInput, _ absence: Absence) -> [Finding] {
        let needs = rule.needs
        let targets = absence.relocationTargets
        var findings: [Finding] = []
        for (path, uses) in needs.candidateUsed {
            let reads = uses.filter {
                ($0.access.intent == .read || $0.access.intent == .exec) && !needs.created.contains($0.access.path)
            }
            guard let first = reads.first, !treeContains(path), !targets.contains(path), isCandidateFile(first.access.path)
            else { continue }
            findings.append(finding(.extra, path, shownBy: reads, detail: "the full tree has no such file", rule))
        }
        return findings
    }

    /// A finding the accesses `uses` (not empty, in trace order) show: found
    /// in the first one's round, as severe as the last round among them.
    private func finding(_ kind: FindingClass, _ path: RawPath, shownBy uses: [Seen], detail: String, _ rule: RuleInput) -> Finding {
        Finding(
            path: path.description, class: kind, severity: rule.severity(uses.map(\.round).max()!), samples: [rule.name],
            round: uses[0].round, detail: detail, evidence: uses.prefix(3).map(rule.show))
    }

    /// Classes seen in candidate rounds: found in the first round that
    /// showed them, as severe as the last.
    private func observed(
        _ kind: FindingClass, _ path: RawPath, rounds: [Int], detail: String, evidence: [Seen], _ rule: RuleInput
    ) -> Finding {
        Finding(
            path: path.description, class: kind, severity: rule.severity(rounds.max()!), samples: [rule.name], round: rounds.min()!,
            detail: detail, evidence: evidence.prefix(3).map(rule.show))
    }

    /// `tree-write`: a candidate round created or changed a file of the
    /// kernel tree (a package file, not the module's own directory).
    func treeWriteFindings(_ rule: RuleInput) -> [Finding] {
        rule.needs.treeWrites.map { path, writes in
            let first = writes.min { $0.round < $1.round }!
            let evidence = writes.compactMap { write in write.access.map { (write.round, $0) } }
            return observed(.treeWrite, path, rounds: writes.map(\.round), detail: first.detail, evidence: evidence, rule)
        }
    }

    /// `unrunnable`: a program of the candidate that could not run here.
    func unrunnableFindings(_ rule: RuleInput) -> [Finding] {
        rule.needs.unrunnable.map { path, failures in
            let first = failures.min { $0.round < $1.round }!
            return observed(
                .unrunnable, path, rounds: failures.map(\.round), detail: first.detail,
                evidence: failures.map { ($0.round, $0.access) }, rule)
        }
    }

    /// `outside`: a candidate build reached into the full tree (hidden from
    /// it), so its result would not say what the candidate holds.
    func outsideFindings(_ rule: RuleInput) -> [Finding] {
        rule.needs.outside.map { path, accesses in
            observed(
                .outside, path, rounds: accesses.map(\.round), detail: "the build reached into the full tree", evidence: accesses, rule)
        }
    }

    /// `unused` (informational, with `--list-unused`): the candidate's files
    /// (tree paths) that no sample used, sorted.
    static func unusedFindings(candidateFiles: Set<RawPath>, used: Set<RawPath>) -> [Finding] {
        candidateFiles.subtracting(used).sorted().map { path in
            Finding(
                path: path.description, class: .unused, severity: .benign, samples: [], round: 0, detail: "no sample used it",
                evidence: [])
        }
    }
}
