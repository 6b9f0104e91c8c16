import Foundation
import Testing

@testable import DeveltraceKit

extension Machine.CheckCommandLine {
    /// Five samples (copies of the mini module; one also reads a header no
    /// other sample reads) against a candidate without `include/linux/mini.h`.
    static func shardWork() throws -> (work: URL, base: [String]) {
        let work = try Self.work()
        let tree = work.appendingPathComponent("full")
        let candidate = work.appendingPathComponent("candidate")
        #expect(try Harness.runProcess(["/bin/cp", "-a", MiniKernel.tree.path, tree.path]) == 0)
        try "#define DELTA 4\n".write(to: tree.appendingPathComponent("include/linux/delta.h"), atomically: true, encoding: .utf8)
        #expect(try Harness.runProcess(["/bin/cp", "-a", tree.path, candidate.path]) == 0)
        try FileManager.default.removeItem(at: candidate.appendingPathComponent("include/linux/mini.h"))
        // Every run builds its references: the shards' results are compared
        // with the whole's, and reused builds would say so.
        var base = ["check", "--quiet", "--build-tree", tree.path, "--candidate", candidate.path, "--list-unused", "--no-cache"]
        for name in ["echo", "alpha", "delta", "charlie", "bravo"] {
            let directory = work.appendingPathComponent(name)
            #expect(try Harness.runProcess(["/bin/cp", "-a", MiniKernel.module, directory.path]) == 0)
            if name == "delta" {
                let source = directory.appendingPathComponent("hello.c")
                let text = try String(contentsOf: source, encoding: .utf8)
                try ("#include <linux/delta.h>\n" + text.replacingOccurrences(of: "ARCH_WORD", with: "ARCH_WORD + DELTA")).write(
                    to: source, atomically: true, encoding: .utf8)
            }
            base += ["--module", directory.path]
        }
        return (work, base)
    }

    /// The parts of a result that two runs of the same check may not share:
    /// pids and gcc's temporary file names.
    static func normalized(_ data: Data) -> String {
        var text = String(decoding: data, as: UTF8.self)
        text = text.replacingOccurrences(of: #""pid" : [0-9]+"#, with: "\"pid\" : 0", options: .regularExpression)
        text = text.replacingOccurrences(of: #"pid [0-9]+ "#, with: "pid 0 ", options: .regularExpression)
        text = text.replacingOccurrences(of: #"/tmp/cc[A-Za-z0-9]{6}"#, with: "/tmp/ccXXXXXX", options: .regularExpression)
        return text
    }

    @Test("3 shards merged give the unsharded result; incomplete or mixed shards are refused")
    func shards() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Machine.CommandLine.executable), "swift build first")
        let (work, base) = try Self.shardWork()
        defer { try? FileManager.default.removeItem(at: work) }
        let whole = try Machine.CommandLine.run(base + ["--format", "json"], in: work)
        #expect(whole.status == 1, "\(whole.stderr)")
        var shardSamples: [[String]] = []
        for k in 1...3 {
            let run = try Machine.CommandLine.run(base + ["--format", "json", "--shard", "\(k)/3", "-o", "shard-\(k).json"], in: work)
            #expect(run.status == 1, "\(run.stderr)")
            let result = try JSONDecoder().decode(CheckResult.self, from: Data(contentsOf: work.appendingPathComponent("shard-\(k).json")))
            #expect(result.shard?.index == k)
            shardSamples.append(result.samples.map(\.name))
        }
        // Sorted by name and dealt round-robin.
        #expect(shardSamples == [["alpha", "delta"], ["bravo", "echo"], ["charlie"]])

        let merged = try Machine.CommandLine.run(["merge", "shard-3.json", "shard-1.json", "shard-2.json", "--format", "json"], in: work)
        #expect(merged.status == 1, "\(merged.stderr)")
        let expected = Self.normalized(whole.stdout)
        #expect(Self.normalized(merged.stdout) == expected)
        // What makes the comparison worth something.
        let result = try JSONDecoder().decode(CheckResult.self, from: merged.stdout)
        #expect(result.samples.map(\.name) == ["alpha", "bravo", "charlie", "delta", "echo"])
        let missing = try #require(result.findings.first { $0.class == .missing && $0.path == "include/linux/mini.h" })
        #expect(missing.samples.count == 5)
        #expect(Set(missing.evidence.map(\.sample)).count == 5, "evidence from every sample of every shard")
        #expect(missing.evidence.map(\.sample) == missing.evidence.map(\.sample).sorted(), "in sample order")
        #expect(!result.findings.contains { $0.class == .unused && $0.path == "include/linux/delta.h" }, "used in one shard only")
        let shard2 = try JSONDecoder().decode(CheckResult.self, from: Data(contentsOf: work.appendingPathComponent("shard-2.json")))
        #expect(shard2.findings.contains { $0.class == .unused && $0.path == "include/linux/delta.h" }, "unused in shard 2")
        #expect(result.unusedFiles == shard2.unusedFiles - 1)
        // Where the candidate (a directory) holds what the samples used,
        // merged from every shard: delta.h from shard 1's sample only.
        let delta = try #require(result.candidateFiles?["include/linux/delta.h"])
        #expect(delta.count == 1 && delta[0].path.hasSuffix("/include/linux/delta.h") && delta[0].hostPath == delta[0].path)
        #expect(FileManager.default.fileExists(atPath: delta[0].path))
        #expect(shard2.candidateFiles?["include/linux/delta.h"] == nil)

        // Renders like any result.
        try whole.stdout.write(to: work.appendingPathComponent("whole.json"))
        let text = try Machine.CommandLine.run(["merge", "shard-1.json", "shard-2.json", "shard-3.json"], in: work)
        let wholeText = try Machine.CommandLine.run(["report", "whole.json", "--format", "text"], in: work)
        #expect(Self.normalized(text.stdout) == Self.normalized(wholeText.stdout))

        let incomplete = try Machine.CommandLine.run(["merge", "shard-1.json", "shard-3.json"], in: work)
        #expect(incomplete.status == 2)
        #expect(incomplete.stderr.contains("shard 2/3 missing"), "\(incomplete.stderr)")
        let twice = try Machine.CommandLine.run(["merge", "shard-1.json", "shard-1.json", "shard-2.json"], in: work)
        #expect(twice.status == 2)
        #expect(twice.stderr.contains("are both shard 1/3"), "\(twice.stderr)")
        let notShard = try Machine.CommandLine.run(["merge", "whole.json"], in: work)
        #expect(notShard.status == 2)
        #expect(notShard.stderr.contains("whole.json is not the result of a shard"), "\(notShard.stderr)")
        let badShard = try Machine.CommandLine.run(base + ["--shard", "4/3"], in: work)
        #expect(badShard.status == 2)
        #expect(badShard.stderr.contains("--shard 4/3"))
    }

    @Test("--baseline: known findings pass the gate, new ones fail it, vanished ones are fixed")
    func baseline() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Machine.CommandLine.executable), "swift build first")
        let work = try Self.work()
        let broken = try MiniKernel.candidate("cli-baseline", "rm include/linux/mini.h")
        let worse = try MiniKernel.candidate("cli-baseline-worse", "rm include/linux/mini.h scripts/module.lds")
        let clean = try MiniKernel.candidate("cli-baseline-clean", "")
        defer {
            try? FileManager.default.removeItem(at: clean)
            try? FileManager.default.removeItem(at: work)
            try? FileManager.default.removeItem(at: broken)
            try? FileManager.default.removeItem(at: worse)
        }
        let base = ["check", "--quiet", "--build-tree", MiniKernel.tree.path, "--module", MiniKernel.module]
        let old = try Machine.CommandLine.run(base + ["--candidate", broken.path, "--format", "json", "-o", "old.json"], in: work)
        #expect(old.status == 1, "\(old.stderr)")

        let same = try Machine.CommandLine.run(base + ["--candidate", broken.path, "--baseline", "old.json"], in: work)
        #expect(same.status == 0, "the missing header is known: \(same.stderr)")
        #expect(String(decoding: same.stdout, as: UTF8.self).contains("against the baseline old.json: 0 new, 1 known, 0 fixed"))

        let next = try Machine.CommandLine.run(base + ["--candidate", worse.path, "--baseline", "old.json", "--format", "json"], in: work)
        #expect(next.status == 1, "a new missing file fails")
        let result = try JSONDecoder().decode(CheckResult.self, from: next.stdout)
        #expect(result.findings.first { $0.path == "include/linux/mini.h" }?.baseline == .known)
        #expect(result.findings.first { $0.path == "scripts/module.lds" }?.baseline == .new)

        let fixed = try Machine.CommandLine.run(base + ["--candidate", clean.path, "--baseline", "old.json"], in: work)
        #expect(fixed.status == 0)
        let fixedText = String(decoding: fixed.stdout, as: UTF8.self)
        #expect(fixedText.contains("fixed since the baseline (1)\n  missing include/linux/mini.h"), "\(fixedText)")

        try "# known gaps of this package\nmissing include/linux/*.h\nmissing scripts/module.lds\n".write(
            to: work.appendingPathComponent("allow.txt"), atomically: true, encoding: .utf8)
        let allowed = try Machine.CommandLine.run(base + ["--candidate", worse.path, "--baseline", "allow.txt"], in: work)
        #expect(allowed.status == 0, "\(allowed.stderr)")

        try "missng include/linux/mini.h\n".write(to: work.appendingPathComponent("bad.txt"), atomically: true, encoding: .utf8)
        let bad = try Machine.CommandLine.run(base + ["--candidate", worse.path, "--baseline", "bad.txt"], in: work)
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("bad.txt: not a usable baseline: line 1: missng is not a finding class"), "\(bad.stderr)")
    }
}
