/// `develtrace merge`: the results of the N shards of one run (`check
/// --shard K/N`, same command line otherwise) combined into the result an
/// unsharded run gives.
public enum ShardMerge {
    /// `parts`: each shard's result with the file it came from (for
    /// messages). The gate is the shards' unless `gate` is given; a
    /// `baseline` given here replaces the shards' comparison.
    public static func merge(
        _ parts: [(file: String, result: CheckResult)], gate: Gate? = nil, baseline: Baseline? = nil
    ) throws(InputError) -> CheckResult {
        guard let first = parts.first else { throw .badShards("no shard results given") }
        for part in parts where part.result.shard == nil {
            throw .badShards("\(part.file) is not the result of a shard (run `develtrace check --shard K/N`)")
        }
        let count = first.result.shard!.count
        var seen: [Int: String] = [:]
        for part in parts {
            let shard = part.result.shard!
            if shard.count != count {
                throw .badShards("\(part.file) is shard \(shard.index)/\(shard.count) but \(first.file) is one of \(count)")
            }
            if let other = seen[shard.index] { throw .badShards("\(other) and \(part.file) are both shard \(shard.index)/\(count)") }
            seen[shard.index] = part.file
            if part.result.develtraceVersion != first.result.develtraceVersion {
                throw .badShards(
                    "\(part.file) was made by develtrace \(part.result.develtraceVersion), \(first.file) by \(first.result.develtraceVersion)"
                )
            }
            if let field = differingInput(part.result.inputs, first.result.inputs) {
                throw .badShards("\(part.file) and \(first.file) checked different inputs (\(field)): not shards of one run")
            }
        }
        let absent = (1...count).filter { seen[$0] == nil }
        if !absent.isEmpty {
            throw .badShards("shard\(absent.count == 1 ? "" : "s") \(absent.map { "\($0)/\(count)" }.joined(separator: ", ")) missing")
        }

        let results = parts.map(\.result).sorted { $0.shard!.index < $1.shard!.index }
        var merged = first.result
        merged.shard = nil
        // A shard without DKMS samples did not ask for dkms.
        merged.inputs.dkms = results.lazy.compactMap(\.inputs.dkms).first
        var warnings: [String] = []
        for warning in results.flatMap(\.warnings) where !warnings.contains(warning) { warnings.append(warning) }
        merged.warnings = warnings
        merged.samples = results.flatMap(\.samples).sorted { ($0.name, $0.directory) < ($1.name, $1.directory) }

        // What any shard's samples used, and the host files none owns.
        if results.contains(where: { $0.candidateFiles != nil }) {
            merged.candidateFiles = results.reduce(into: [:]) { files, result in
                files.merge(result.candidateFiles ?? [:]) { first, _ in first }
            }
        }
        if results.contains(where: { $0.hostFilesNotOwned != nil }) {
            merged.hostFilesNotOwned = Set(results.flatMap { $0.hostFilesNotOwned ?? [] }).sorted()
        }
        // A candidate file is unused when no shard's samples used it.
        var unused = Set(results[0].shard!.unusedPaths)
        for result in results.dropFirst() { unused.formIntersection(result.shard!.unusedPaths) }
        merged.unusedFiles = unused.count
        var findings = FindingMerge.merge(
            results.map { $0.findings.filter { $0.class != .unused } }, sampleOrder: merged.samples.map(\.name))
        let listedUnused = results.map { Set($0.findings.filter { $0.class == .unused }.map(\.path)) }
        if let firstListed = listedUnused.first, !firstListed.isEmpty {
            let everywhere = listedUnused.dropFirst().reduce(firstListed) { $0.intersection($1) }
            findings += results[0].findings.filter { $0.class == .unused && everywhere.contains($0.path) }
            findings.sort { ($0.class, $0.path) < ($1.class, $1.path) }
        }

        if let baseline {
            for index in findings.indices { findings[index].baseline = nil }
            merged.baseline = nil
            merged.findings = findings
            merged.summary = FindingMerge.summary(findings)
            merged.evaluate(gate: gate ?? first.result.recordedGate, baseline: baseline)
            return merged
        }
        // The shards' own baseline comparison: fixed everywhere is fixed.
        if var outcome = results[0].baseline {
            for result in results.dropFirst() {
                let fixed = Set(result.baseline?.fixed ?? [])
                outcome.fixed = outcome.fixed.filter { fixed.contains($0) }
            }
            merged.baseline = outcome
        }
        merged.findings = findings
        merged.summary = FindingMerge.summary(findings)
        merged.evaluate(gate: gate ?? first.result.recordedGate, baseline: nil)
        return merged
    }

    /// The first input that differs between two shards, or nil.
    static func differingInput(_ a: CheckResult.Inputs, _ b: CheckResult.Inputs) -> String? {
        if a.buildTree != b.buildTree || a.sourceTree != b.sourceTree { return "build tree" }
        if a.kernelRelease != b.kernelRelease { return "kernel release" }
        if a.candidates != b.candidates || a.packages != b.packages { return "candidate" }
        if a.kbuildDir != b.kbuildDir || a.layout != b.layout || a.roots != b.roots { return "kbuild dir" }
        if a.command != b.command { return "command line" }
        if a.compiler != b.compiler { return "compiler" }
        if a.dkms != b.dkms, a.dkms != nil, b.dkms != nil { return "dkms" }
        return nil
    }
}
